#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: mde_onboard
short_description: Onboard a Windows or Linux host to Microsoft Defender for Endpoint, verify it, or offboard it
version_added: 0.1.0
description:
  - Takes a Windows host of any supported generation, or a Linux host, to a verified, onboarded state
    (O(state=present)) or offboards it (O(state=absent)), in at most B(two) remote executions -
    one probe, then, only when something must change, one apply that runs every step in order.
    A host already in the wanted state costs one remote execution and reports C(changed=false).
  - C(modern) hosts (Server 2019, 2022, 2025, SAC) run the onboarding package's script (R-22).
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
  - C(linux) hosts (chosen from the connection's shell, so one task serves a mixed fleet) get
    Microsoft's repository for their distribution and O(mdatp_channel) with its signing key (unless
    O(mdatp_repository=false)), the C(mdatp) package (O(mdatp_version) pins it), passive mode and
    the proxy in the managed configuration C(mdatp_managed.json) (C(antivirusEngine.enforcementLevel),
    C(cloudService.proxy)), then C(mdatp_onboard.json) (mode 0600, after removing a stale
    C(mdatp_offboard.json)), and a bounded wait (O(health_timeout)) until C(mdatp health) reports
    C(licensed), the package's C(org_id) and C(healthy) (R-51). Offboarding writes
    C(mdatp_offboard.json) and waits for the licence to go; O(uninstall=true) then removes C(mdatp).
  - On Linux, a process holding a fanotify watch (another real-time anti-malware product) is reported
    before anything is installed, and onboarding is refused unless O(passive_mode=true) or
    O(allow_conflicts=true).
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
        or the C(WindowsDefenderATPOnboardingScript.cmd) inside it (Group Policy or SCCM deployment); for Linux
        hosts the Linux server package (C(MicrosoftDefenderATPOnboardingLinuxServer.py), its zip, or
        C(mdatp_onboard.json)).
      - A list of paths may be given, one per platform; each host takes the one for its platform, so one task
        serves a mixed fleet. Every package is checked before any host is touched.
      - Accepted on Windows - the Group Policy, Configuration Manager and VDI scripts of every version, with
        CRLF, LF or mixed line endings (C(Set /P errorMsg=<file) reads a file and C(timeout) waits; neither is a
        prompt). Refused, each with one sentence before the host is touched - the interactive "Local Script"
        (its C(set /p shouldContinue=) consent prompt, C(GOTO USER_CONSENT), C(pause)), the Intune /
        Configuration Manager C(.onboarding) file (the bare blob), macOS packages, the C(.admx) / C(.adml)
        templates and any file without a signed blob. The full list is in C(docs/packages.md).
      - Required with O(state=present) except for C(downlevel) hosts, where it is optional and used
        only to check the org id.
      - The package's signed blob is a secret; it travels to the host in a no_log argument and is
        never shown.
    type: list
    elements: path
  offboarding_package:
    description:
      - Path on the controller to the offboarding package
        (C(WindowsDefenderATPOffboardingScript_valid_until_YYYY-MM-DD.cmd) or its zip).
      - Required with O(state=absent) when the host is onboarded. An expired package is refused
        before the host is touched, whatever its flavour; a non-expired local offboarding script is refused
        because it ends with C(pause), and so is the Intune C(.offboarding) file.
      - Linux hosts, C(MicrosoftDefenderATPOffboardingLinuxServer_valid_until_YYYY-MM-DD.py).
      - A list of paths may be given, one per platform, as for O(onboarding_package).
      - Refused with O(state=present), as O(onboarding_package) is with O(state=absent).
    type: list
    elements: path
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
      - Before anything is copied or run, its first bytes must show the installer the host needs - an MSI (an OLE
        compound document) for md4ws.msi, a Windows executable (C(MZ)) for the MMA setup - and, with
        O(installer_remote=true), the probe must find the file on the host; else the task fails in one sentence.
      - One path; a list is refused.
    type: path
  installer_remote:
    description:
      - The O(installer) path is on the host, not on the controller. Requires O(installer).
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
        its COM interface, never on a command line. Requires O(workspace_id).
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
        workspace id to remove from the MMA once the unified sensor is onboarded. Refused with O(state=absent).
    type: str
  step_timeout:
    description:
      - Longest time, in seconds, any one step (an installer, a script) may run on the host before it is
        stopped and the task fails; nothing waits longer.
    type: int
    default: 900
  network_protection:
    description:
      - C(unified) hosts (2012 R2, 2016), turn network protection on with the four documented settings
        (C(Set-MpPreference -EnableNetworkProtection Enabled), C(-AllowNetworkProtectionOnWinServer 1),
        C(-AllowNetworkProtectionDownLevel 1), C(-AllowDatagramProcessingOnWinServer 1)), after onboarding (R-42).
      - Off by default; test the performance impact on busy hosts first. V(false) leaves the settings as they are.
    type: bool
    default: false
  intermediate_ca_certificate:
    description:
      - Windows Server 2012 R2, path on the controller to C(InterCA.cer), imported into
        C(Cert:\LocalMachine\Ca) when its thumbprint is not there yet, for sensors that use
        C(TelemetryProxyServer) and cannot reach the CRL as SYSTEM (R-41). Refused while the sensor is older
        than 10.8048.22439.1065 (update it first, KB5005292). Ignored on other versions.
    type: path
  scep_cloud_protection:
    description:
      - C(downlevel) hosts running System Center Endpoint Protection, set its cloud protection membership
        to Advanced (C(SpyNetReporting=2), R-24). Hosts without SCEP are left alone.
    type: bool
    default: false
  allow_conflicts:
    description:
      - Linux hosts, onboard even though another fanotify-based product runs and passive mode is not asked.
    type: bool
    default: false
  mdatp_repository:
    description:
      - Linux hosts, configure Microsoft's repository and signing key before installing C(mdatp). V(false)
        installs from the repositories the host already has (a local mirror).
    type: bool
    default: true
  mdatp_channel:
    description: Linux hosts, the repository channel.
    type: str
    choices: [prod, insiders-fast, insiders-slow]
    default: prod
  mdatp_repository_url:
    description:
      - Linux hosts, base URL of Microsoft's package repository, or of a mirror with the same layout
        (C(config/<distro>/<version>/<channel>.list|.repo) and C(keys/microsoft.asc)).
      - Must be C(https) - the repository's signing key is fetched from the same place - unless
        O(allow_insecure_repository=true).
      - Refused when given with O(mdatp_repository=false).
    type: str
    default: https://packages.microsoft.com
  allow_insecure_repository:
    description:
      - Linux hosts, accept a plain C(http) O(mdatp_repository_url) (a mirror on a network you trust). The
        packages are still checked against the repository's signature by the package manager, but the
        signing key itself then travels unprotected.
    type: bool
    default: false
  mdatp_version:
    description:
      - Linux hosts, the C(mdatp) version to install (installed again when it differs), as the package
        manager prints it (for example C(101.25012.0000)); anything else is refused before the host is touched.
    type: str
  proxy:
    description:
      - Linux hosts, the HTTP(S) proxy mdatp uses to reach the service (C(cloudService.proxy) in the managed
        configuration, R-40); an empty string removes it. Package downloads use the host's own proxy settings.
      - A user and password in the URL (C(http://user:password@proxy.example:3128)) are a secret - shown as
        C(********) in steps, diffs, facts and messages, given to the host only through the executor's no_log
        option - and C(mdatp_managed.json) is then written with mode 0600.
    type: str
  health_timeout:
    description:
      - Linux hosts, longest wait, in seconds, for C(mdatp health) to report the licence, the org and
        C(healthy) (first definitions), or for the licence to go when offboarding.
    type: int
    default: 300
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
  - defender.endpoint.host_action
  - defender.endpoint.assessment
attributes:
  check_mode:
    support: full
    details: One probe; the planned steps are returned in RV(steps) and nothing is changed.
  diff_mode:
    support: full
    details: Before and after views of the managed state, and the planned steps; no secret is shown.
  platform:
    support: full
    platforms: [windows, posix]
notes:
  - The host is never restarted. When a step needs a restart (the Windows-Defender feature, msiexec 3010)
    the remaining steps are not run, RV(reboot_required) is V(true) and the task should be run again after
    a restart (for example with the C(ansible.windows.win_reboot) module, see the examples).
  - A busy Windows Installer (1618) is retried three times, 30 s apart, within the same step.
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

- name: Onboard Linux servers in passive mode through a proxy
  defender.endpoint.mde_onboard:
    onboarding_package: files/MicrosoftDefenderATPOnboardingLinuxServer.py
    passive_mode: true
    proxy: http://proxy.example:3128/

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
  returned: Windows hosts
  type: int
  sample: 1
md4ws_version:
  description: Version of the installed unified solution, null when not installed.
  returned: Windows hosts
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
healthy:
  description: Linux hosts, C(healthy) from C(mdatp health).
  returned: Linux hosts
  type: bool
  sample: true
licensed:
  description: Linux hosts, C(licensed) from C(mdatp health).
  returned: Linux hosts
  type: bool
  sample: true
passive_mode_enabled:
  description: Linux hosts, C(passive_mode_enabled) from C(mdatp health).
  returned: Linux hosts
  type: bool
  sample: true
mdatp_version:
  description: Linux hosts, C(app_version) from C(mdatp health).
  returned: Linux hosts
  type: str
  sample: 101.24082.0004
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
