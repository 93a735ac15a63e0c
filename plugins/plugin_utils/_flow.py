# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The apply half of probe -> plan -> apply -> verify, shared by the host-side action plugins.

Internal use only: the interface may change without notice.

Files a plan needs (md4ws.msi, the MMA setup) are copied once, only when a step uses them, into the
host's temporary folder reported by the probe; the executor deletes them when the steps are done.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ntpath
import os
import posixpath

from ansible.errors import AnsibleActionFail

from ansible_collections.defender.endpoint.plugins.plugin_utils import _executor, _inputs, _steps


_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclasses.dataclass
class Applied:
    facts: dict
    records: list
    failed: dict | None
    reboot_required: bool


def arguments(action, spec: dict, may_be_empty=(), **constraints) -> dict:
    """The task's arguments, validated: the shapes Ansible would convert silently first (one sentence each), then
    the argument spec with its declared constraints (required_if, required_by, mutually_exclusive)."""
    try:
        _inputs.check_raw(action._task.args, spec, may_be_empty)
    except _inputs.InputError as exc:
        raise AnsibleActionFail(str(exc)) from None
    _validation, args = action.validate_argument_spec(argument_spec=spec, **constraints)
    return args


def local_file(path: str, option: str, directory_hint: str, missing_hint: str) -> dict:
    """A controller-side file a step will copy to the host: its path, sha256 and name, or one sentence why not.

    ``directory_hint`` says what to give instead of a directory; ``missing_hint`` ends the "does not exist"
    sentence (with its own leading punctuation).
    """
    if os.path.isdir(path):
        raise AnsibleActionFail(f"{option} {path} is a directory; {directory_hint}.")
    if not os.path.isfile(path):
        raise AnsibleActionFail(f"{option} {path} does not exist on the controller{missing_hint}.")
    digest = hashlib.sha256()
    head = b""
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                head = head or chunk[:8]
                digest.update(chunk)
    except OSError as exc:
        raise AnsibleActionFail(f"{option} {path} cannot be read on the controller ({exc.strerror}); check its "
                                "permissions for the user that runs Ansible.") from None
    return {"local_path": path, "sha256": digest.hexdigest(), "name": os.path.basename(path),
            "format": file_format(head)}


def file_format(head: bytes) -> str | None:
    """An installer's format by its first bytes: ``msi`` (an OLE compound document, as md4ws.msi), ``exe`` (a
    Windows executable, ``MZ``, as MMASetup-AMD64.exe), else None."""
    if head[:8] == _OLE_MAGIC:
        return "msi"
    if head[:2] == b"MZ":
        return "exe"
    return None


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
