#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: mde_onboard
short_description: Onboard a Windows host to Microsoft Defender for Endpoint, verify it, or offboard it
version_added: 0.1.0
description:
  - Takes a Windows host of any supported generation to a verified, onboarded state
    (O(state=present)) or offboards it (O(state=absent)), in at most B(two) remote executions -
    one probe, then, only when something must change, one apply that runs every step in order.
    A host already in the wanted state costs one remote execution and reports C(changed=false).
  - C(modern) hosts (Server 2019, 2022, 2025, SAC) run the onboarding package's script (SPEC R-22).
    C(unified) hosts (Server 2012 R2, 2016) get the Windows-Defender feature first where it is
    missing (2016, R-12), then md4ws.msi (R-20, with C(FORCEPASSIVEMODE=1) when passive mode is
    wanted), then the onboarding script (R-21). C(downlevel) hosts (Windows 7 SP1, 8.1, Server
    2008 R2 SP1) get the Microsoft Monitoring Agent and the Defender for Endpoint workspace (R-23,
    R-25). Unsupported operating systems fail before any change with a sentence naming the OS.
  - Missing prerequisites (R-10 to R-13) fail the host before any change, listing every missing
    item and what to do (see M(defender.endpoint.mde_info)).
  - After the steps the host is read back and verified (R-50) - Sense running, C(OnboardingState=1),
    the org id equal to the package's, the antivirus running mode - and the task fails with what
    is missing rather than reporting an unverified host as onboarded.
  - With a third-party anti-malware product detected, passive mode is set before anything is
    installed (R-14, R-30) unless O(passive_mode=false) is asked, which is then refused.
  - Migration (R-70) of a 2012 R2 / 2016 host running the MMA-based sensor is O(state=present)
    with O(installer) and O(remove_mma_workspace) - the unified solution is installed and
    onboarded, then the MDE workspace is removed from the MMA, in that order.
  - O(state=absent) runs the offboarding package's script (R-60) after checking, on the controller,
    that the package has not expired and is for the host's org; with O(uninstall=true) it then
    removes md4ws (only after offboarding succeeded, R-61) or the MMA (R-62).
  - Linux hosts are not handled yet by this version; they fail with a clear message.
options:
  state:
    description:
      - C(present) onboards and verifies; C(absent) offboards.
    type: str
    choices: [present, absent]
    default: present
  onboarding_package:
    description:
      - Path on the controller to the onboarding package, the portal's C(WindowsDefenderATPOnboardingPackage.zip)
        or the C(WindowsDefenderATPOnboardingScript.cmd) inside it (Group Policy or SCCM deployment).
      - The interactive "Local Script" variant is refused (it prompts and pauses).
      - Required with O(state=present) except for C(downlevel) hosts, where it is optional and used
        only to check the org id.
      - The package's signed blob is a secret; it travels to the host in a no_log argument and is
        never shown.
    type: path
  offboarding_package:
    description:
      - Path on the controller to the offboarding package
        (C(WindowsDefenderATPOffboardingScript_valid_until_YYYY-MM-DD.cmd) or its zip).
      - Required with O(state=absent) when the host is onboarded. An expired package is refused
        before the host is touched.
    type: path
  passive_mode:
    description:
      - V(true) sets C(ForceDefenderPassiveMode=1) before install and onboarding (R-30) and verifies that
        Defender Antivirus runs in passive mode once Sense runs; V(false) sets it to 0 when it was 1 (R-31).
      - Unset, passive mode is set when a third-party anti-malware product is detected (R-14) and
        left alone otherwise.
      - Ignored on C(downlevel) hosts, whose antivirus (SCEP or the OS's own) is not governed by this
        value (R-24).
    type: bool
  installer:
    description:
      - C(unified) hosts, path to C(md4ws.msi); C(downlevel) hosts, path to the MMA setup
        (C(MMASetup-AMD64.exe) or C(MMASetup-i386.exe)).
      - A path on the controller, copied to the host only when the install step runs, checked there
        against its sha256 and its Authenticode signature, and deleted afterwards. With
        O(installer_remote=true), a path on the host (or a UNC share it reads), used in place.
      - Use the latest monthly md4ws.msi; the installed version is returned as RV(md4ws_version).
    type: path
  installer_remote:
    description:
      - The O(installer) path is on the host, not on the controller.
    type: bool
    default: false
  workspace_id:
    description:
      - C(downlevel) hosts, the Defender for Endpoint workspace id (R-23) shown in the portal.
      - With O(state=absent) on a C(downlevel) host, the workspace to remove from the MMA (R-62).
    type: str
  workspace_key:
    description:
      - C(downlevel) hosts, the workspace key. Never logged or shown; it is given to the MMA through
        its COM interface, never on a command line.
    type: str
  cloud:
    description:
      - Cloud of the MMA workspace; C(us_government) adds the workspace with cloud type 1 (R-23).
    type: str
    choices: [commercial, us_government]
    default: commercial
  allow_org_change:
    description:
      - A host onboarded to another org is refused unless this is V(true); the message names that org.
      - Microsoft advises offboarding from the old org first (O(state=absent) with that org's package).
    type: bool
    default: false
  uninstall:
    description:
      - With O(state=absent), remove md4ws (C(unified), after offboarding succeeded, R-61) or the
        Microsoft Monitoring Agent (C(downlevel), R-62). Refused while tamper protection is on.
    type: bool
    default: false
  remove_mma_workspace:
    description:
      - With O(state=present) on a C(unified) host migrating from the MMA-based sensor (R-70), the MDE
        workspace id to remove from the MMA once the unified sensor is onboarded.
    type: str
  step_timeout:
    description:
      - Longest time, in seconds, any one step (an installer, a script) may run on the host before it is
        stopped and the task fails; nothing waits longer.
    type: int
    default: 900
  extra_av_services:
    description:
      - Windows service names of third-party anti-malware products to look for, in addition to the
        built-in list (see M(defender.endpoint.mde_info)).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: One probe; the planned steps are returned in RV(steps) and nothing is changed.
  diff_mode:
    support: full
    details: Before and after views of the managed state, and the planned steps; no secret is shown.
  platform:
    support: full
    platforms: [windows]
notes:
  - The host is never restarted. When a step needs a restart (the Windows-Defender feature, msiexec 3010)
    the remaining steps are not run, RV(reboot_required) is V(true) and the task should be run again after
    a restart (for example with M(ansible.windows.win_reboot)).
  - A busy Windows Installer (1618) is retried three times, 30 s apart, within the same step.
  - Behaviour on real Windows hosts is exercised by the documented molecule scenarios; the tests of this
    collection run against a simulated lab modeled on Microsoft's documentation.
seealso:
  - module: defender.endpoint.mde_info
  - module: defender.endpoint.defender_passive_mode
  - module: defender.endpoint.mma_workspace
author:
  - defender.endpoint contributors (@defender-endpoint)
"""

EXAMPLES = r"""
- name: Onboard a Server 2019/2022/2025 host
  defender.endpoint.mde_onboard:
    onboarding_package: files/WindowsDefenderATPOnboardingPackage.zip

- name: Onboard a Server 2012 R2 / 2016 host in passive mode (a third-party antivirus stays active)
  defender.endpoint.mde_onboard:
    onboarding_package: files/WindowsDefenderATPOnboardingPackage.zip
    installer: files/md4ws.msi
    passive_mode: true
  register: mde

- name: Restart when a step needs it, then run again
  ansible.windows.win_reboot:
  when: mde.reboot_required

- name: Onboard a Windows 7 SP1 / 2008 R2 SP1 host through the MMA
  defender.endpoint.mde_onboard:
    installer: files/MMASetup-AMD64.exe
    workspace_id: "{{ mde_workspace_id }}"
    workspace_key: "{{ mde_workspace_key }}"

- name: Migrate a 2016 host from the MMA-based sensor to the unified solution (R-70)
  defender.endpoint.mde_onboard:
    onboarding_package: files/WindowsDefenderATPOnboardingPackage.zip
    installer: files/md4ws.msi
    remove_mma_workspace: "{{ mde_workspace_id }}"

- name: Offboard and remove the unified solution
  defender.endpoint.mde_onboard:
    state: absent
    offboarding_package: files/WindowsDefenderATPOffboardingScript_valid_until_2026-11-29.cmd
    uninstall: true
"""

RETURN = r"""
generation:
  description: The host's path to Defender for Endpoint (see M(defender.endpoint.mde_info)).
  returned: always
  type: str
  sample: unified
os_label:
  description: The operating system, as named in messages.
  returned: always
  type: str
  sample: Windows Server 2016
onboarded:
  description: The sensor runs and reports C(OnboardingState=1).
  returned: when the host was probed
  type: bool
  sample: true
verified:
  description: The read-back state matches what was asked (R-50). Not returned in check mode when steps are planned.
  returned: when the host was probed and nothing failed
  type: bool
  sample: true
org_id:
  description: The org id the host reports, lower case.
  returned: when the host was probed
  type: str
  sample: 00000000-1111-4222-8333-444444444444
av_running_mode:
  description: Defender Antivirus running mode, C(normal), C(passive), C(edr_block), C(sxs_passive), C(not_running), or null.
  returned: when the host was probed
  type: str
  sample: passive
force_passive_mode:
  description: The C(ForceDefenderPassiveMode) value, null when absent.
  returned: when the host was probed
  type: int
  sample: 1
md4ws_version:
  description: Version of the installed unified solution, null when not installed.
  returned: when the host was probed
  type: str
  sample: 10.8760.26100.1000
reboot_required:
  description: A step asked for a restart; the steps after it were not run.
  returned: when the host was probed and no refusal happened
  type: bool
  sample: false
steps:
  description:
    - The steps planned (check mode, status C(planned)) or run (status C(ok), C(failed), C(skipped)),
      with a readable description; never a secret.
  returned: when the host was probed and no refusal happened
  type: list
  elements: dict
  sample:
    - {name: set_passive_mode, description: "set ForceDefenderPassiveMode = 1 (R-30/R-31)", status: ok}
    - {name: install_msi, description: "msiexec /i md4ws.msi /quiet FORCEPASSIVEMODE=1 (R-20)", status: ok, rc: 0, attempts: 1}
    - {name: run_script, description: "run the onboarding script (R-21)", status: ok, rc: 0}
failed_step:
  description: Name of the step that failed.
  returned: when a step failed
  type: str
  sample: install_msi
package:
  description: Public facts of the package used (kind, org id, geo location, expiry, sha256); never its signature.
  returned: when a package was given
  type: dict
  sample: {kind: onboarding, platform: windows, org_id: 00000000-1111-4222-8333-444444444444, datacenter: WestEurope}
"""
