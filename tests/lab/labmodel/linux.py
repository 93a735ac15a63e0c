"""What a Linux host answers to the executor's probe, from its modeled state (mdatp on Linux, docs/linux-fleet.md)."""

from __future__ import annotations

import json
import re

from . import arc

MANAGED_JSON = "/etc/opt/microsoft/mdatp/managed/mdatp_managed.json"
# The user and password of a URL, as the executor hides them in what the probe returns.
_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")


def masked(value):
    """A copy of the value with the credentials of every URL in it shown as ********."""
    return json.loads(_CREDENTIALS.sub(r"\1********@", json.dumps(value))) if value is not None else None


def holds_credentials(config) -> bool:
    return bool(_CREDENTIALS.search(json.dumps(config))) if config else False


def conflicts(state: dict, faults=()) -> list[dict]:
    extra = [{"pid": 4242, "comm": "falcon-sensor"}] if "conflicting_fanotify" in faults else []
    return [dict(c) for c in state["fanotify_conflicts"]] + extra


def health(state: dict, faults=()) -> dict:
    """``mdatp health --output json`` of an installed mdatp."""
    mdatp = state["mdatp"]
    licensed = bool(mdatp["onboarded_org"]) and not state["offboarding_json"]
    issues = [] if mdatp["definitions_ready"] else ["no active event provider", "definitions not yet downloaded"]
    if not licensed:
        issues.append("missing license")
    return {
        "healthy": licensed and mdatp["definitions_ready"],
        "health_issues": issues,
        "licensed": licensed,
        "org_id": mdatp["onboarded_org"] if licensed else "unavailable",
        "passive_mode_enabled": bool(mdatp["passive_mode"]),
        "real_time_protection_enabled": not mdatp["passive_mode"] and mdatp["real_time_protection"],
        "definitions_status": "up_to_date" if mdatp["definitions_ready"] else "unavailable",
        "app_version": mdatp["version"],
        "conflicting_applications": [c["comm"] for c in conflicts(state, faults)],
        "edr_machine_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c" if licensed else "",
    }


def not_ready(state: dict, faults, fired) -> bool:
    """Fault mdatp_not_ready: the daemon answers nothing until someone has waited for it once."""
    return state["mdatp"]["installed"] and "mdatp_not_ready" in faults and "mdatp_not_ready" not in fired


def _proxy_matches(state: dict, secrets: dict | None):
    if not secrets or "proxy" not in secrets:
        return None
    return ((state["managed_config"] or {}).get("cloudService") or {}).get("proxy") == secrets["proxy"]


def probe(state: dict, faults: list[str], fired=(), secrets: dict | None = None) -> dict:
    mdatp = state["mdatp"]
    if not_ready(state, faults, fired):
        mdatp_facts = {"installed": True, "health": None, "health_rc": 1,
                       "health_stderr": "Could not connect to daemon: the daemon is not running yet"}
    elif mdatp["installed"]:
        mdatp_facts = {"installed": True, "health": health(state, faults), "health_rc": 0, "health_stderr": None}
    else:
        mdatp_facts = {"installed": False, "health": None, "health_rc": None}
    onboard_present = bool(mdatp["onboarded_org"])
    return {
        "platform": "linux",
        "os": dict(state["os"]),
        "mdatp": mdatp_facts,
        "onboarding_json": {"present": onboard_present, "org_id": mdatp["onboarded_org"]},
        "offboarding_json": {"present": bool(state["offboarding_json"])},
        "managed_config": masked(state["managed_config"]),
        "managed_config_mode": state["files"].get(MANAGED_JSON) if state["managed_config"] is not None else None,
        "proxy_matches": _proxy_matches(state, secrets),
        "fanotify_conflicts": conflicts(state, faults),
        "package_manager": state["package_manager"],
        "repository": {"present": bool(state["repository"])},
        "free_disk_mb": state["free_disk_mb"],
        "staging_dir": "/var/tmp",
        "arc": arc.arc_facts(state),
        "azure_vm": arc.azure_vm(state),
    }
