# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report: one row per host from the modules' results, a summary, and its JSON, CSV and HTML forms.

Internal use only: the interface may change without notice.  No secret reaches a row: rows are built
from named fields of the results, never from the task arguments.
"""

from __future__ import annotations

import csv
import io

STATUSES = ("onboarded", "offboarded", "failed", "unsupported", "unreachable", "skipped")
COLUMNS = ("host", "generation", "os", "status", "org_id", "av_running_mode", "changed", "reason", "next_action")

_NEXT_STEP = {
    "install_msi": "read the installer log on the host, fix the cause, run again",
    "run_script": "read the Application event log (WDATPOnboarding) on the host, fix the cause, run again",
    "setup_repository": "let the host reach Microsoft's repository (or set mdatp_repository: false), run again",
    "install_package": "fix the host's package source, run again",
    "wait_health": "look at 'mdatp health' on the host, run again",
}


def _one_line(text) -> str:
    """The message on one line (whitespace folded), at most 600 characters."""
    return " ".join(str(text or "").split())[:600]


def row(result: dict, assessment: dict | None = None, action: str = "onboard", check_mode: bool = False) -> dict:
    """The report row of one host from its mde_onboard (or mde_info) result."""
    result = result or {}
    assessment = assessment or {}
    generation = result.get("generation") or assessment.get("generation")
    base = {"generation": generation, "os": result.get("os_label") or (assessment.get("os") or {}).get("label"),
            "org_id": result.get("org_id", assessment.get("org_id")),
            "av_running_mode": result.get("av_running_mode", assessment.get("av_running_mode")),
            "changed": bool(result.get("changed")) and not check_mode}
    if generation == "unsupported":
        return dict(base, status="unsupported", reason=assessment.get("unsupported_reason") or result.get("msg"),
                    next_action="upgrade the OS to a supported version, or retire the host")
    if result.get("unreachable"):
        return dict(base, status="unreachable", reason=_one_line(result.get("msg")),
                    next_action="check the connection (WinRM/SSH) and run again")
    if result.get("failed"):
        step = result.get("failed_step")
        next_action = _NEXT_STEP.get(step, "do what the reason says, then run again")
        if "Authenticode" in str(result.get("msg")):
            next_action = "use the installer exactly as downloaded from Microsoft, run again"
        return dict(base, status="failed", reason=_one_line(result.get("msg")), next_action=next_action)
    planned = [s.get("description") for s in result.get("steps") or [] if s.get("status") == "planned"]
    if check_mode and planned:
        return dict(base, status="skipped", reason="dry run; would run: " + "; ".join(planned),
                    next_action="run without --check to apply")
    if result.get("reboot_required") and not result.get("onboarded"):
        return dict(base, status="skipped", reason="a step needs a restart before onboarding can finish",
                    next_action="restart the host, then run again")
    if action == "offboard":
        return dict(base, status="offboarded", reason="offboarded and verified", next_action="")
    if action == "migrate" and not result.get("steps"):
        return dict(base, status="skipped", reason=_one_line(result.get("msg")) or "nothing to migrate",
                    next_action="")
    if action == "verify" and not result.get("onboarded"):
        missing = "; ".join(m.get("requirement", "") for m in result.get("missing_prerequisites") or [])
        return dict(base, status="failed", reason="not onboarded" + (f"; missing: {missing}" if missing else ""),
                    next_action="run playbooks/onboard.yml")
    if result.get("onboarded"):
        return dict(base, status="onboarded", reason="onboarded and verified (R-50/R-51)", next_action="")
    warnings = result.get("warnings") or []
    return dict(base, status="skipped", reason=_one_line(warnings[0] if warnings else "not onboarded yet"),
                next_action="verify again later (playbooks/verify.yml)")


def fleet(rows: dict, all_hosts: list, dry_run: bool, playbook: str, generated: str) -> dict:
    """The whole report: every inventory host, unreachable when it has no row."""
    hosts = {}
    for name in all_hosts:
        entry = rows.get(name)
        if not entry:
            entry = {"generation": None, "os": None, "status": "unreachable", "org_id": None, "av_running_mode": None,
                     "changed": False, "reason": "the host did not answer, or its run stopped before a result",
                     "next_action": "check the connection (WinRM/SSH) and run again"}
        hosts[name] = dict(entry)
    by_status = {s: 0 for s in STATUSES}
    by_generation: dict = {}
    for entry in hosts.values():
        by_status[entry["status"]] = by_status.get(entry["status"], 0) + 1
        generation = entry.get("generation") or "unknown"
        by_generation.setdefault(generation, {s: 0 for s in STATUSES})
        by_generation[generation][entry["status"]] += 1
    summary = {"total": len(hosts), "changed": sum(1 for e in hosts.values() if e.get("changed")),
               "by_status": by_status, "by_generation": by_generation}
    return {"playbook": playbook, "dry_run": bool(dry_run), "generated": generated, "summary": summary,
            "hosts": hosts}


def _cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: one starting with = + - @ (or a tab or carriage return) would be
    read as a formula, so it gets a leading apostrophe; numbers and booleans stay as they are."""
    if value is None:
        return ""
    if isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for name in sorted(report["hosts"]):
        entry = report["hosts"][name]
        writer.writerow([_cell(name)] + [_cell(entry.get(c)) for c in COLUMNS[1:]])
    return out.getvalue()
