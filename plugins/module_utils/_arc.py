# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Internal use only: read Azure Arc-enabled servers (Microsoft.HybridCompute machines) and their extensions with
azure-mgmt-hybridcompute, and wait for the Defender for Endpoint extension that Defender for Cloud deploys (R-73).

azure-mgmt-hybridcompute 10.x keeps ARM's shape: a MachineExtension's fields live under ``.properties``
(``ext.properties.provisioning_state``), and so do a Machine's (10.x also answers ``machine.status``); 9.x
flattened both. ``field`` reads either. Only GET requests are sent.
"""

from __future__ import annotations

import enum
import re
import time

from ansible_collections.defender.endpoint.plugins.module_utils import azure_auth, azure_errors

SDK_PACKAGES = "azure-identity and azure-mgmt-hybridcompute"
MDE_PUBLISHER = "Microsoft.Azure.AzureDefenderForServers"
MDE_TYPES = {"windows": "MDE.Windows", "linux": "MDE.Linux"}
MACHINE_ID = re.compile(r"^/?subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
                        r"Microsoft\.HybridCompute/machines/(?P<name>[^/]+)/?$", re.I)
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# ARM's rule for resource group names: 1-90 letters, digits, underscores, hyphens, periods and parentheses, not
# ending in a period.
RESOURCE_GROUP = re.compile(r"^[-\w.()]{1,90}$")
# Characters that cannot stand in one segment of an ARM path.
NOT_IN_NAME = re.compile(r"[/\\?#%&:<>\s]")
# Provisioning states after which nothing more happens without someone acting.
DONE_STATES = ("succeeded",)
FAILED_STATES = ("failed", "canceled")
READ_PERMISSION = ("reading Arc machines and their extensions needs the Reader role (or Azure Connected Machine "
                   "Resource Administrator) on the machine's resource group or subscription")


class ArcError(Exception):
    """One sentence for the user, never holding a secret."""


class Target:
    """One machine asked for: subscription, resource group and name."""

    def __init__(self, sub, rg, name):
        self.sub, self.rg, self.name = sub, rg, name

    @property
    def id(self):
        return "/subscriptions/{0}/resourceGroups/{1}/providers/Microsoft.HybridCompute/machines/{2}".format(
            self.sub, self.rg, self.name)

    @property
    def label(self):
        return "{0} (resource group {1}, subscription {2})".format(self.name, self.rg, self.sub)


def check_name(name):
    if not name or NOT_IN_NAME.search(name):
        raise ArcError("{0!r} cannot be the name of an Arc machine: a name is not empty and holds none of "
                       "/ \\ ? # % & : < > or spaces".format(name))


def check_group(rg):
    if not RESOURCE_GROUP.match(rg or "") or rg.endswith("."):
        raise ArcError("resource group {0!r} is not a valid name: 1 to 90 letters, digits, underscores, hyphens, "
                       "periods and parentheses, not ending in a period".format(rg))


def targets(subscription_id, resource_group, names, resource_ids):
    """The machines to read, checked before any request: names in resource_group, or full resource ids."""
    if names and not resource_group:
        raise ArcError("names needs resource_group (the resource group the Arc machines are in); or give "
                       "resource_ids instead")
    if not names and not resource_ids:
        raise ArcError("give the machines to read: names (with resource_group) or resource_ids")
    found, seen = [], set()
    if names:
        check_group(resource_group)
    for name in names or []:
        check_name(name)
        found.append(Target(subscription_id, resource_group, name))
    for rid in resource_ids or []:
        match = MACHINE_ID.match(rid or "")
        if not match:
            raise ArcError("resource id {0} is not an Arc machine id like /subscriptions/<id>/resourceGroups/<group>/"
                           "providers/Microsoft.HybridCompute/machines/<name>".format(rid))
        if not GUID.match(match.group("sub")):
            raise ArcError("resource id {0} does not hold a subscription id (a GUID)".format(rid))
        check_group(match.group("rg"))
        check_name(match.group("name"))
        found.append(Target(match.group("sub"), match.group("rg"), match.group("name")))
    unique = []
    for target in found:
        if target.id.lower() not in seen:
            seen.add(target.id.lower())
            unique.append(target)
    return unique


def plain(value):
    """The SDK's enums (StatusTypes.CONNECTED) as the service spells them ("Connected")."""
    return value.value if isinstance(value, enum.Enum) else value


def field(obj, name):
    """A model field, from ``obj.properties`` (azure-mgmt-hybridcompute 10.x) or from obj itself (9.x)."""
    if obj is None:
        return None
    props = getattr(obj, "properties", None)
    if props is not None:
        value = getattr(props, name, None)
        if value is not None:
            return plain(value)
    return plain(getattr(obj, name, None))


def iso(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def _status_view(status):
    if status is None:
        return None
    view = {"code": getattr(status, "code", None), "level": plain(getattr(status, "level", None)),
            "display_status": getattr(status, "display_status", None), "message": getattr(status, "message", None),
            "time": iso(getattr(status, "time", None))}
    return view if any(v is not None for v in view.values()) else None


def extension_view(ext):
    """What the module returns of an extension: never its settings or protected settings."""
    instance = field(ext, "instance_view")
    return {"name": ext.name, "publisher": field(ext, "publisher"), "type": _extension_type(ext),
            "type_handler_version": field(ext, "type_handler_version"),
            "provisioning_state": field(ext, "provisioning_state"),
            "status": _status_view(getattr(instance, "status", None))}


def _extension_type(ext):
    props = getattr(ext, "properties", None)
    if props is not None and getattr(props, "type", None):
        return props.type                  # 10.x: ext.type is the ARM resource type, the handler type is here
    value = getattr(ext, "type_properties_type", None) or getattr(ext, "type", None)
    return None if value == "Microsoft.HybridCompute/machines/extensions" else value


def machine_view(target, machine, extensions):
    errors = field(machine, "error_details") or []
    view = {"name": target.name, "resource_group": target.rg, "subscription_id": target.sub,
            "id": getattr(machine, "id", None) or target.id, "exists": True,
            "location": getattr(machine, "location", None), "tags": dict(getattr(machine, "tags", None) or {}),
            "status": field(machine, "status"), "last_status_change": iso(field(machine, "last_status_change")),
            "agent_version": field(machine, "agent_version"), "os_name": field(machine, "os_name"),
            "os_type": field(machine, "os_type"), "os_sku": field(machine, "os_sku"),
            "os_version": field(machine, "os_version"), "provisioning_state": field(machine, "provisioning_state"),
            "error_details": [{"code": getattr(e, "code", None), "message": getattr(e, "message", None)}
                              for e in errors],
            "extensions": [extension_view(e) for e in extensions]}
    view["mde_extension"] = mde_extension(view)
    return view


def missing_view(target):
    view = {"name": target.name, "resource_group": target.rg, "subscription_id": target.sub, "id": target.id,
            "exists": False, "location": None, "tags": {}, "status": None, "last_status_change": None,
            "agent_version": None, "os_name": None, "os_type": None, "os_sku": None, "os_version": None,
            "provisioning_state": None, "error_details": [], "extensions": []}
    view["mde_extension"] = mde_extension(view)
    return view


def _is_mde(ext, wanted):
    if (ext.get("publisher") or "").lower() != MDE_PUBLISHER.lower():
        return False
    kinds = {(ext.get("type") or "").lower(), (ext.get("name") or "").lower()}
    return bool(kinds & {w.lower() for w in wanted})


def mde_extension(view):
    """The Defender for Endpoint extension of a machine view: which one the OS needs, whether it is there, its state.

    state: succeeded, failed, pending (Creating, Updating... : Defender for Cloud is at work), missing (not on
    the machine), or no_machine (the Arc machine does not exist).
    """
    os_type = (view.get("os_type") or view.get("os_name") or "").lower()
    wanted = [MDE_TYPES[os_type]] if os_type in MDE_TYPES else list(MDE_TYPES.values())
    ext = next((e for e in view["extensions"] if _is_mde(e, wanted)), None)
    summary = {"type": wanted[0] if len(wanted) == 1 else (ext["type"] if ext else None),
               "publisher": MDE_PUBLISHER, "present": ext is not None, "name": ext["name"] if ext else None,
               "provisioning_state": ext["provisioning_state"] if ext else None,
               "type_handler_version": ext["type_handler_version"] if ext else None,
               "message": (ext["status"] or {}).get("message") if ext else None}
    if not view["exists"]:
        summary["state"] = "no_machine"
    elif ext is None:
        summary["state"] = "missing"
    elif (ext["provisioning_state"] or "").lower() in DONE_STATES:
        summary["state"] = "succeeded"
    elif (ext["provisioning_state"] or "").lower() in FAILED_STATES:
        summary["state"] = "failed"
    else:
        summary["state"] = "pending"
    summary["ready"] = summary["state"] == "succeeded"
    return summary


def stuck_sentence(view, waited):
    """One sentence saying why the MDE extension of view is not Succeeded after waited seconds."""
    mde = view["mde_extension"]
    kind = mde["type"] or "MDE.Windows / MDE.Linux"
    where = "Arc machine {0} (resource group {1}, subscription {2})".format(
        view["name"], view["resource_group"], view["subscription_id"])
    after = "after {0:.0f} s".format(waited)
    agent = ""
    if view["exists"] and (view["status"] or "").lower() not in ("", "connected"):
        since = " since " + str(view["last_status_change"]) if view["last_status_change"] else ""
        agent = ("; the machine is {0}{1}, and extensions are deployed only to a Connected machine: check the agent "
                 "on the server (azcmagent show)").format(view["status"], since)
    if mde["state"] == "no_machine":
        still = " (still not after {0:.0f} s)".format(waited) if waited >= 1 else ""
        return ("{0} does not exist{1}: connect the server to Azure Arc first (azcmagent connect), with this name "
                "and resource group").format(where, still)
    if mde["state"] == "failed":
        return ("the Defender for Endpoint extension {0} on {1} is {2}: {3}{4}; the extension's own log on the "
                "server tells more").format(mde["name"] or kind, where, mde["provisioning_state"],
                                            mde["message"] or "no message from the extension", agent)
    if mde["state"] == "pending":
        return ("the Defender for Endpoint extension {0} on {1} is still {2} {3}{4}{5}; Defender for Cloud is "
                "deploying it: wait longer (wait_timeout) or run again later").format(
                    mde["name"] or kind, where, mde["provisioning_state"] or "without a provisioning state", after,
                    " ({0})".format(mde["message"]) if mde["message"] else "", agent)
    if agent:
        return "the Defender for Endpoint extension {0} (publisher {1}) never appeared on {2} {3}{4}".format(
            kind, MDE_PUBLISHER, where, after, agent)
    return ("the Defender for Endpoint extension {0} (publisher {1}) never appeared on {2} {3}; check that "
            "Defender for Servers (Plan 1 or Plan 2) is on for subscription {4} and that its integration with "
            "Defender for Endpoint is on (defender.endpoint.defender_for_cloud_info shows both)").format(
                kind, MDE_PUBLISHER, where, after, view["subscription_id"])


class Session:
    """Signed-in HybridComputeManagementClients, one per subscription, sharing one credential; GETs only."""

    def __init__(self, auth):
        self.auth = auth
        self.hybrid = azure_auth.import_sdk("azure.mgmt.hybridcompute", SDK_PACKAGES)
        self.exceptions = azure_auth.import_sdk("azure.core.exceptions", SDK_PACKAGES)
        self.clients = {}
        self.requests = {"GET": 0}
        self.cred = azure_auth.signed_in(auth, ArcError)

    def client(self, sub):
        if sub.lower() not in self.clients:
            self.clients[sub.lower()] = azure_auth.arm_client(self.hybrid.HybridComputeManagementClient,
                                                              dict(self.auth, subscription_id=sub), self.cred)
        return self.clients[sub.lower()]

    def _fail(self, exc, action, sub):
        auth = dict(self.auth, subscription_id=sub)
        if type(exc).__name__ == "ClientAuthenticationError" and getattr(exc, "status_code", None) is None:
            return ArcError(azure_errors.sign_in_error(exc, auth))
        return ArcError(azure_errors.arm_error(exc, action, auth, permission_hint=READ_PERMISSION,
                                               namespace="Microsoft.HybridCompute"))

    def _get(self, action, target, func):
        self.requests["GET"] += 1
        try:
            return func(), None
        except self.exceptions.HttpResponseError as exc:
            code = azure_errors.error_code(exc)
            if exc.status_code == 404 and code == "ResourceGroupNotFound":
                raise ArcError("resource group {0} does not exist in subscription {1} (404 ResourceGroupNotFound): "
                               "check resource_group, the resource ids and subscription_id".format(
                                   target.rg, target.sub)) from None
            if exc.status_code == 404 and code in ("ResourceNotFound", "ParentResourceNotFound", None):
                return None, code
            raise self._fail(exc, action, target.sub) from None
        except self.exceptions.AzureError as exc:
            raise self._fail(exc, action, target.sub) from None

    def read(self, target, with_extensions=True):
        """The machine view of target; a machine that does not exist gives exists false."""
        client = self.client(target.sub)
        machine, dummy = self._get("read Arc machine " + target.label, target,
                                   lambda: client.machines.get(target.rg, target.name))
        if machine is None:
            return missing_view(target)
        extensions = []
        if with_extensions:
            found, dummy = self._get("read the extensions of Arc machine " + target.label, target,
                                     lambda: list(client.machine_extensions.list(target.rg, target.name)))
            if found is None:               # the machine went away between the two requests
                return missing_view(target)
            extensions = found
        return machine_view(target, machine, extensions)


def wait_for_mde(read, wanted, timeout, interval, clock=time.monotonic, sleep=time.sleep):
    """Poll read(target) until every target's MDE extension is Succeeded or Failed, or timeout seconds passed.

    Returns (views in the order of wanted, polls, seconds waited, sentences of the targets not Succeeded).
    """
    start = clock()
    deadline = start + timeout
    views, polls, pending = {}, 0, list(wanted)
    while True:
        polls += 1
        for target in pending:
            views[target.id] = read(target)
        pending = [t for t in pending if views[t.id]["mde_extension"]["state"] not in ("succeeded", "failed")]
        now = clock()
        if not pending or now >= deadline:
            break
        sleep(min(interval, max(0.0, deadline - now)))
    waited = clock() - start
    ordered = [views[t.id] for t in wanted]
    sentences = [stuck_sentence(v, waited) for v in ordered if not v["mde_extension"]["ready"]]
    return ordered, polls, waited, sentences
