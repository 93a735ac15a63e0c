#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: defender_for_cloud
short_description: Set a subscription's Defender for Servers plan, Defender for Endpoint integration and vulnerability assessment
version_added: 0.2.0
description:
  - Sets, on one Azure subscription, what Microsoft Defender for Cloud needs before servers move to it (R-71) -
    the Defender for Servers plan and its extensions, the Defender for Endpoint integration switches, the
    vulnerability assessment provider, and optionally Plan 1 on single machines.
  - Reads every setting first and changes only those that differ from what the task asks; an option left
    unset is left as it is. Plan extensions are read, merged and written back as a full list, so an extension
    the task does not name is never dropped by a plan change.
  - Refuses, in one sentence and before any change, what the service would refuse - extensions without a plan
    (O(plan=off)), Plan 2 on a single resource, the Linux or unified-solution switches without the integration,
    and the Azure China cloud (R-74).
  - Runs on the controller (C(localhost)) with azure-identity and azure-mgmt-security; it never touches a host.
  - Enabling plans and the integration needs the Security Admin or Owner role on the subscription (R-74).
options:
  plan:
    description:
      - Defender for Servers plan of the subscription (pricing C(VirtualMachines)), C(P1) or C(P2) (pricing tier
        C(Standard) with that sub-plan), or C(off) (pricing tier C(Free)). Unset leaves the plan as it is.
    type: str
    choices: [P1, P2, "off"]
  extensions:
    description:
      - Plan extensions to set by name (for example C(AgentlessVmScanning), C(MdeDesignatedSubscription),
        C(FileIntegrityMonitoring)). Extensions not listed keep their state.
      - Not allowed with O(plan=off) or on a subscription whose plan is off; the Free tier has no extensions.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Extension name, as Defender for Cloud spells it.
        type: str
        required: true
      enabled:
        description: Whether the extension is on.
        type: bool
        default: true
      properties:
        description:
          - Additional extension properties to set (for example C(ExclusionTags)); properties not named keep
            their value.
        type: dict
  mde_integration:
    description:
      - The Defender for Endpoint integration (setting C(WDATP)); Defender for Cloud deploys and onboards the
        Defender for Endpoint sensor on the subscription's servers.
    type: bool
  unified_solution:
    description:
      - The unified solution for Windows Server 2012 R2 and 2016 (setting C(WDATP_UNIFIED_SOLUTION)); matters on
        subscriptions that enabled the integration before the unified solution existed. Needs the integration.
    type: bool
  linux:
    description:
      - Whether the integration covers Linux servers. Defender for Cloud stores the opposite, in the setting
        C(WDATP_EXCLUDE_LINUX_PUBLIC_PREVIEW) (C(true) there means Linux is excluded); this option hides that
        polarity. Needs the integration.
    type: bool
  vulnerability_assessment:
    description:
      - C(mdvm) selects Microsoft Defender Vulnerability Management (provider C(MdeTvm)) for the subscription's
        servers; C(off) removes the provider setting. Unset leaves it as it is.
    type: str
    choices: [mdvm, "off"]
  resources:
    description:
      - ARM ids of machines of this subscription (Azure virtual machines, Arc machines) that get their own
        resource-level plan O(resource_plan).
    type: list
    elements: str
    default: []
  resource_plan:
    description:
      - Plan for each of O(resources). Defender for Cloud offers Plan 1 only at resource level, so C(P2) is
        refused; C(off) excludes the machine (pricing tier C(Free) on the resource).
    type: str
    choices: [P1, P2, "off"]
    default: P1
extends_documentation_fragment:
  - defender.endpoint.azure_auth
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads every setting and reports what would change; sends no PUT or DELETE.
  diff_mode:
    support: full
    details: Before and after of every setting of the subscription.
  platform:
    support: full
    platforms: [posix]
seealso:
  - module: defender.endpoint.defender_for_cloud_info
  - name: Defender for Cloud guide of this collection
    description: docs/defender-for-cloud.md
    link: https://example.invalid/defender.endpoint/docs/defender-for-cloud.md
author:
  - defender.endpoint maintainers (@defender-endpoint)
"""

EXAMPLES = r"""
- name: Defender for Servers Plan 2 with the Defender for Endpoint integration, Linux included, and MDVM
  defender.endpoint.defender_for_cloud:
    subscription_id: "{{ azure_subscription_id }}"
    client_id: "{{ azure_client_id }}"
    secret: "{{ azure_secret }}"
    tenant: "{{ azure_tenant }}"
    plan: P2
    mde_integration: true
    unified_solution: true
    linux: true
    vulnerability_assessment: mdvm
  delegate_to: localhost
  register: dfc

- name: Turn agentless scanning off without touching the other extensions
  defender.endpoint.defender_for_cloud:
    subscription_id: "{{ azure_subscription_id }}"
    client_id: "{{ azure_client_id }}"
    secret: "{{ azure_secret }}"
    tenant: "{{ azure_tenant }}"
    extensions:
      - name: AgentlessVmScanning
        enabled: false
  delegate_to: localhost

- name: Plan 1 on one machine of a subscription that stays on Free
  defender.endpoint.defender_for_cloud:
    subscription_id: "{{ azure_subscription_id }}"
    client_id: "{{ azure_client_id }}"
    secret: "{{ azure_secret }}"
    tenant: "{{ azure_tenant }}"
    resources:
      - "/subscriptions/{{ azure_subscription_id }}/resourceGroups/servers/providers/Microsoft.Compute/virtualMachines/web-01"
    resource_plan: P1
  delegate_to: localhost
"""

RETURN = r"""
subscription_id:
  description: The subscription the module configured.
  returned: always
  type: str
  sample: 20ff7fc3-e762-44dd-bd96-b71116dcdc23
state:
  description:
    - The subscription's settings after the task (in check mode, what they would be).
    - Same keys as each item of RV(defender.endpoint.defender_for_cloud_info#module:subscriptions).
  returned: success
  type: dict
  sample:
    subscription_id: 20ff7fc3-e762-44dd-bd96-b71116dcdc23
    plan: P2
    pricing_tier: Standard
    sub_plan: P2
    enforce: false
    inherited: null
    inherited_from: null
    extensions:
      - name: AgentlessVmScanning
        enabled: true
        properties: {}
        operation_status: null
    mde_integration: true
    unified_solution: true
    linux: true
    vulnerability_assessment: mdvm
    resources: []
changes:
  description: One phrase per setting that changed (or would change in check mode).
  returned: success
  type: list
  elements: str
  sample: ["plan: P1 -> P2", "linux (WDATP_EXCLUDE_LINUX_PUBLIC_PREVIEW=false): false -> true"]
requests:
  description: How many ARM requests of each method the task sent (a converged run or check mode sends GETs only).
  returned: success
  type: dict
  sample: {GET: 5, PUT: 0, DELETE: 0}
auth:
  description: How the module signed in (never the secret).
  returned: success
  type: dict
  sample:
    auth_source: credential
    cloud_environment: AzureCloud
    subscription_id: 20ff7fc3-e762-44dd-bd96-b71116dcdc23
    arm_endpoint: https://management.azure.com
    authority: https://login.microsoftonline.com
    credential_scope: https://management.azure.com/.default
"""

import copy

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.defender.endpoint.plugins.module_utils import azure_auth
from ansible_collections.defender.endpoint.plugins.module_utils._defender_for_cloud import (
    FLAGS, VA_PROVIDERS, DfcError, Session, check_resource_ids, pricing_view)


def _argument_spec():
    spec = copy.deepcopy(azure_auth.AZURE_AUTH_ARGSPEC)
    spec.update(
        plan={"type": "str", "choices": ["P1", "P2", "off"]},
        extensions={"type": "list", "elements": "dict", "default": [], "options": {
            "name": {"type": "str", "required": True},
            "enabled": {"type": "bool", "default": True},
            "properties": {"type": "dict"}}},
        mde_integration={"type": "bool"},
        unified_solution={"type": "bool"},
        linux={"type": "bool"},
        vulnerability_assessment={"type": "str", "choices": ["mdvm", "off"]},
        resources={"type": "list", "elements": "str", "default": []},
        resource_plan={"type": "str", "choices": ["P1", "P2", "off"], "default": "P1"},
    )
    return spec


def refuse_early(params):
    """What the service would refuse, decided from the arguments alone (before any request)."""
    if params["extensions"] and params["plan"] == "off":
        return ("extensions {0} need a Defender for Servers plan, and plan off (the Free tier) has no extensions; "
                "choose plan P1 or P2, or remove extensions").format(", ".join(e["name"] for e in params["extensions"]))
    if params["resources"] and params["resource_plan"] == "P2":
        return ("resource_plan P2 is refused: Defender for Cloud offers Plan 1 only at resource level; "
                "use resource_plan P1, or plan P2 on the whole subscription")
    wanted = [k for k in ("unified_solution", "linux") if params[k]]
    if wanted and params["mde_integration"] is False:
        return "{0} needs the Defender for Endpoint integration, which the task turns off (mde_integration: false)".format(
            " and ".join(wanted))
    names = [e["name"].lower() for e in params["extensions"]]
    if len(names) != len(set(names)):
        return "extensions name the same extension twice: " + ", ".join(e["name"] for e in params["extensions"])
    return None


def _merged_extensions(models, current, wanted):
    """The full extension list to PUT: every current extension, with the task's ones applied on top."""
    by_name = {e.name.lower(): e for e in (current.extensions or [])}
    result = []
    for ext in current.extensions or []:
        result.append(models.Extension(name=ext.name, is_enabled=ext.is_enabled,
                                       additional_extension_properties=ext.additional_extension_properties))
    for want in wanted:
        props = dict((by_name.get(want["name"].lower()) and by_name[want["name"].lower()]
                      .additional_extension_properties) or {})
        props.update(want["properties"] or {})
        new = models.Extension(name=want["name"], is_enabled="True" if want["enabled"] else "False",
                               additional_extension_properties=props or None)
        index = next((i for i, e in enumerate(result) if e.name.lower() == want["name"].lower()), None)
        if index is None:
            result.append(new)
        else:
            new.name = result[index].name
            result[index] = new
    return result


def _extension_changes(view, wanted):
    current = {e["name"].lower(): e for e in view["extensions"]}
    changes = []
    for want in wanted:
        have = current.get(want["name"].lower())
        props = want["properties"] or {}
        if have is None:
            changes.append("extension {0}: absent -> {1}".format(want["name"], "on" if want["enabled"] else "off"))
        elif have["enabled"] != want["enabled"]:
            changes.append("extension {0}: {1} -> {2}".format(
                want["name"], "on" if have["enabled"] else "off", "on" if want["enabled"] else "off"))
        elif any(have["properties"].get(k) != v for k, v in props.items()):
            changes.append("extension {0}: properties {1} changed".format(want["name"], ", ".join(sorted(props))))
    return changes


def _shown(value):
    return "unset" if value is None else str(value).lower()


class Planner:
    """Compares the read state with the task and writes what differs (nothing in check mode)."""

    def __init__(self, module, session, before, raw):
        self.module, self.session, self.before, self.raw = module, session, before, raw
        self.after = copy.deepcopy(before)
        self.changes = []
        self.failed_extensions = []

    def _write(self, func, *args):
        return None if self.module.check_mode else func(*args)

    def refuse(self, params):
        """What the service would refuse given the current state: decided after the reads, before any write."""
        if params["extensions"] and (params["plan"] or self.before["plan"]) == "off":
            raise DfcError("extensions {0} need a Defender for Servers plan, but subscription {1} is on the Free "
                           "tier (plan off); set plan P1 or P2 in the same task".format(
                               ", ".join(e["name"] for e in params["extensions"]), self.session.sub))
        integration = params["mde_integration"]
        if integration is None:
            integration = self.before["mde_integration"]
        wanted = [k for k in ("unified_solution", "linux") if params[k]]
        if wanted and not integration:
            raise DfcError("{0} needs the Defender for Endpoint integration, which is off on subscription {1}; "
                           "add mde_integration: true".format(" and ".join(wanted), self.session.sub))

    def pricing(self, params):
        current = self.raw["pricing"]
        plan = params["plan"] or self.before["plan"]
        changes = []
        if plan != self.before["plan"]:
            changes.append("plan: {0} -> {1}".format(self.before["plan"], plan))
        changes += _extension_changes(self.before, params["extensions"]) if plan != "off" else []
        if not changes:
            return
        models = self.session.client.pricings.models
        if plan == "off":
            body = models.Pricing(pricing_tier="Free")
        else:
            extensions = _merged_extensions(models, current, params["extensions"])
            body = models.Pricing(pricing_tier="Standard", sub_plan=plan, extensions=extensions or None,
                                  enforce=getattr(current, "enforce", None))
        self.changes += changes
        answer = self._write(self.session.put_pricing, "subscriptions/" + self.session.sub, body)
        view = pricing_view(answer if answer is not None else body)
        for key in ("plan", "pricing_tier", "sub_plan", "enforce", "extensions"):
            self.after[key] = view[key]
        named = {e["name"].lower() for e in params["extensions"]}
        for ext in view["extensions"]:
            status = ext["operation_status"] or {}
            if str(status.get("code", "")).lower() == "failed":
                line = "{0} ({1})".format(ext["name"], status.get("message") or "no message")
                if ext["name"].lower() in named:
                    self.failed_extensions.append(line)
                else:
                    self.module.warn("Defender for Cloud reports extension {0} of subscription {1} as "
                                     "failed".format(line, self.session.sub))

    def flags(self, params):
        for key, name, inverted in FLAGS:
            want = params[key]
            if want is None or want == self.before[key]:
                continue
            stored = (not want) if inverted else want
            self.changes.append("{0}{1}: {2} -> {3}".format(
                key, " ({0}={1})".format(name, str(stored).lower()) if inverted else "", _shown(self.before[key]),
                _shown(want)))
            answer = self._write(self.session.put_flag, name, stored)
            value = getattr(answer, "enabled", stored) if answer is not None else stored
            self.after[key] = (not value) if inverted else value

    def vulnerability_assessment(self, params):
        want = params["vulnerability_assessment"]
        if want is None:
            return
        target = None if want == "off" else want
        if target == self.before["vulnerability_assessment"]:
            return
        self.changes.append("vulnerability_assessment: {0} -> {1}".format(
            self.before["vulnerability_assessment"] or "none", target or "none"))
        self._write(self.session.put_va, VA_PROVIDERS.get(target) if target else None)
        self.after["vulnerability_assessment"] = target

    def resources(self, params):
        models = self.session.client.pricings.models
        want = params["resource_plan"]
        for item in self.after["resources"]:
            if item["plan"] == want and not item["inherited"]:
                continue
            self.changes.append("resource {0}: {1}{2} -> {3}".format(
                item["id"], item["plan"], " (inherited)" if item["inherited"] else "", want))
            body = models.Pricing(pricing_tier="Free") if want == "off" else \
                models.Pricing(pricing_tier="Standard", sub_plan="P1")
            answer = self._write(self.session.put_pricing, item["id"].lstrip("/"), body)
            view = pricing_view(answer) if answer is not None else {"plan": want, "inherited": False,
                                                                    "extensions": item["extensions"]}
            item.update(plan=view["plan"], inherited=view["inherited"], extensions=view["extensions"])


def main():
    module = AnsibleModule(argument_spec=_argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        auth = azure_auth.resolve(params)
        reason = refuse_early(params)
        if reason:
            raise DfcError(reason)
        check_resource_ids(params["resources"], auth["subscription_id"])
        session = Session(auth)
        before, raw = session.read(params["resources"])
        planner = Planner(module, session, before, raw)
        planner.refuse(params)
        planner.pricing(params)
        planner.flags(params)
        planner.vulnerability_assessment(params)
        planner.resources(params)
    except (azure_auth.AzureAuthError, DfcError) as exc:
        module.fail_json(msg=str(exc))
    result = {"changed": bool(planner.changes), "subscription_id": auth["subscription_id"], "state": planner.after,
              "changes": planner.changes, "requests": session.requests, "auth": azure_auth.public(auth)}
    if module._diff:
        result["diff"] = {"before": before, "after": planner.after}
    if planner.failed_extensions:
        module.fail_json(msg="the plan of subscription {0} was written, but Defender for Cloud reports extension "
                             "{1} as failed".format(auth["subscription_id"], "; ".join(planner.failed_extensions)),
                         **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
