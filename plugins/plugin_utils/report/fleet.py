# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report: one row per host from the modules' results, a summary, and its JSON, CSV and HTML forms.

Internal use only: the interface may change without notice.  No secret reaches a row: rows are built
from named fields of the results, never from the task arguments, and the report keeps only named keys.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import secrets

REPORT_VERSION = 2

# Every status a row can have, in the order the HTML page lists them: the ones that need someone's action first.
STATUSES = ("failed", "probe_failed", "unreachable", "restart_required", "pending", "unsupported", "skipped",
            "onboarded", "offboarded")
# A host in one of these states needs someone to act before the run can be called a success; the summary's
# needs_attention flag is true when at least one host is in one of them (playbooks turn it into a failed run).
ATTENTION = ("failed", "probe_failed", "unreachable", "restart_required")
COLUMNS = ("host", "generation", "os", "status", "org_id", "av_running_mode", "changed", "reason", "next_action",
           "needs_attention", "failed_step", "run_id", "generated")
ROW_KEYS = ("generation", "os", "status", "org_id", "av_running_mode", "changed", "reason", "next_action",
            "needs_attention", "failed_step", "applied", "planned")
# Reserved for per-host Azure Arc fields (a later release): kept as given when a row holds them.
EXTENSION_KEYS = ("arc",)
DEFENDER_FOR_CLOUD_KEYS = ("subscription_id", "plan", "mde_integration", "unified_solution", "linux",
                           "vulnerability_assessment", "changed", "failed", "msg")

_NEXT_STEP = {
    "install_msi": "read the installer log on the host, fix the cause, run again",
    "run_script": "read the Application event log (WDATPOnboarding) on the host, fix the cause, run again",
    "setup_repository": "let the host reach Microsoft's repository (or set mdatp_repository: false), run again",
    "install_package": "fix the host's package source, run again",
    "wait_health": "look at 'mdatp health' on the host, run again",
}
_PROBE_FAILED = "the probe step on the host failed"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ReportError(ValueError):
    """A report input that cannot be used, in one sentence."""


def _one_line(text) -> str:
    """The message on one line (whitespace folded, without ansible's "Task failed: " prefix), at most 600
    characters."""
    line = " ".join(str(text or "").split())
    while line.startswith("Task failed: "):
        line = line[len("Task failed: "):]
    return line[:600]


def _steps(result: dict, status: str) -> list:
    return [s.get("name") for s in result.get("steps") or [] if isinstance(s, dict) and s.get("status") == status]


def _descriptions(result: dict, status: str) -> list:
    return [s.get("description") or s.get("name") for s in result.get("steps") or []
            if isinstance(s, dict) and s.get("status") == status]


def _is_probe_failure(result: dict) -> bool:
    return bool(result.get("failed")) and (result.get("failed_step") == "probe"
                                           or str(result.get("msg") or "").startswith(_PROBE_FAILED))


def _was_read(assessment: dict) -> bool:
    return bool(assessment.get("generation")) and not assessment.get("unreachable") and not assessment.get("failed")


def _unreachable_reason(result: dict, assessment: dict) -> str:
    message = _one_line(result.get("msg")) or "the host did not answer"
    if _was_read(assessment):
        # The host answered mde_info, then its connection broke: a step may have run before it did.
        return f"the connection broke after the host was read (a step may have run): {message}"
    return message


def row(result: dict, assessment: dict | None = None, action: str = "onboard", check_mode: bool = False) -> dict:
    """The report row of one host from its mde_onboard (or mde_info, or ansible_failed_result) result."""
    result = dict(result or {})
    assessment = dict(assessment or {})
    if not result and (assessment.get("failed") or assessment.get("unreachable")):
        result = assessment                  # the host's mde_info itself failed: its result is the one to report
    generation = result.get("generation") or assessment.get("generation")
    applied = [] if check_mode else _steps(result, "ok")
    failed_step = result.get("failed_step") or ("probe" if _is_probe_failure(result) else None)
    base = {"generation": generation, "os": result.get("os_label") or (assessment.get("os") or {}).get("label"),
            "org_id": result.get("org_id", assessment.get("org_id")),
            "av_running_mode": result.get("av_running_mode", assessment.get("av_running_mode")),
            # a partial apply changed the host even when the task failed: a step that ran ("ok") is a change
            "changed": (bool(result.get("changed")) or bool(applied)) and not check_mode,
            "failed_step": failed_step, "applied": applied, "planned": []}

    def done(status, reason, next_action):
        return dict(base, status=status, reason=reason, next_action=next_action, needs_attention=status in ATTENTION)

    partial = f"{', '.join(applied)} ran, then " if applied else ""
    if generation == "unsupported":
        return done("unsupported", _one_line(assessment.get("unsupported_reason") or result.get("msg")),
                    "upgrade the OS to a supported version, or retire the host")
    if result.get("unreachable"):
        unanswered = done("unreachable", partial + _unreachable_reason(result, assessment),
                          "check the connection (WinRM/SSH) and run again; the next run reads the host again")
        if not base["changed"] and _was_read(assessment) and not check_mode:
            unanswered["changed"] = None     # unknown: a step may have run before the connection broke
        return unanswered
    if _is_probe_failure(result):
        return done("probe_failed", _one_line(result.get("msg")),
                    "the host answered but could not be read: fix what the message says on the host "
                    "(WMI repository, disk, permissions), then run again")
    if result.get("failed"):
        step = result.get("failed_step")
        next_action = _NEXT_STEP.get(step, "do what the reason says, then run again")
        if "Authenticode" in str(result.get("msg")):
            next_action = "use the installer exactly as downloaded from Microsoft, run again"
        return done("failed", partial + _one_line(result.get("msg")), next_action)
    planned = _descriptions(result, "planned")
    if check_mode and planned:
        return dict(done("skipped", "dry run; would run: " + "; ".join(planned), "run without --check to apply"),
                    planned=planned)
    skipped_steps = _steps(result, "skipped")
    if not check_mode and result.get("reboot_required") and (
            skipped_steps or (action in ("onboard", "migrate") and not result.get("onboarded"))):
        waiting = f"; waiting: {', '.join(skipped_steps)}" if skipped_steps else ""
        return done("restart_required", f"{partial}the host must restart before the remaining steps can run{waiting}",
                    "restart the host, then run again")
    if action == "offboard":
        return done("offboarded", "offboarded and verified", "")
    if action == "migrate" and not result.get("steps"):
        return done("skipped", _one_line(result.get("msg")) or "nothing to migrate", "")
    if action == "verify" and not result.get("onboarded"):
        missing = "; ".join(m.get("requirement", "") for m in result.get("missing_prerequisites") or [])
        return done("failed", "not onboarded" + (f"; missing: {missing}" if missing else ""),
                    "run playbooks/onboard.yml")
    if result.get("onboarded"):
        return done("onboarded", "onboarded and verified (R-50/R-51)", "")
    warnings = result.get("warnings") or []
    return done("pending", _one_line(warnings[0] if warnings else "the steps ran; the host does not report "
                                     "onboarded yet"), "verify again later (playbooks/verify.yml)")


def run_id(stamp: datetime.datetime, job_id="") -> str:
    """A run id that sorts by time and is unique: <UTC time>-<AWX job id, or 6 random hex digits>."""
    suffix = f"awx{job_id}" if str(job_id or "").strip() else secrets.token_hex(3)
    return f"{stamp.strftime('%Y%m%dT%H%M%SZ')}-{suffix}"


def check_run_id(value: str) -> str:
    if not _RUN_ID.match(value):
        raise ReportError(f"the report's run id {value!r} cannot name a folder: use 1 to 64 letters, digits, "
                          "'.', '_' or '-', starting with a letter or digit.")
    return value


def defender_for_cloud(items) -> list:
    """The Defender for Cloud section: one entry per subscription, named keys only."""
    if items is None:
        return []
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, dict) for i in items):
        raise ReportError("mde_defender_for_cloud must be a list with one dict per subscription (subscription_id, "
                          f"plan, mde_integration, ...), not {type(items).__name__}.")
    section = []
    for item in items:
        entry = {k: item.get(k) for k in DEFENDER_FOR_CLOUD_KEYS if k in item}
        if "msg" in entry:
            entry["msg"] = _one_line(entry["msg"])
        section.append(entry)
    return sorted(section, key=lambda e: str(e.get("subscription_id") or ""))


def _unanswered() -> dict:
    return {"generation": None, "os": None, "status": "unreachable", "org_id": None, "av_running_mode": None,
            "changed": None, "reason": "the host did not answer, or its run stopped before a result",
            "next_action": "check the connection (WinRM/SSH) and run again", "needs_attention": True,
            "failed_step": None, "applied": [], "planned": []}


def fleet(rows: dict, all_hosts: list, dry_run: bool, playbook: str, generated: str = "", run: str = "",
          job_id="", cloud=None, now: datetime.datetime | None = None) -> dict:
    """The whole report: every targeted host (unreachable when it has no row), the summary, and the optional
    Defender for Cloud section.  ``generated`` and ``run`` default to the current UTC time and a new run id."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    generated = generated or now.strftime("%Y-%m-%dT%H:%M:%SZ")
    run = check_run_id(run or run_id(now, job_id))
    hosts = {}
    for name in all_hosts:
        entry = rows.get(name)
        if entry:
            kept = {k: entry.get(k) for k in ROW_KEYS}
            kept.update({k: entry[k] for k in EXTENSION_KEYS if k in entry})
            if kept["status"] not in STATUSES:
                raise ReportError(f"the report row of {name} has status {kept['status']!r}, which is none of "
                                  f"{', '.join(STATUSES)}.")
            kept["needs_attention"] = kept["status"] in ATTENTION
            kept["applied"] = list(kept["applied"] or [])
            kept["planned"] = list(kept["planned"] or [])
            if kept["changed"] is not None:
                kept["changed"] = bool(kept["changed"])
        else:
            kept = _unanswered()
        if dry_run:
            kept["changed"] = False
        hosts[name] = kept
    by_status = {s: 0 for s in STATUSES}
    by_generation: dict = {}
    for entry in hosts.values():
        by_status[entry["status"]] += 1
        generation = entry.get("generation") or "unknown"
        by_generation.setdefault(generation, {s: 0 for s in STATUSES})
        by_generation[generation][entry["status"]] += 1
    attention = sum(by_status[s] for s in ATTENTION)
    summary = {"run_id": run, "total": len(hosts), "changed": sum(1 for e in hosts.values() if e.get("changed")),
               "changed_unknown": sum(1 for e in hosts.values() if e.get("changed") is None),
               "would_change": sum(1 for e in hosts.values() if e.get("planned")),
               "needs_attention": attention > 0, "attention": attention,
               "by_status": by_status, "by_generation": by_generation}
    report = {"report_version": REPORT_VERSION, "run_id": run, "generated": generated, "playbook": playbook,
              "dry_run": bool(dry_run), "summary": summary, "hosts": hosts}
    section = defender_for_cloud(cloud)
    if cloud is not None:
        report["defender_for_cloud"] = section
        summary["defender_for_cloud"] = {"subscriptions": len(section),
                                         "changed": sum(1 for e in section if e.get("changed")),
                                         "failed": sum(1 for e in section if e.get("failed"))}
    return report


def _cell(value):
    """A CSV cell a spreadsheet shows as text: one starting with = + - @ (or a tab or carriage return) would be
    read as a formula, so it gets a leading apostrophe; numbers and booleans stay as they are."""
    if value is None:
        return ""
    if isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(report: dict) -> str:
    """One line per host, sorted by name; the run id and time on every line (the file has no header block)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    stamp = {"run_id": report.get("run_id"), "generated": report.get("generated")}
    for name in sorted(report["hosts"]):
        entry = dict(report["hosts"][name], **stamp)
        writer.writerow([_cell(name)] + [_cell(entry.get(c)) for c in COLUMNS[1:]])
    return out.getvalue()
