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
import json
import os
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
           "needs_attention", "failed_step", "run_id", "generated", "arc_status", "arc_resource_id", "arc_extension",
           "mdi_sensor", "mdi_ready")
ROW_KEYS = ("generation", "os", "status", "org_id", "av_running_mode", "changed", "reason", "next_action",
            "needs_attention", "failed_step", "applied", "planned")
# Optional per-host sections: Azure Arc (set by the azure_arc role through mde_row_extra) and Defender for Identity
# (from mde_info's assessment of a domain controller).  Each keeps only its named keys, so nothing else (no secret)
# can pass through a row.
EXTENSION_KEYS = ("arc", "defender_for_identity")
ARC_STATUSES = ("connected", "disconnected", "skipped", "failed", "not_requested")
ARC_KEYS = ("status", "reason", "resource_id", "resource_name", "resource_group", "subscription_id", "location",
            "agent_version", "error_code", "azure_vm", "extension")
ARC_EXTENSION_KEYS = ("name", "state", "message")
MDI_KEYS = ("domain_controller", "sensor", "version", "running", "ready", "reason")
MDI_SENSORS = ("v2", "v3")
# How many interrupted runs the summary names (the newest first).
INTERRUPTED_SHOWN = 5
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


def _text_or_none(value, limit: int = 300):
    return None if value is None or value == "" else _one_line(value)[:limit]


def arc_section(value, host: str = "") -> dict | None:
    """A row's Azure Arc section with its named keys only (an unknown key is dropped), or None."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ReportError(f"the report row of {host} has an 'arc' section that is a {type(value).__name__}, not a "
                          "dict: set mde_row_extra.arc to a dict (status, reason, resource_id, ...).")
    status = value.get("status")
    if status not in ARC_STATUSES:
        raise ReportError(f"the report row of {host} has the Arc status {status!r}, which is none of "
                          f"{', '.join(ARC_STATUSES)}.")
    extension = value.get("extension")
    section = {k: _text_or_none(value.get(k), 600 if k == "reason" else 300) for k in ARC_KEYS}
    section.update(status=status, azure_vm=bool(value.get("azure_vm")),
                   extension={k: _text_or_none(extension.get(k)) for k in ARC_EXTENSION_KEYS}
                   if isinstance(extension, dict) else None)
    return section


def identity_section(value) -> dict | None:
    """The Defender for Identity section of a domain controller (mde_info's defender_for_identity), named keys
    only; None on a host that is not a domain controller."""
    if not isinstance(value, dict):
        return None
    sensor = value.get("sensor")
    return {"domain_controller": bool(value.get("domain_controller", True)),
            "sensor": sensor if sensor in MDI_SENSORS else None, "version": _text_or_none(value.get("version"), 64),
            "running": bool(value.get("running")), "ready": bool(value.get("ready")),
            "reason": _text_or_none(value.get("reason"), 600) or ""}


def _with_identity(entry: dict, assessment: dict) -> dict:
    section = identity_section(assessment.get("defender_for_identity"))
    return dict(entry, defender_for_identity=section) if section else entry


def _row(result: dict, assessment: dict, action: str, check_mode: bool) -> dict:
    """The row's own fields (see row)."""
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


def row(result: dict, assessment: dict | None = None, action: str = "onboard", check_mode: bool = False) -> dict:
    """The report row of one host from its mde_onboard (or mde_info, or ansible_failed_result) result, with the
    Defender for Identity section when the assessment has one (a domain controller)."""
    assessment = dict(assessment or {})
    return _with_identity(_row(dict(result or {}), assessment, action, check_mode), assessment)


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


def _sections(entry: dict, name: str) -> dict:
    """The row's optional sections that hold something, each with its named keys only."""
    sections = {"arc": arc_section(entry.get("arc"), name),
                "defender_for_identity": identity_section(entry.get("defender_for_identity"))}
    return {k: v for k, v in sections.items() if v is not None}


def fleet(rows: dict, all_hosts: list, dry_run: bool, playbook: str, generated: str = "", run: str = "",
          job_id="", cloud=None, now: datetime.datetime | None = None, interrupted=None) -> dict:
    """The whole report: every targeted host (unreachable when it has no row), the summary, and the optional
    Defender for Cloud section.  ``generated`` and ``run`` default to the current UTC time and a new run id;
    ``interrupted`` lists earlier runs that started and wrote no report (see interrupted_runs)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    generated = generated or now.strftime("%Y-%m-%dT%H:%M:%SZ")
    run = check_run_id(run or run_id(now, job_id))
    hosts = {}
    for name in all_hosts:
        entry = rows.get(name)
        if entry:
            kept = {k: entry.get(k) for k in ROW_KEYS}
            kept.update(_sections(entry, name))
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
               "by_status": by_status, "by_generation": by_generation,
               "interrupted_runs": [e for e in _interrupted_entries(interrupted) if e["run_id"] != run]}
    report = {"report_version": REPORT_VERSION, "run_id": run, "generated": generated, "playbook": playbook,
              "dry_run": bool(dry_run), "summary": summary, "hosts": hosts}
    section = defender_for_cloud(cloud)
    if cloud is not None:
        report["defender_for_cloud"] = section
        summary["defender_for_cloud"] = {"subscriptions": len(section),
                                         "changed": sum(1 for e in section if e.get("changed")),
                                         "failed": sum(1 for e in section if e.get("failed"))}
    return report


def _interrupted_entries(items) -> list:
    """Named keys only of the interrupted runs given to the report, newest first."""
    if items is None:
        return []
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, dict) for i in items):
        raise ReportError("the interrupted runs must be a list of dicts (run_id, playbook, started), "
                          f"not {type(items).__name__}.")
    entries = [{"run_id": str(i.get("run_id") or ""), "playbook": _text_or_none(i.get("playbook"), 64),
                "started": _text_or_none(i.get("started"), 32)} for i in items]
    return sorted(entries, key=lambda e: (e["started"] or "", e["run_id"]), reverse=True)[:INTERRUPTED_SHOWN]


def start_marker(playbook: str, hosts, check_mode: bool, run: str = "", job_id="",
                 now: datetime.datetime | None = None) -> dict:
    """What runs/<run id>/started.json holds: the run id the report at the end reuses (given, else a new one),
    the playbook, when it started (UTC), the hosts it targets and whether it is a dry run."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {"run_id": check_run_id(str(run or "") or run_id(now, job_id)),
            "playbook": _one_line(playbook)[:64] or "unknown", "started": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "hosts": [str(h) for h in hosts or []], "check_mode": bool(check_mode)}


def _read_json(path: str):
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def interrupted_runs(report_dir: str, exclude: str = "") -> list:
    """The runs under <report_dir>/runs/ that wrote started.json and neither report.json nor finished.json
    (interrupted, or still running), newest first, at most INTERRUPTED_SHOWN; ``exclude`` is this run's id."""
    runs = os.path.join(str(report_dir), "runs")
    try:
        names = os.listdir(runs)
    except OSError:
        return []
    found = []
    for name in names:
        folder = os.path.join(runs, name)
        if name == exclude or not _RUN_ID.match(name) or not os.path.isfile(os.path.join(folder, "started.json")):
            continue
        if any(os.path.exists(os.path.join(folder, done)) for done in ("report.json", "finished.json")):
            continue
        marker = _read_json(os.path.join(folder, "started.json")) or {}
        # the folder's name is the run id: a marker's content cannot point anywhere else
        found.append({"run_id": name, "playbook": marker.get("playbook"), "started": marker.get("started")})
    return _interrupted_entries(found)


def in_progress_run(report_dir: str) -> str:
    """The run id <report_dir>/in_progress.json names, or "" (no such file, or one that cannot be read)."""
    marker = _read_json(os.path.join(str(report_dir), "in_progress.json")) or {}
    return str(marker.get("run_id") or "")


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
        entry.update(_flat_sections(entry))
        writer.writerow([_cell(name)] + [_cell(entry.get(c)) for c in COLUMNS[1:]])
    return out.getvalue()


def _flat_sections(entry: dict) -> dict:
    """The CSV columns of the Arc and Defender for Identity sections; empty cells for a host without them.
    mdi_sensor is v2 or v3, "none" on a domain controller without a sensor, empty on any other host."""
    arc = entry.get("arc") if isinstance(entry.get("arc"), dict) else {}
    extension = arc.get("extension") if isinstance(arc.get("extension"), dict) else {}
    identity = entry.get("defender_for_identity")
    flat = {"arc_status": arc.get("status"), "arc_resource_id": arc.get("resource_id"),
            "arc_extension": " ".join(str(extension[k]) for k in ("name", "state") if extension.get(k)) or None,
            "mdi_sensor": None, "mdi_ready": None}
    if isinstance(identity, dict):
        flat.update(mdi_sensor=identity.get("sensor") or "none", mdi_ready=bool(identity.get("ready")))
    return flat
