#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: mde_detection_test
short_description: Run Microsoft's detection test on an onboarded Windows or Linux host
version_added: 0.1.0
description:
  - Runs the optional detection test of R-52 on a host that is onboarded. Refused when the host is not
    onboarded. Reports C(changed) every time it runs (it is a test, not a state); the playbooks run it only
    when asked (C(mde_detection_test=true) in C(playbooks/verify.yml)).
  - B(Windows) - creates C(C:\test-MDATP-test) and starts the documented PowerShell command line (a download from
    C(http://127.0.0.1/1.exe) that fails on purpose); the Defender portal then shows the alert
    C(Suspicious PowerShell command line) (Informational) for the device within minutes. The command runs
    without C(-NoExit), so that no hidden PowerShell window stays behind; the alert comes from the command line,
    not from the window. The Linux options are ignored.
  - B(Linux) - the antivirus test, without any download - writes the standard EICAR test string to a temporary
    file under C(/tmp) (mode 0644), polls C(mdatp threat list --output json) every 2 seconds, for at most
    O(timeout) seconds, until a detection names that file, always deletes the file, and reports RV(detected).
    The task fails when real-time protection is on and mdatp did not report the file in time.
    When passive mode is on or real-time protection is off, mdatp cannot detect the file - the antivirus test
    is skipped with a message saying so, and the task does not fail.
  - B(Linux) - with O(edr_script), the controller-side copy of Microsoft's C(mde_linux_edr_diy) script is copied
    to the host, run with C(bash) for at most O(edr_timeout) seconds and deleted; the Defender portal then shows
    the alert C(Enumeration of files with sensitive data) (Low) for the device.
  - One probe and one apply execution per host.
options:
  timeout:
    description: Linux - longest wait, in seconds, for C(mdatp threat list) to report the EICAR test file.
    type: int
    default: 60
  edr_script:
    description:
      - Linux - path, on the controller, of Microsoft's C(mde_linux_edr_diy) script (the C(.sh) inside the zip
        Microsoft publishes). Without it, only the antivirus test runs.
    type: path
  edr_timeout:
    description: Linux - longest run, in seconds, of O(edr_script) on the host. Refused without O(edr_script).
    type: int
    default: 300
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - defender.endpoint.host_action
attributes:
  check_mode:
    support: full
    details: One probe; nothing runs, the steps are listed.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: [windows, posix]
seealso:
  - module: defender.endpoint.mde_onboard
author:
  - defender.endpoint contributors (@defender-endpoint)
"""

EXAMPLES = r"""
- name: Prove the sensor reports (R-52)
  defender.endpoint.mde_detection_test:

- name: Linux - antivirus test (EICAR, no download), failing when mdatp does not report it within 2 minutes
  defender.endpoint.mde_detection_test:
    timeout: 120
  register: detection

- name: Linux - also run Microsoft's EDR test script, copied from the controller
  defender.endpoint.mde_detection_test:
    edr_script: files/mde_linux_edr_diy.sh
    edr_timeout: 600
"""

RETURN = r"""
expected_alert:
  description: The alert to look for in the Defender portal.
  type: dict
  returned: on Windows, and on Linux with O(edr_script)
  sample: {title: Suspicious PowerShell command line, severity: Informational}
detected:
  description:
    - Linux - whether C(mdatp threat list) reported the EICAR test file within O(timeout); null when the
      antivirus test did not run (passive mode, real-time protection off, or check mode).
  returned: on Linux
  type: bool
  sample: true
av_test:
  description: Linux - C(detected), C(not_detected) or C(skipped) (passive mode or real-time protection off).
  returned: on Linux, when the test ran or was skipped
  type: str
  sample: detected
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
