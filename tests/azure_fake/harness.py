# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run the collection's Azure modules through ansible-playbook on localhost against a FakeAzure."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

from .server import CLIENT_ID, SECRET, SUBSCRIPTION, TENANT

ROOT = pathlib.Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / ".build" / "collections"
BIN = pathlib.Path(sys.executable).parent


def auth_args(fake, **extra):
    """The module_defaults a test sets once for group/defender.endpoint.azure."""
    args = {"subscription_id": SUBSCRIPTION, "client_id": CLIENT_ID, "secret": SECRET, "tenant": TENANT,
            "authority": fake.url, "arm_endpoint": fake.url, "disable_instance_discovery": True,
            "ca_bundle": fake.ca, "request_retries": 2}
    args.update(extra)
    return {k: v for k, v in args.items() if v is not None}


def env(**extra):
    result = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    result.update({"ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
                   "ANSIBLE_RETRY_FILES_ENABLED": "False", "NO_PROXY": "127.0.0.1,localhost",
                   "no_proxy": "127.0.0.1,localhost", "PATH": "{0}:{1}".format(BIN, os.environ.get("PATH", ""))})
    result.update(extra)
    return result


class Result:
    def __init__(self, proc, results):
        self.proc, self.results = proc, results
        self.output = proc.stdout + proc.stderr

    def __getitem__(self, index):
        return self.results[index]


def run(tmp_path, fake, tasks, *args, defaults=None, interpreter=None, play_vars=None, may_stop=False, **extra_env):
    """Run tasks (dicts of one module each) on localhost; return every task's registered result in order.

    Each task is registered and may fail (ignore_errors) so that failures are results the test can read; a play
    that stops anyway (a failing task inside a role) gives no results, which only may_stop accepts.
    """
    tmp_path = pathlib.Path(tmp_path)
    out = tmp_path / "results.json"
    names = [task.get("register") or "r{0}".format(i) for i, task in enumerate(tasks)]
    body = []
    for name, task in zip(names, tasks):
        body.append(dict(task, register=name, ignore_errors=True))
    body.append({"name": "save the results", "ansible.builtin.copy": {
        "content": "{{ [" + ", ".join(names) + "] | to_json }}", "dest": str(out), "mode": "0600"},
        "check_mode": False})
    play = {"name": "azure test", "hosts": "localhost", "gather_facts": False, "tasks": body,
            "vars": play_vars or {}}
    defaults = auth_args(fake) if defaults is None else defaults
    if defaults:
        play["module_defaults"] = {"group/defender.endpoint.azure": defaults}
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([play]))
    if out.exists():
        out.unlink()
    cmd = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=" + (interpreter or sys.executable), str(playbook), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env(**extra_env), cwd=str(tmp_path),
                          timeout=300, check=False)
    results = json.loads(out.read_text()) if out.exists() else []
    assert results or may_stop, proc.stdout[-3000:] + proc.stderr[-3000:]
    return Result(proc, results)
