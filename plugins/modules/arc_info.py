#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: arc_info
short_description: Read Azure Arc-enabled servers and wait for their Defender for Endpoint extension
version_added: 0.2.0
description:
  - Reads, for one or many Azure Arc-enabled servers (C(Microsoft.HybridCompute/machines)), the machine's Arc
    status (status, last status change, agent version, operating system, error details, provisioning state,
    location, tags) and its extensions (name, publisher, type, handler version, provisioning state and the
    status of the instance view).
  - Tells for each machine whether the Defender for Endpoint extension that Defender for Cloud deploys on Arc
    machines (R-72, R-73) is there and C(Succeeded) - C(MDE.Windows) on Windows, C(MDE.Linux) on Linux, publisher
    C(Microsoft.Azure.AzureDefenderForServers).
  - With O(wait_for_mde_extension=true), waits a bounded time for that extension and fails with one sentence per
    machine saying where it is stuck - C(Failed) with the extension's message, still C(Creating) or C(Updating)
    at the timeout, never appeared (then check the Defender for Servers plan and its Defender for Endpoint
    integration), or the machine itself missing or not connected.
  - A machine that does not exist is returned with RV(machines[].exists=false), not a failure, unless
    O(fail_on_missing=true).
  - Sends GET requests only; never changes anything. Reading needs the Reader role (or Azure Connected Machine
    Resource Administrator) on the machines' resource group or subscription.
  - Runs on the controller (C(localhost)) with azure-identity and azure-mgmt-hybridcompute.
options:
  resource_group:
    description:
      - Resource group of the machines of O(names), in the subscription O(subscription_id).
    type: str
  names:
    description:
      - Names of Arc machines in O(resource_group) (the resource name C(azcmagent connect) gave, by default
        the server's host name).
    type: list
    elements: str
    aliases: [name]
    default: []
  resource_ids:
    description:
      - ARM ids of Arc machines,
        C(/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.HybridCompute/machines/<name>); each is
        read in the subscription its id names, with the same credential.
      - Can be combined with O(names); a machine given twice is read once.
    type: list
    elements: str
    default: []
  include_extensions:
    description:
      - Read each machine's extensions (one more request per machine). Without them RV(machines[].extensions) is
        empty and RV(machines[].mde_extension) says C(missing).
    type: bool
    default: true
  wait_for_mde_extension:
    description:
      - Wait until the Defender for Endpoint extension of every machine is C(Succeeded), polling every
        O(wait_interval) seconds for at most O(wait_timeout) seconds.
      - The wait ends early for a machine whose extension is C(Succeeded) or C(Failed) (a failed deployment does
        not mend itself while the task waits). The module fails when any machine's extension is not
        C(Succeeded) at the end, with one sentence per machine; RV(machines) is returned all the same.
      - Defender for Cloud deploys the extension on its own schedule, which can take much longer than a task
        should wait right after a plan or the integration is turned on; a wait that runs out is not final, run
        the task again later.
    type: bool
    default: false
  wait_timeout:
    description:
      - Longest wait in seconds for O(wait_for_mde_extension). C(0) reads once. The last round of requests,
        started before the timeout, may end after it.
    type: int
    default: 1800
  wait_interval:
    description:
      - Seconds between two reads while waiting (at least 1).
    type: int
    default: 30
  fail_on_missing:
    description:
      - Fail when a machine does not exist, instead of returning it with RV(machines[].exists=false).
    type: bool
    default: false
extends_documentation_fragment:
  - defender.endpoint.azure_auth
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads; in check mode it reads and waits the same way.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: [posix]
requirements:
  - azure-mgmt-hybridcompute >= 9.0.0
notes:
  - The Python that runs the module also needs azure-mgmt-hybridcompute (the collection's C(requirements.txt)).
  - Connecting servers to Azure Arc is done on the servers with the Connected Machine agent (C(azcmagent connect));
    this module only reads what Azure knows of them.
seealso:
  - module: defender.endpoint.defender_for_cloud_info
  - module: defender.endpoint.defender_for_cloud
author:
  - defender.endpoint maintainers (@defender-endpoint)
"""

EXAMPLES = r"""
- name: Read the Arc status and extensions of two on-premises servers
  defender.endpoint.arc_info:
    resource_group: arc-servers
    names: [web-01, db-01]
    client_id: "{{ azure_client_id }}"
    secret: "{{ azure_secret }}"
    tenant: "{{ azure_tenant }}"
    subscription_id: "{{ azure_subscription_id }}"
  delegate_to: localhost
  register: arc

- name: Show the machines whose Defender for Endpoint extension is not there yet
  ansible.builtin.debug:
    msg: "{{ arc.machines | rejectattr('mde_extension.ready') | map(attribute='name') | list }}"

- name: Wait up to 30 minutes for Defender for Cloud to deploy MDE.Windows / MDE.Linux
  defender.endpoint.arc_info:
    resource_ids:
      - "/subscriptions/{{ azure_subscription_id }}/resourceGroups/arc-servers/providers/\
        Microsoft.HybridCompute/machines/web-01"
    wait_for_mde_extension: true
    wait_timeout: 1800
    wait_interval: 60
  delegate_to: localhost
"""

RETURN = r"""
machines:
  description: One item per machine asked for, in the order asked (a machine given twice once).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The machine's resource name.
      type: str
      sample: web-01
    resource_group:
      description: Its resource group.
      type: str
      sample: arc-servers
    subscription_id:
      description: Its subscription.
      type: str
      sample: 20ff7fc3-e762-44dd-bd96-b71116dcdc23
    id:
      description: Its ARM resource id.
      type: str
      sample: "/subscriptions/20ff7fc3-e762-44dd-bd96-b71116dcdc23/resourceGroups/arc-servers/providers/\
        Microsoft.HybridCompute/machines/web-01"
    exists:
      description: Whether Azure knows the machine. The other fields are empty when it does not.
      type: bool
      sample: true
    status:
      description: The Arc agent's status as Azure sees it, C(Connected), C(Disconnected), C(Error) or
        C(Expired) (C(null) when the service gives none).
      type: str
      sample: Connected
    last_status_change:
      description: When the status last changed (ISO 8601).
      type: str
      sample: "2026-11-30T08:12:41.352000+00:00"
    agent_version:
      description: Version of the Connected Machine agent.
      type: str
      sample: 1.58.03228.2572
    os_name:
      description: Operating system platform as the agent reports it.
      type: str
      sample: windows
    os_type:
      description: Operating system type, C(windows) or C(linux); decides which MDE extension is expected.
      type: str
      sample: windows
    os_sku:
      description: Operating system product.
      type: str
      sample: Windows Server 2019 Datacenter
    os_version:
      description: Operating system version.
      type: str
      sample: 10.0.17763.6414
    provisioning_state:
      description: The machine resource's provisioning state.
      type: str
      sample: Succeeded
    error_details:
      description: The agent's errors as Azure reports them, each with C(code) and C(message).
      type: list
      elements: dict
      sample: []
    location:
      description: Azure region of the machine resource.
      type: str
      sample: westeurope
    tags:
      description: The machine resource's tags.
      type: dict
      sample: {environment: production}
    extensions:
      description: The machine's extensions with C(name), C(publisher), C(type), C(type_handler_version),
        C(provisioning_state) and C(status) (the instance view's C(code), C(level), C(display_status),
        C(message), C(time), or C(null)). Extension settings are never returned.
      type: list
      elements: dict
      sample:
        - name: MDE.Windows
          publisher: Microsoft.Azure.AzureDefenderForServers
          type: MDE.Windows
          type_handler_version: 1.0.10.2
          provisioning_state: Succeeded
          status: {code: success, level: Information, display_status: Provisioning succeeded,
                   message: Onboarded to Microsoft Defender for Endpoint, time: "2026-11-30T09:02:11+00:00"}
    mde_extension:
      description:
        - The Defender for Endpoint extension the machine needs - C(type) (C(MDE.Windows), C(MDE.Linux), or
          C(null) while the OS type is unknown), C(publisher), C(present), C(name), C(provisioning_state),
          C(type_handler_version), C(message) (the instance view's) and C(ready) (present and C(Succeeded)).
        - C(state) is C(succeeded), C(failed), C(pending) (C(Creating), C(Updating)... - Defender for Cloud is
          deploying it), C(missing) (not on the machine) or C(no_machine) (the machine does not exist).
      type: dict
      sample: {type: MDE.Windows, publisher: Microsoft.Azure.AzureDefenderForServers, present: true,
               name: MDE.Windows, provisioning_state: Succeeded, type_handler_version: 1.0.10.2,
               message: Onboarded to Microsoft Defender for Endpoint, state: succeeded, ready: true}
mde_extension_ready:
  description: Whether every machine's Defender for Endpoint extension is there and C(Succeeded).
  returned: always
  type: bool
  sample: true
polls:
  description: How many times the machines were read (1 without O(wait_for_mde_extension)).
  returned: always
  type: int
  sample: 3
waited:
  description: Seconds spent reading and waiting.
  returned: always
  type: float
  sample: 61.4
requests:
  description: How many ARM requests the task sent (GETs only).
  returned: always
  type: dict
  sample: {GET: 4}
auth:
  description: How the module signed in (never the secret).
  returned: success
  type: dict
  sample: {auth_source: credential, cloud_environment: AzureCloud}
"""

import copy
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.defender.endpoint.plugins.module_utils import azure_auth
from ansible_collections.defender.endpoint.plugins.module_utils._arc import (
    MACHINE_ID, ArcError, Session, stuck_sentence, targets, wait_for_mde)


def _check(params):
    """Argument checks on the arguments as given, before any request."""
    if params["wait_timeout"] < 0:
        raise ArcError("wait_timeout must be 0 or more seconds (got {0})".format(params["wait_timeout"]))
    if params["wait_interval"] < 1:
        raise ArcError("wait_interval must be at least 1 second (got {0})".format(params["wait_interval"]))
    if params["wait_for_mde_extension"] and not params["include_extensions"]:
        raise ArcError("wait_for_mde_extension reads the extensions: it cannot be used with include_extensions "
                       "false")


def _summary(sentences, total, what="have no Succeeded Defender for Endpoint extension"):
    if len(sentences) == 1:
        return sentences[0]
    return "{0} of {1} Arc machines {2}: {3}".format(len(sentences), total, what, "; ".join(sentences))


def main():
    spec = copy.deepcopy(azure_auth.AZURE_AUTH_ARGSPEC)
    spec.update(resource_group={"type": "str"},
                names={"type": "list", "elements": "str", "aliases": ["name"], "default": []},
                resource_ids={"type": "list", "elements": "str", "default": []},
                include_extensions={"type": "bool", "default": True},
                wait_for_mde_extension={"type": "bool", "default": False},
                wait_timeout={"type": "int", "default": 1800},
                wait_interval={"type": "int", "default": 30},
                fail_on_missing={"type": "bool", "default": False})
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    params = dict(module.params)
    result = {"changed": False, "machines": [], "mde_extension_ready": False, "polls": 0, "waited": 0.0,
              "requests": {"GET": 0}}
    session, start = None, time.monotonic()
    try:
        _check(params)
        if not params["names"] and not params["subscription_id"] and params["resource_ids"]:
            match = MACHINE_ID.match(params["resource_ids"][0] or "")
            params["subscription_id"] = match.group("sub") if match else None
        auth = azure_auth.resolve(params)
        wanted = targets(auth["subscription_id"], params["resource_group"], params["names"], params["resource_ids"])
        session = Session(auth)
        result["auth"] = azure_auth.public(auth)

        def read(target):
            return session.read(target, params["include_extensions"])

        if params["wait_for_mde_extension"]:
            views, polls, waited, sentences = wait_for_mde(read, wanted, params["wait_timeout"],
                                                           params["wait_interval"])
        else:
            views = [read(t) for t in wanted]
            polls, waited = 1, time.monotonic() - start
            sentences = []
        result.update(machines=views, polls=polls, waited=round(waited, 1), requests=dict(session.requests),
                      mde_extension_ready=all(v["mde_extension"]["ready"] for v in views))
        missing = [v for v in views if not v["exists"]]
        if params["fail_on_missing"] and missing:
            # Without a wait there was no "still not after" to tell: the read time is not a wait.
            raise ArcError(_summary([stuck_sentence(v, waited if params["wait_for_mde_extension"] else 0)
                                     for v in missing], len(views), "do not exist"))
        if sentences:
            raise ArcError(_summary(sentences, len(views)))
    except (azure_auth.AzureAuthError, ArcError) as exc:
        if session is not None:
            result["requests"] = dict(session.requests)
        module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
