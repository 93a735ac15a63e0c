#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: mde_host
short_description: Internal Windows executor of the defender.endpoint action plugins
version_added: 0.1.0
description:
  - B(Internal use only.) The defender.endpoint action plugins (M(defender.endpoint.mde_info) and the
    modules built on it) run this PowerShell module on Windows hosts. Do not call it from a playbook;
    its interface may change without notice.
  - O(operation=probe) reads, in one remote execution, every fact the controller needs to decide a
    host's path to Defender for Endpoint, and changes nothing.
  - O(operation=apply) runs the planned O(steps) in order, each one a documented command
    (C(ForceDefenderPassiveMode), C(Install-WindowsFeature Windows-Defender), C(msiexec /i) and C(/x)
    with a verbose log and the 1618 retry, the MMA setup, the MMA COM object, the package's C(.cmd)),
    stops at the first failure or after a step that needs a restart when the step says so, deletes
    the O(staged) files, and returns each step's record and the facts read back.
  - It takes no decision. Generation, prerequisites and plans are computed on the controller.
options:
  operation:
    description: What to do.
    type: str
    required: true
    choices: [probe, apply]
  av_services:
    description: Service names of third-party anti-malware products to look for.
    type: list
    elements: str
    default: []
  steps:
    description:
      - With O(operation=apply), the steps, each a dict with C(name) (C(set_passive_mode),
        C(enable_defender_feature), C(install_msi), C(uninstall_msi), C(install_mma), C(add_mma_workspace),
        C(remove_mma_workspace), C(set_mma_proxy), C(run_script)) and its arguments. Steps name keys of
        O(secrets); they never hold a secret.
    type: list
    elements: dict
    default: []
  secrets:
    description: The onboarding or offboarding script, the workspace key, the proxy password, by name.
    type: dict
    default: {}
  staged:
    description: Files the controller copied for this apply; deleted when the steps are done.
    type: list
    elements: str
    default: []
  timeout:
    description: Longest run, in seconds, of any one program a step starts; it is then stopped.
    type: int
    default: 900
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: windows
author:
  - defender.endpoint maintainers (@defender-endpoint)
"""

EXAMPLES = r"""
# Internal module: use defender.endpoint.mde_info instead.
- name: Read the raw facts of a Windows host (what mde_info does for you)
  defender.endpoint.mde_host:
    operation: probe
"""

RETURN = r"""
steps:
  description: With O(operation=apply), one record per step - name, status (ok, failed, skipped), rc, attempts,
    reboot_required, detail, and signature or timed_out when they apply.
  returned: with operation=apply
  type: list
  elements: dict
  sample: [{"name": "install_msi", "status": "ok", "rc": 0, "attempts": 1, "reboot_required": false}]
facts:
  description:
    - The host's facts; see the C(host_facts) return of M(defender.endpoint.mde_info) for the keys.
  returned: success
  type: dict
  sample: {"platform": "windows", "os": {"version": "10.0.17763", "build": 17763}}
"""
