#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: defender_passive_mode
short_description: Put Microsoft Defender Antivirus in passive mode, or take it out, on a Windows or Linux host
version_added: 0.1.0
description:
  - Sets the C(ForceDefenderPassiveMode) policy value (REG_DWORD under
    C(HKLM\SOFTWARE\Policies\Microsoft\Windows Advanced Threat Protection)) to 1 for O(enabled=true)
    (R-30) or to 0 for O(enabled=false) when it was 1 (R-31). Defender Antivirus does not switch
    to passive mode by itself when another product is installed.
  - One remote execution when the value is already right, two when it changes.
  - The running mode can only be confirmed while the Sense service runs (R-30). When it runs, the
    module verifies C(AMRunningMode) and fails if it does not follow the value; when it does not run,
    it warns that the mode is confirmed after onboarding.
  - With tamper protection on, a device already in active mode stays active; the module warns
    instead of failing.
  - Leaving passive mode while a third-party anti-malware product is detected is refused (two
    real-time engines side by side), unless O(force=true).
  - On Linux hosts, sets C(antivirusEngine.enforcementLevel) to C(passive) or C(real_time) in the
    managed configuration C(/etc/opt/microsoft/mdatp/managed/mdatp_managed.json) (other keys kept),
    and verifies C(passive_mode_enabled) in C(mdatp health). A process holding a fanotify watch
    counts as a third-party product.
options:
  enabled:
    description:
      - V(true) for passive mode, V(false) for active (normal) mode.
    type: bool
    required: true
  force:
    description:
      - Leave passive mode even though a third-party anti-malware product is detected.
      - Applies to O(enabled=false) only; refused with O(enabled=true).
    type: bool
    default: false
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
  diff_mode:
    support: full
  platform:
    support: full
    platforms: [windows, posix]
seealso:
  - module: defender.endpoint.mde_onboard
author:
  - defender.endpoint contributors (@defender-endpoint)
"""

EXAMPLES = r"""
- name: Passive mode beside a third-party antivirus, before onboarding (R-14, R-30)
  defender.endpoint.defender_passive_mode:
    enabled: true

- name: Back to active mode once the other product is gone
  defender.endpoint.defender_passive_mode:
    enabled: false
"""

RETURN = r"""
force_passive_mode:
  description: The C(ForceDefenderPassiveMode) value after the task, null when absent.
  returned: Windows hosts
  type: int
  sample: 1
av_running_mode:
  description: Defender Antivirus running mode (C(normal), C(passive), ...), null when unknown.
  returned: always
  type: str
  sample: passive
third_party_av:
  description: Third-party anti-malware services found.
  returned: always
  type: list
  elements: str
  sample: [CSFalconService]
enforcement_level:
  description: C(antivirusEngine.enforcementLevel) of the managed configuration after the task.
  returned: Linux hosts
  type: str
  sample: passive
tamper_protected:
  description: Tamper protection is on.
  returned: Windows hosts
  type: bool
  sample: false
steps:
  description: The step planned (check mode) or run, with its status.
  returned: when the value changes
  type: list
  elements: dict
  sample: [{name: set_passive_mode, description: "set ForceDefenderPassiveMode = 1 (R-30/R-31)", status: ok}]
"""
