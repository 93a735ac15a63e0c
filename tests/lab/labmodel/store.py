"""Per-host state that survives tasks, forks and playbook runs: ``$MDE_LAB_STATE_DIR/<host>/state.json``,
guarded by a file lock, and the log of every remote execution in ``calls.jsonl``."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time


def state_dir() -> str:
    return os.environ.get("MDE_LAB_STATE_DIR") or os.path.join(tempfile.gettempdir(), "mde-lab-state")


def host_dir(host: str) -> str:
    path = os.path.join(state_dir(), host)
    os.makedirs(path, exist_ok=True)
    return path


@contextlib.contextmanager
def locked(host: str):
    with open(os.path.join(host_dir(host), ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load(host: str, make_initial) -> dict:
    path = os.path.join(host_dir(host), "state.json")
    if os.path.exists(path):
        with open(path) as handle:
            return json.load(handle)
    state = make_initial()
    save(host, state)
    return state


def save(host: str, state: dict) -> None:
    path = os.path.join(host_dir(host), "state.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(state, handle, indent=2, sort_keys=True)
    os.replace(tmp, path)


def log_call(host: str, entry: dict) -> None:
    entry = dict(entry, ts=round(time.time(), 3))
    with open(os.path.join(host_dir(host), "calls.jsonl"), "a") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")


def _staged_name(remote_path: str) -> str:
    return remote_path.replace("\\", "/").rsplit("/", 1)[-1]


def stage(host: str, remote_path: str, data: bytes) -> None:
    """A file the controller copied to the host (put_file); kept apart from state.json."""
    folder = os.path.join(host_dir(host), "staged")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, _staged_name(remote_path)), "wb") as handle:
        handle.write(data)


def staged_file(host: str, remote_path: str, delete: bool = False) -> bytes | None:
    path = os.path.join(host_dir(host), "staged", _staged_name(remote_path))
    if not os.path.exists(path):
        return None
    if delete:
        os.remove(path)
        return None
    with open(path, "rb") as handle:
        return handle.read()


def fired_faults(host: str) -> set:
    """Faults that fire once (msi_busy, connection_drop_during_apply) and already did."""
    path = os.path.join(host_dir(host), "fired.json")
    if not os.path.exists(path):
        return set()
    with open(path) as handle:
        return set(json.load(handle))


def save_fired(host: str, fired: set) -> None:
    with open(os.path.join(host_dir(host), "fired.json"), "w") as handle:
        json.dump(sorted(fired), handle)
