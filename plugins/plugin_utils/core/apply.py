# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The apply stage of the host actions: stage the files the steps need, run the steps in one remote execution,
and read each step's record back.

Internal use only: the interface may change without notice.

Files a plan needs (md4ws.msi, the MMA setup) are copied once, only when a step uses them, into the
host's temporary folder reported by the probe; the executor deletes them when the steps are done.
"""

from __future__ import annotations

import dataclasses
import ntpath
import posixpath

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import executor as _executor
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import steps as _steps


@dataclasses.dataclass
class Applied:
    facts: dict
    records: list
    failed: dict | None
    reboot_required: bool


def public_steps(steps: list[dict], status: str) -> list[dict]:
    """Steps as shown in results: name, a readable line, a status; never a secret or a local path."""
    return [{"name": s["name"], "description": _steps.describe(s), "status": status} for s in steps]


def _stage(action, facts: dict, steps: list[dict]) -> tuple[list[dict], list[str]]:
    windows = _executor.is_windows(action)
    folder = facts.get("staging_dir") or ("C:\\Windows\\Temp" if windows else "/var/tmp")
    join = ntpath.join if windows else posixpath.join
    sent, staged, copied = [], [], {}
    for step in steps:
        step = dict(step)
        local = step.pop("local_path", None)
        name = step.pop("file_name", None)
        if local:
            if local not in copied:
                copied[local] = join(folder, f"defender.endpoint-{step['sha256'][:12]}-{name}")
                action._connection.put_file(local, copied[local])
                staged.append(copied[local])
            step["path"] = copied[local]
        sent.append(step)
    return sent, staged


def apply(action, task_vars: dict, facts: dict, steps: list[dict], secrets: dict, timeout: int,
          extra_av_services=()) -> Applied:
    sent, staged = _stage(action, facts, steps)
    result = _executor.apply(action, task_vars, sent, secrets, staged, timeout, extra_av_services)
    records = []
    failed = None
    for index, record in enumerate(result.get("steps") or []):
        record = dict(record)
        shown = dict(steps[index])
        shown.pop("local_path", None)
        record["step"] = shown
        record["description"] = _steps.describe(steps[index])
        records.append(record)
        if record.get("status") == "failed" and failed is None:
            failed = record
    reboot = any(r.get("reboot_required") for r in records)
    return Applied(result.get("facts") or {}, records, failed, reboot)


def shown_records(records: list[dict]) -> list[dict]:
    keep = ("name", "description", "status", "rc", "attempts", "reboot_required", "detail")
    return [{k: r[k] for k in keep if k in r} for r in records]
