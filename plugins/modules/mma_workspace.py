#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: mma_workspace
short_description: Add or remove a Log Analytics workspace of the Microsoft Monitoring Agent on a Windows host
version_added: 0.1.0
description:
  - Adds (O(state=present)) or removes (O(state=absent)) a workspace through the agent's COM object
    C(AgentConfigManager.MgmtSvcCfg) - C(AddCloudWorkspace), C(RemoveCloudWorkspace), then
    C(ReloadConfiguration) (R-23, R-25, R-62).
  - The Defender for Endpoint workspace on the MMA is how C(downlevel) hosts are onboarded, and removing
    it is how they (and MMA-based 2012 R2/2016 hosts) are offboarded.
  - Fails with a clear message when the MMA is not installed.
  - Always warns that the MMA was retired on 31 August 2024, and names the migration path.
  - One remote execution when nothing changes, two otherwise.
options:
  workspace_id:
    description: The workspace id.
    type: str
    required: true
  workspace_key:
    description:
      - The workspace key; required with O(state=present). Never logged or shown.
    type: str
  state:
    description: Whether the workspace is configured.
    type: str
    choices: [present, absent]
    default: present
  cloud:
    description: C(us_government) adds the workspace with cloud type 1.
    type: str
    choices: [commercial, us_government]
    default: commercial
  proxy_url:
    description:
      - Proxy (C(host:port)) for the agent, set with C(SetProxyInfo) when the workspace is added or
        reconfigured. Agents too old to have C(SetProxyInfo) are refused with a message.
      - The agent's current proxy cannot be read back, so it is only set together with an add.
    type: str
  proxy_username:
    description: Proxy user name. Requires O(proxy_url); refused with O(state=absent), as are O(workspace_key),
      O(proxy_url) and O(proxy_password).
    type: str
  proxy_password:
    description: Proxy password; never logged or shown. Requires O(proxy_username).
    type: str
  reconfigure:
    description:
      - Remove and add the workspace again with the given key (and proxy), for a key rotation. The key
        of a configured workspace cannot be read, so this reports C(changed) on every run.
    type: bool
    default: false
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
    platforms: [windows]
seealso:
  - module: defender.endpoint.mde_onboard
author:
  - defender.endpoint contributors (@defender-endpoint)
"""

EXAMPLES = r"""
- name: Make sure the MMA reports to the Defender for Endpoint workspace
  defender.endpoint.mma_workspace:
    workspace_id: "{{ mde_workspace_id }}"
    workspace_key: "{{ mde_workspace_key }}"

- name: Remove the MDE workspace after a migration to the unified solution (R-62, R-70)
  defender.endpoint.mma_workspace:
    workspace_id: "{{ mde_workspace_id }}"
    state: absent
"""

RETURN = r"""
workspaces:
  description: Workspace ids configured in the MMA after the task, lower case.
  returned: when the MMA is installed
  type: list
  elements: str
  sample: [11111111-2222-4333-8444-555555555555]
steps:
  description: The steps planned (check mode) or run, with their status; the key is never shown.
  returned: when something changes
  type: list
  elements: dict
  sample: [{name: add_mma_workspace, description: "add workspace 1111... to the MMA, key ********, reload (R-23/R-25)", status: ok}]
"""
