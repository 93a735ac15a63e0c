# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Did the Linux host reach the wanted state?  Pure checks of ``mdatp health`` read back after apply (R-51).

Internal use only: the interface may change without notice.
"""

from __future__ import annotations

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import host_view as _host_view


def view_of(facts: dict) -> dict:
    """The part of the host's state the modules manage on Linux; used for diffs and results."""
    mdatp = facts.get("mdatp") or {}
    health = _host_view.mdatp_health(facts)
    return {
        "mdatp": (health.get("app_version") or "installed") if mdatp.get("installed") else None,
        "repository": bool((facts.get("repository") or {}).get("present")),
        "onboarded_org": _host_view.org_id(facts) if health.get("licensed") else None,
        "enforcement_level": _host_view.managed_setting(facts, "antivirusEngine", "enforcementLevel"),
        "proxy": _host_view.managed_setting(facts, "cloudService", "proxy"),
    }


def verify_onboarded(facts: dict, org_id: str, passive: bool | None) -> tuple[list[str], list[str]]:
    mdatp = facts.get("mdatp") or {}
    health = mdatp.get("health")
    if not mdatp.get("installed"):
        return ["mdatp is not installed"], []
    if not health:
        return [f"mdatp health does not answer (rc {mdatp.get('health_rc')}): {mdatp.get('health_stderr')}"], []
    problems, warnings = [], []
    if not health.get("licensed"):
        problems.append("mdatp health reports licensed: false")
    if _host_view.org_id(facts) != org_id:
        problems.append(f"mdatp reports org {health.get('org_id')}, not the package's org {org_id}")
    if not health.get("healthy"):
        problems.append(f"mdatp health reports healthy: false ({', '.join(health.get('health_issues') or [])})")
    if passive is not None and bool(health.get("passive_mode_enabled")) != passive:
        problems.append(f"passive_mode_enabled is {health.get('passive_mode_enabled')}, not {passive}")
    conflicts = sorted({str(c.get("comm")) for c in facts.get("fanotify_conflicts") or []}
                       | set(health.get("conflicting_applications") or []))
    if conflicts:
        warnings.append(f"another real-time product runs beside mdatp ({', '.join(conflicts)}); mdatp must stay in "
                        "passive mode while it does (R-14).")
    return problems, warnings


def verify_offboarded(facts: dict, uninstalled: bool) -> list[str]:
    mdatp = facts.get("mdatp") or {}
    if uninstalled and mdatp.get("installed"):
        return ["mdatp is still installed"]
    if mdatp.get("installed") and _host_view.mdatp_health(facts).get("licensed"):
        return ["mdatp health still reports licensed: true"]
    return []


def linux_passive_outcome(facts: dict, enabled: bool) -> tuple[list[str], list[str]]:
    """(problems, warnings) on Linux: mdatp reports passive_mode_enabled in its health (R-30, R-51)."""
    mdatp = facts.get("mdatp") or {}
    health = mdatp.get("health")
    if not mdatp.get("installed"):
        return [], ["mdatp is not installed: the managed configuration takes effect when it is (mde_onboard)."]
    if not health:
        return [], ["mdatp health does not answer yet: passive mode is confirmed once the daemon runs."]
    if bool(health.get("passive_mode_enabled")) != enabled:
        return [f"mdatp reports passive_mode_enabled: {health.get('passive_mode_enabled')} after the change"], []
    return [], []
