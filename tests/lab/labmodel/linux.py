"""What a Linux host answers to the executor's probe, from its modeled state (REFERENCE section 6)."""

from __future__ import annotations


def health(state: dict) -> dict:
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
        "conflicting_applications": [c["comm"] for c in state["fanotify_conflicts"]],
        "edr_machine_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c" if licensed else "",
    }


def probe(state: dict, faults: list[str]) -> dict:
    mdatp = state["mdatp"]
    if mdatp["installed"] and "mdatp_not_ready" in faults:
        mdatp_facts = {"installed": True, "health": None, "health_rc": 1,
                       "health_stderr": "Could not connect to daemon: the daemon is not running yet"}
    elif mdatp["installed"]:
        mdatp_facts = {"installed": True, "health": health(state), "health_rc": 0, "health_stderr": None}
    else:
        mdatp_facts = {"installed": False, "health": None, "health_rc": None}
    onboard_present = bool(mdatp["onboarded_org"])
    return {
        "platform": "linux",
        "os": dict(state["os"]),
        "mdatp": mdatp_facts,
        "onboarding_json": {"present": onboard_present, "org_id": mdatp["onboarded_org"]},
        "offboarding_json": {"present": bool(state["offboarding_json"])},
        "managed_config": state["managed_config"],
        "fanotify_conflicts": [dict(c) for c in state["fanotify_conflicts"]],
        "package_manager": state["package_manager"],
        "free_disk_mb": state["free_disk_mb"],
    }
