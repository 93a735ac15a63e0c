#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: mde_detection_test
short_description: Run Microsoft's detection test on an onboarded Windows host
version_added: 0.1.0
description:
  - Runs the optional detection test of SPEC R-52 on a Windows host that is onboarded - it creates
    C(C:\test-MDATP-test) and starts the documented PowerShell command line (a download from
    C(http://127.0.0.1/1.exe) that fails on purpose); the Defender portal then shows the alert
    C(Suspicious PowerShell command line) (Informational) for the device within minutes.
  - The command runs without C(-NoExit), so that no hidden PowerShell window stays behind; the alert
    comes from the command line, not from the window.
  - Refused when the host is not onboarded. Reports C(changed) every time it runs (it is a test, not a
    state); the playbooks run it only when asked (C(mde_detection_test=true) in C(playbooks/verify.yml)).
  - Linux hosts (Microsoft's C(mde_linux_edr_diy) script) are not handled in this version.
options: {}
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - defender.endpoint.host_action
attributes:
  check_mode:
    support: full
    details: One probe; nothing runs.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: [windows]
seealso:
  - module: defender.endpoint.mde_onboard
author:
  - defender.endpoint contributors (@defender-endpoint)
"""

EXAMPLES = r"""
- name: Prove the sensor reports (R-52)
  defender.endpoint.mde_detection_test:
"""

RETURN = r"""
expected_alert:
  description: The alert to look for in the Defender portal.
  returned: always
  type: dict
  sample: {title: Suspicious PowerShell command line, severity: Informational}
org_id:
  description: The org the alert goes to.
  returned: always
  type: str
  sample: 00000000-1111-4222-8333-444444444444
steps:
  description: The step planned (check mode) or run.
  returned: always
  type: list
  elements: dict
  sample: [{name: detection_test, status: ok}]
"""
