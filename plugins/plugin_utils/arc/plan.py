# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan the Azure Connected Machine agent of one host (Azure Arc, R-72): install, proxy, connect, move, disconnect.

Internal use only: the interface may change without notice.

Pure functions of the wanted state and the probe's ``arc`` facts (what ``azcmagent show -j`` printed).  The access
token is never in a step: ``arc_connect`` / ``arc_disconnect`` name the key of the executor's no_log secrets.
"""

from __future__ import annotations

import dataclasses

from ansible_collections.defender.endpoint.plugins.plugin_utils.core.errors import Refused

TOKEN_KEY = "arc_access_token"
# The fields of `azcmagent show -j` that say where a machine is connected; compared case-insensitively.
PLACEMENT = ("subscription_id", "resource_group", "tenant_id", "location", "resource_name")


@dataclasses.dataclass
class Wanted:
    state: str
    subscription_id: str | None = None
    resource_group: str | None = None
    location: str | None = None
    tenant_id: str | None = None
    resource_name: str | None = None
    cloud: str = "AzureCloud"
    tags: dict | None = None
    proxy: str | None = None            # None: leave as is; "": clear
    private_link_scope: str | None = None
    correlation_id: str | None = None
    allow_move: bool = False
    force_local_only: bool = False
    installer: dict | None = None       # core.files.local_file() of the installer, or None


def agent(facts: dict) -> dict:
    """The probe's view of the agent, with every field present."""
    arc = dict(facts.get("arc") or {})
    for name in ("installed",):
        arc[name] = bool(arc.get(name))
    for name in ("agent_version", "status", "resource_id", "https_proxy", "error_code", "error_details", "cloud",
                 "private_link_scope", "show_error") + PLACEMENT:
        arc.setdefault(name, None)
    return arc


def configured(arc: dict) -> bool:
    """The agent holds a machine resource (connected once, whatever its heartbeat says now)."""
    return bool(arc["installed"] and arc.get("subscription_id") and arc.get("resource_group"))


def differences(arc: dict, wanted: Wanted) -> list[str]:
    """Where the agent's machine differs from the wanted one: 'field: host value (wanted value)'."""
    found = []
    for name in PLACEMENT:
        want = getattr(wanted, name)
        have = arc.get(name)
        if want is None:
            continue
        if str(have or "").lower() != str(want).lower():
            found.append(f"{name} {have or '(none)'} (wanted {want})")
    return found


def _install(facts: dict, wanted: Wanted, windows: bool) -> dict:
    if wanted.installer:
        step = {"name": "install_arc_agent", "local_path": wanted.installer["local_path"],
                "sha256": wanted.installer["sha256"], "file_name": wanted.installer["name"]}
        if not windows:
            step["package_manager"] = facts.get("package_manager")
        return step
    if windows:
        raise Refused("the Azure Connected Machine agent is not installed and no installer was given: set installer "
                      "to AzureConnectedMachineAgent.msi on the controller (docs/azure-arc.md); nothing was changed.")
    if not (facts.get("repository") or {}).get("present"):
        raise Refused("the Azure Connected Machine agent is not installed, no installer was given and Microsoft's "
                      "package repository is not configured on the host: set installer to the azcmagent package "
                      "(.deb or .rpm), or onboard the host with the linux role first (it configures the "
                      "repository); nothing was changed.")
    return {"name": "install_arc_agent", "from_repository": True, "package": "azcmagent",
            "package_manager": facts.get("package_manager")}


def _connect(wanted: Wanted) -> dict:
    return {"name": "arc_connect", "subscription_id": wanted.subscription_id, "resource_group": wanted.resource_group,
            "location": wanted.location, "tenant_id": wanted.tenant_id, "cloud": wanted.cloud,
            "resource_name": wanted.resource_name, "tags": wanted.tags, "correlation_id": wanted.correlation_id,
            "private_link_scope": wanted.private_link_scope, "token": TOKEN_KEY}


def _proxy_step(arc: dict, wanted: Wanted) -> list[dict]:
    if wanted.proxy is None:
        return []
    have = arc.get("https_proxy") or ""
    if have.rstrip("/").lower() == wanted.proxy.rstrip("/").lower():
        return []
    return [{"name": "arc_set_proxy", "proxy_url": wanted.proxy or None}]


def plan(facts: dict, wanted: Wanted, windows: bool) -> list[dict]:
    """The steps that take the agent to the wanted state; raise Refused to change nothing."""
    if facts.get("azure_vm") and wanted.state == "present":
        raise Refused("this host is an Azure virtual machine (its SMBIOS asset tag is Azure's): it reaches Defender "
                      "for Cloud without Azure Arc, and the Connected Machine agent refuses to run on it (R-72); "
                      "leave it out of arc_connect; nothing was changed.")
    arc = agent(facts)
    if wanted.state == "absent":
        if not configured(arc):
            return []
        return [{"name": "arc_disconnect", "force_local_only": wanted.force_local_only,
                 "token": None if wanted.force_local_only else TOKEN_KEY}]
    if not arc["installed"]:
        return [_install(facts, wanted, windows)] + _proxy_step(arc, wanted) + [_connect(wanted)]
    steps = _proxy_step(arc, wanted)
    if not configured(arc):
        return steps + [_connect(wanted)]
    moved = differences(arc, wanted)
    if moved:
        if not wanted.allow_move:
            raise Refused(f"the host is connected to Azure Arc as another machine: {'; '.join(moved)}; set "
                          "allow_move: true to disconnect it and connect it as asked (its Azure resource and "
                          "extensions stay behind), or change the options to match; nothing was changed.")
        return steps + [{"name": "arc_disconnect", "force_local_only": False, "token": TOKEN_KEY}, _connect(wanted)]
    if str(arc.get("status") or "").lower() == "expired":
        # The agent's certificate expired (offline too long): only a local disconnect and a new connect mend it.
        return steps + [{"name": "arc_disconnect", "force_local_only": True, "token": None}, _connect(wanted)]
    return steps


def needs_token(steps: list[dict]) -> bool:
    return any(step.get("token") for step in steps)


def outcome(facts: dict, wanted: Wanted) -> list[str]:
    """Problems of the agent as it is now (after the apply, or when nothing was planned)."""
    arc = agent(facts)
    if wanted.state == "absent":
        return ["the Connected Machine agent still holds its Azure machine after the disconnect; run "
                "'azcmagent show' on the host."] if configured(arc) else []
    if not configured(arc) or differences(arc, wanted):
        return [f"the Connected Machine agent is not connected as asked after the change (status "
                f"{arc.get('status') or 'unknown'}); run 'azcmagent show' on the host."]
    status = str(arc.get("status") or "").lower()
    if status != "connected":
        code = f", agent error {arc['error_code']}" if arc.get("error_code") else ""
        return [f"the Connected Machine agent is connected as asked but Azure does not hear from it (status "
                f"{arc.get('status') or 'unknown'}{code}): run 'azcmagent check' on the host and let it reach the "
                "Azure Arc endpoints (docs/azure-arc.md)."]
    return []
