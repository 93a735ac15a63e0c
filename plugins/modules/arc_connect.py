#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: arc_connect
short_description: Connect a server to Azure Arc (or disconnect it) with the Azure Connected Machine agent
version_added: 0.2.0
description:
  - Takes the Azure Connected Machine agent of a Windows or Linux server to the wanted state, the way on-premises
    servers reach Microsoft Defender for Cloud (R-72) - installed, its proxy set, connected to the machine resource
    asked for (O(state=present)); or disconnected (O(state=absent)).
  - The host's agent is read with C(azcmagent show -j) in the probe; nothing changes when it is already connected to
    the subscription, resource group, tenant, location (and O(resource_name) when given) asked for, and the task
    then costs one remote execution (none beyond mde_info's with O(assessment)).
  - "The access token is obtained B(on the controller), from the sign-in options below (the ones of
    M(defender.endpoint.defender_for_cloud)), and only when a connect or disconnect is to run - never in check mode.
    It reaches the host only inside the executor's no_log arguments; the executor writes it to a configuration file
    readable by administrators only (C(azcmagent connect --config)), deletes the file when the command ends, and
    masks it in every output. It is never on a command line, in a result, in a diff or in a log."
  - A machine connected to another subscription, resource group, tenant, location or name is refused, nothing
    changed, unless O(allow_move=true) - then it is disconnected (its Azure resource is deleted) and connected as
    asked. An agent whose certificate has C(Expired) is disconnected locally and connected again.
  - Azure virtual machines are refused (their SMBIOS asset tag is Azure's, read by the probe); they reach Defender
    for Cloud without Arc (R-72), and the agent does not run on them.
  - The agent's errors become one sentence each, with what to do - C(AZCM0026) network or Private Link,
    C(AZCM0041) credentials, C(AZCM0044) the name exists, C(AZCM0067) already connected, C(AZCM0153) an operating
    system the agent does not support, C(AuthorizationFailed) without the role "Azure Connected Machine Onboarding",
    C(MissingSubscriptionRegistration) when the providers are not registered (docs/azure-arc.md).
  - Whether the agent supports an operating system is the agent's answer, reported as it gives it - no list is
    hard-coded here.
  - Tags are given to the agent at connect only; the agent cannot change the tags of a connected machine (change
    them in Azure).
  - Member of the action group C(group/defender.endpoint.azure), so C(module_defaults) for that group give it the
    sign-in options once, as for M(defender.endpoint.defender_for_cloud) and M(defender.endpoint.arc_info).
  - The sign-in runs inside ansible-playbook's Python (this is an action plugin), so azure-identity must be installed
    there (the collection's requirements.txt), not only in localhost's interpreter.
options:
  state:
    description:
      - C(present) installs the agent when missing and connects the machine; C(absent) disconnects it (deleting its
        Azure resource, with the token) and leaves the agent installed.
    type: str
    choices: [present, absent]
    default: present
  resource_group:
    description:
      - Resource group of the machine resource, in the subscription O(subscription_id). Required with
        O(state=present).
    type: str
  location:
    description:
      - Azure region of the machine resource, for example C(westeurope). Required with O(state=present).
    type: str
  resource_name:
    description:
      - Name of the machine resource. Default the agent's, the host's name; without it any name counts as the same
        machine.
    type: str
  tenant_id:
    description:
      - Microsoft Entra tenant of the subscription (a GUID). Default O(tenant) of the sign-in; needed when the
        sign-in names none (Azure CLI, managed identity).
    type: str
  tags:
    description:
      - Tags of the machine resource, given at connect (text keys and values without commas, keys without C(=)).
    type: dict
  proxy:
    description:
      - Proxy of the agent, C(http://host:port) without credentials (C(azcmagent config set proxy.url)). The empty
        string clears it; left out, the agent's proxy is left as it is.
    type: str
  private_link_scope:
    description:
      - ARM id of an Azure Arc Private Link scope, for machines that reach Azure through Private Link.
    type: str
  correlation_id:
    description:
      - A GUID given to C(azcmagent connect) to follow the onboarding in Azure's logs.
    type: str
  allow_move:
    description:
      - Disconnect a machine connected elsewhere and connect it as asked. Its old Azure resource and extensions are
        deleted by the disconnect.
    type: bool
    default: false
  force_local_only:
    description:
      - With O(state=absent), disconnect on the host only (C(azcmagent disconnect --force-local-only)), for a
        machine whose Azure resource is already gone; no sign-in is made.
    type: bool
    default: false
  installer:
    description:
      - The agent's installer on the controller, copied to the host only when the agent is missing -
        C(AzureConnectedMachineAgent.msi) on Windows (its sha256 and Authenticode signature are checked on the host
        before msiexec runs), the C(azcmagent) C(.deb) or C(.rpm) on Linux.
      - On Linux without it, the package C(azcmagent) is installed from the host's repositories when Microsoft's
        repository is configured (the linux role configures it); on Windows a missing agent without an installer
        is refused before anything changes.
    type: path
  step_timeout:
    description:
      - Seconds each agent command (install, connect, disconnect) may run before it is stopped (at least 30).
    type: int
    default: 600
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - defender.endpoint.host_action
  - defender.endpoint.assessment
  - defender.endpoint.azure_auth
attributes:
  check_mode:
    support: full
    details: Plans from the probe and shows the steps; no sign-in is made and nothing is sent to the host but the probe.
  diff_mode:
    support: full
  platform:
    support: full
    platforms: [windows, linux]
notes:
  - The agent's behaviour is modeled in the collection's lab from Microsoft's documentation; real C(azcmagent) on a
    real host has not been run by the collection's tests (docs/azure-arc.md says what is and is not verified).
seealso:
  - module: defender.endpoint.arc_info
  - module: defender.endpoint.defender_for_cloud
  - module: defender.endpoint.mde_info
author:
  - defender.endpoint contributors (@defender-endpoint)
"""

EXAMPLES = r"""
- name: Connect on-premises servers to Azure Arc, signed in once for the Azure modules
  module_defaults:
    group/defender.endpoint.azure:
      subscription_id: "{{ azure_subscription_id }}"
      client_id: "{{ azure_client_id }}"
      secret: "{{ azure_secret }}"
      tenant: "{{ azure_tenant }}"
  block:
    - name: Read the host once
      defender.endpoint.mde_info:
      register: mde_assessment

    - name: Connect the machine (install the agent first when missing)
      defender.endpoint.arc_connect:
        resource_group: rg-arc-servers
        location: westeurope
        tags: {environment: production}
        installer: "{{ 'files/AzureConnectedMachineAgent.msi' if mde_assessment.host_facts.platform == 'windows'
                       else omit }}"
        assessment: "{{ mde_assessment }}"
      register: arc
      when: not mde_assessment.host_facts.azure_vm

    - name: Wait for Defender for Cloud's Defender for Endpoint extension on the machine
      defender.endpoint.arc_info:
        resource_ids: ["{{ arc.resource_id }}"]
        wait_for_mde_extension: true
        wait_timeout: 900
      delegate_to: localhost
      when: arc.resource_id | default(none)

- name: Disconnect a machine whose Azure resource was deleted already
  defender.endpoint.arc_connect:
    state: absent
    force_local_only: true
"""

RETURN = r"""
arc:
  description: The agent as the host shows it after the task (C(azcmagent show -j)).
  returned: always
  type: dict
  contains:
    installed: {description: The agent is installed., type: bool, returned: always}
    status: {description: "C(Connected), C(Disconnected) or C(Expired); null when the agent is missing.", type: str,
             returned: always}
    resource_id: {description: ARM id of the machine resource; null when not connected., type: str, returned: always}
    resource_name: {description: Name of the machine resource; null when not connected., type: str, returned: always}
    resource_group: {description: Its resource group; null when not connected., type: str, returned: always}
    subscription_id: {description: Its subscription; null when not connected., type: str, returned: always}
    tenant_id: {description: Its tenant; null when not connected., type: str, returned: always}
    location: {description: Its region; null when not connected., type: str, returned: always}
    cloud: {description: The agent's cloud; null when not connected., type: str, returned: always}
    agent_version: {description: The agent's version; null when missing., type: str, returned: always}
    https_proxy: {description: The agent's proxy (credentials shown as ********); null when none., type: str,
                  returned: always}
    error_code: {description: The agent's last error code (C(AZCM...)); null when none., type: str, returned: always}
  sample:
    installed: true
    status: Connected
    resource_id: "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg-arc/providers/\
      Microsoft.HybridCompute/machines/srv01"
    resource_name: srv01
    resource_group: rg-arc
    subscription_id: 00000000-0000-4000-8000-000000000000
    tenant_id: 11111111-1111-4111-8111-111111111111
    location: westeurope
    cloud: AzureCloud
    agent_version: 1.48.02881.1941
    https_proxy: null
    error_code: null
resource_id:
  description:
    - ARM id of the machine resource, for O(defender.endpoint.arc_info#module:resource_ids) of
      M(defender.endpoint.arc_info); null when not connected.
  returned: always
  type: str
azure_vm:
  description: The probe found Azure's SMBIOS asset tag (the host is an Azure virtual machine).
  returned: always
  type: bool
steps:
  description: The steps planned (check mode) or run, with their status; the token is never shown.
  returned: when something changes
  type: list
  elements: dict
  sample: [{name: arc_connect, status: ok,
            description: "azcmagent connect: machine srv01 in resource group rg-arc of subscription ..."}]
failed_step:
  description: The step that failed.
  returned: on a failed step
  type: str
"""
