# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Internal use only: read, plan and write a subscription's Defender for Servers settings through azure-mgmt-security.

The SDK's multi-API SecurityCenter client picks each operation group's api-version (pricings 2024-01-01, settings
2022-05-01, serverVulnerabilityAssessmentsSettings 2023-05-01); models come from each group's own `models`.
"""

from __future__ import annotations

import re

from ansible_collections.defender.endpoint.plugins.module_utils import azure_auth, azure_errors

PRICING = "VirtualMachines"          # Defender for Servers
# (result key, setting name, inverted): WDATP_EXCLUDE_LINUX_PUBLIC_PREVIEW enabled=true means Linux is EXCLUDED.
FLAGS = (("mde_integration", "WDATP", False),
         ("unified_solution", "WDATP_UNIFIED_SOLUTION", False),
         ("linux", "WDATP_EXCLUDE_LINUX_PUBLIC_PREVIEW", True))
VA_KIND = "azureServersSetting"
VA_PROVIDERS = {"mdvm": "MdeTvm"}
RESOURCE_ID = re.compile(r"^/?subscriptions/([0-9a-fA-F-]{36})/resourceGroups/[^/]+/providers/[^/]+/[^/]+/[^/]+$")


class DfcError(Exception):
    """One sentence for the user, never holding a secret."""


def truthy(value):
    """Microsoft's payloads carry booleans as strings ("True"/"False") as well as JSON booleans."""
    if value is None or isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def extension_view(ext):
    status = getattr(ext, "operation_status", None)
    return {"name": ext.name, "enabled": truthy(ext.is_enabled),
            "properties": dict(getattr(ext, "additional_extension_properties", None) or {}),
            "operation_status": None if status is None else {"code": status.code, "message": status.message}}


def pricing_view(pricing):
    tier = (pricing.pricing_tier or "Free")
    plan = "off" if tier.lower() == "free" else (pricing.sub_plan or "P2")
    return {"plan": plan, "pricing_tier": tier, "sub_plan": pricing.sub_plan,
            "enforce": truthy(getattr(pricing, "enforce", None)),
            "inherited": truthy(getattr(pricing, "inherited", None)),
            "inherited_from": getattr(pricing, "inherited_from", None),
            "extensions": [extension_view(e) for e in (pricing.extensions or [])]}


class Session:
    """A signed-in SecurityCenter client for one subscription, with every failure mapped to one sentence."""

    def __init__(self, auth, cred=None):
        self.auth = auth
        self.sub = auth["subscription_id"]
        security = azure_auth.import_sdk("azure.mgmt.security")
        self.exceptions = azure_auth.import_sdk("azure.core.exceptions")
        self.cred = cred if cred is not None else azure_auth.signed_in(auth, DfcError)
        self.client = azure_auth.arm_client(security.SecurityCenter, auth, self.cred)
        self.requests = {"GET": 0, "PUT": 0, "DELETE": 0}

    def call(self, method, action, func, *args, missing_ok=False):
        self.requests[method] += 1
        try:
            return func(*args)
        except self.exceptions.HttpResponseError as exc:
            if missing_ok and exc.status_code == 404:
                return None
            raise DfcError(azure_errors.arm_error(exc, action, self.auth)) from None
        except self.exceptions.AzureError as exc:
            if type(exc).__name__ == "ClientAuthenticationError":
                raise DfcError(azure_errors.sign_in_error(exc, self.auth)) from None
            raise DfcError(azure_errors.arm_error(exc, action, self.auth)) from None

    # Reads ----------------------------------------------------------------------------------------------------
    def pricing(self, scope):
        what = "subscription " + self.sub if scope == "subscriptions/" + self.sub else "resource /" + scope
        return self.call("GET", "read the Defender for Servers plan of " + what, self.client.pricings.get, scope,
                         PRICING)

    def read(self, resources=()):
        """The subscription's settings as the modules return them, and the raw SDK objects the writes merge into."""
        raw = {"pricing": self.pricing("subscriptions/" + self.sub), "resources": {}}
        state = {"subscription_id": self.sub, **pricing_view(raw["pricing"])}
        for key, name, inverted in FLAGS:
            setting = self.call("GET", "read the {0} setting of subscription {1}".format(name, self.sub),
                                self.client.settings.get, name, missing_ok=True)
            value = None if setting is None else truthy(getattr(setting, "enabled", None))
            state[key] = (not value if value is not None else None) if inverted else value
        va = self.call("GET", "read the vulnerability assessment setting of subscription " + self.sub,
                       self.client.server_vulnerability_assessments_settings.get, VA_KIND, missing_ok=True)
        provider = getattr(va, "selected_provider", None) if va is not None else None
        state["vulnerability_assessment"] = {v: k for k, v in VA_PROVIDERS.items()}.get(provider, provider)
        state["resources"] = []
        for rid in resources:
            pricing = self.pricing(rid.lstrip("/"))
            raw["resources"][rid] = pricing
            view = pricing_view(pricing)
            state["resources"].append({"id": rid, "plan": view["plan"], "inherited": view["inherited"],
                                       "extensions": view["extensions"]})
        return state, raw

    # Writes ---------------------------------------------------------------------------------------------------
    def put_pricing(self, scope, pricing):
        what = "subscription " + self.sub if scope == "subscriptions/" + self.sub else "resource /" + scope
        return self.call("PUT", "set the Defender for Servers plan of " + what, self.client.pricings.update, scope,
                         PRICING, pricing)

    def put_flag(self, name, enabled):
        model = self.client.settings.models.DataExportSettings(enabled=enabled)
        return self.call("PUT", "set the {0} setting of subscription {1}".format(name, self.sub),
                         self.client.settings.update, name, model)

    def put_va(self, provider):
        ops = self.client.server_vulnerability_assessments_settings
        action = "set the vulnerability assessment provider of subscription " + self.sub
        if provider is None:
            return self.call("DELETE", action, ops.delete, VA_KIND)
        return self.call("PUT", action, ops.create_or_update, VA_KIND,
                         ops.models.AzureServersSetting(selected_provider=provider))


def check_resource_ids(resources, sub):
    """Resource ids for resource-level plans: full ARM ids of machines in the subscription being configured."""
    for rid in resources:
        match = RESOURCE_ID.match(rid)
        if not match:
            raise DfcError("resource {0} is not an ARM resource id like /subscriptions/<id>/resourceGroups/<group>/"
                           "providers/Microsoft.Compute/virtualMachines/<name>".format(rid))
        if match.group(1).lower() != sub.lower():
            raise DfcError("resource {0} is not in subscription {1}; configure it with that subscription's "
                           "subscription_id".format(rid, sub))
