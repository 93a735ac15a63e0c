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
  - It takes no decision. Generation, prerequisites and plans are computed on the controller.
options:
  operation:
    description: What to do.
    type: str
    required: true
    choices: [probe]
  av_services:
    description: Service names of third-party anti-malware products to look for.
    type: list
    elements: str
    default: []
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
facts:
  description:
    - The host's facts; see the C(host_facts) return of M(defender.endpoint.mde_info) for the keys.
  returned: success
  type: dict
  sample: {"platform": "windows", "os": {"version": "10.0.17763", "build": 17763}}
"""
