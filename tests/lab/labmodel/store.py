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
