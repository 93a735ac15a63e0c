#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: defender_for_cloud_info
short_description: Read the Defender for Servers plan, Defender for Endpoint integration and vulnerability assessment of subscriptions
version_added: 0.2.0
description:
  - Reads, for one or many Azure subscriptions, what M(defender.endpoint.defender_for_cloud) sets (R-71) - the
    Defender for Servers plan and its extensions, the Defender for Endpoint integration switches (with the Linux
    switch in its user-facing polarity), the vulnerability assessment provider, and the plan of listed machines.
  - Sends GET requests only; never changes anything. Reading needs the Security Reader role or higher (R-74).
  - Runs on the controller (C(localhost)) with azure-identity and azure-mgmt-security.
options:
  subscription_ids:
    description:
      - Subscriptions to read, all with the same credential. Default the one subscription of O(subscription_id)
        (or of the credential source).
    type: list
    elements: str
    default: []
  resources:
    description:
      - ARM ids of machines whose resource-level plan to read; each is read with the subscription it belongs to,
        which must be one of the subscriptions read.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - defender.endpoint.azure_auth
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: [posix]
seealso:
  - module: defender.endpoint.defender_for_cloud
author:
  - defender.endpoint maintainers (@defender-endpoint)
"""

EXAMPLES = r"""
- name: Read the Defender for Cloud settings of two subscriptions
  defender.endpoint.defender_for_cloud_info:
    subscription_ids:
      - "{{ azure_subscription_id }}"
      - "{{ azure_second_subscription_id }}"
    client_id: "{{ azure_client_id }}"
    secret: "{{ azure_secret }}"
    tenant: "{{ azure_tenant }}"
  delegate_to: localhost
  register: dfc_info

- name: Show which subscriptions still lack the integration for Linux
  ansible.builtin.debug:
    msg: "{{ dfc_info.subscriptions | rejectattr('linux') | map(attribute='subscription_id') | list }}"
"""

RETURN = r"""
subscriptions:
  description: One item per subscription read, in the order asked.
  returned: success
  type: list
  elements: dict
  contains:
    subscription_id:
      description: The subscription.
      type: str
      sample: 20ff7fc3-e762-44dd-bd96-b71116dcdc23
    plan:
      description: Defender for Servers plan, C(P1), C(P2) or C(off) (the Free tier).
      type: str
      sample: P2
    pricing_tier:
      description: Pricing tier as the service names it, C(Standard) or C(Free).
      type: str
      sample: Standard
    sub_plan:
      description: Sub-plan as the service returns it (C(null) on Free).
      type: str
      sample: P2
    enforce:
      description: Whether the plan is enforced on every resource below the subscription.
      type: bool
      sample: false
    inherited:
      description: Whether the plan is inherited (resource scope); C(null) at subscription scope.
      type: bool
      sample: null
    inherited_from:
      description: Where an inherited plan comes from.
      type: str
      sample: null
    extensions:
      description: The plan's extensions with C(name), C(enabled), C(properties) and C(operation_status).
      type: list
      elements: dict
      sample:
        - name: AgentlessVmScanning
          enabled: true
          properties: {ExclusionTags: '[{"Key":"TestKey1","Value":"TestValue1"}]'}
          operation_status: null
    mde_integration:
      description: Setting C(WDATP); C(null) when the subscription has no such setting.
      type: bool
      sample: true
    unified_solution:
      description: Setting C(WDATP_UNIFIED_SOLUTION); C(null) when unset.
      type: bool
      sample: true
    linux:
      description: Whether Linux servers are covered, i.e. the opposite of C(WDATP_EXCLUDE_LINUX_PUBLIC_PREVIEW);
        C(null) when unset.
      type: bool
      sample: true
    vulnerability_assessment:
      description: C(mdvm) for Microsoft Defender Vulnerability Management, another provider's name as the
        service spells it, or C(null) when none is selected.
      type: str
      sample: mdvm
    resources:
      description: The machines of O(resources) in this subscription, with C(id), C(plan), C(inherited) and
        C(extensions).
      type: list
      elements: dict
      sample: []
requests:
  description: How many ARM requests of each method the task sent (GETs only).
  returned: success
  type: dict
  sample: {GET: 5, PUT: 0, DELETE: 0}
auth:
  description: How the module signed in (never the secret).
  returned: success
  type: dict
  sample: {auth_source: credential, cloud_environment: AzureCloud}
"""

import copy

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.defender.endpoint.plugins.module_utils import azure_auth
from ansible_collections.defender.endpoint.plugins.module_utils._defender_for_cloud import (
    RESOURCE_ID, DfcError, Session, check_resource_ids)


def main():
    spec = copy.deepcopy(azure_auth.AZURE_AUTH_ARGSPEC)
    spec.update(subscription_ids={"type": "list", "elements": "str", "default": []},
                resources={"type": "list", "elements": "str", "default": []})
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    params = dict(module.params)
    if params["subscription_ids"] and not params["subscription_id"]:
        params["subscription_id"] = params["subscription_ids"][0]
    subscriptions, requests, cred = [], {"GET": 0, "PUT": 0, "DELETE": 0}, None
    try:
        auth = azure_auth.resolve(params)
        wanted = params["subscription_ids"] or [auth["subscription_id"]]
        lowered = [s.lower() for s in wanted]
        for rid in params["resources"]:
            match = RESOURCE_ID.match(rid)
            sub = match.group(1) if match else auth["subscription_id"]
            if sub.lower() not in lowered:
                raise DfcError("resource {0} is in subscription {1}, which subscription_ids does not list".format(
                    rid, sub))
            check_resource_ids([rid], sub)
        for sub in wanted:
            session = Session(dict(auth, subscription_id=sub), cred)
            cred = session.cred
            mine = [r for r in params["resources"] if RESOURCE_ID.match(r).group(1).lower() == sub.lower()]
            state, dummy = session.read(mine)
            subscriptions.append(state)
            for method, count in session.requests.items():
                requests[method] += count
    except (azure_auth.AzureAuthError, DfcError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, subscriptions=subscriptions, requests=requests, auth=azure_auth.public(auth))


if __name__ == "__main__":
    main()
