"""Shared pytest set-up: import the collection from the checkout's collection tree, and run playbooks on the lab."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / ".build" / "collections"
LAB = ROOT / "tests" / "lab"
sys.path.insert(0, str(LAB))

from ansible.plugins.loader import init_plugin_loader  # noqa: E402  pylint: disable=wrong-import-position

# The collection finder imports ansible_collections.defender.endpoint from the checkout's collection tree.
init_plugin_loader([str(COLLECTIONS)])

import package_factory  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope="session")
def packages(tmp_path_factory):
    """Every kind of package, freshly generated (valid offboarding packages expire, so none is committed)."""
    return package_factory.write_set(str(tmp_path_factory.mktemp("packages")))


class Lab:
    """Runs ansible-playbook against the simulated lab with its own state folder."""

    def __init__(self, state_dir: pathlib.Path, venv: pathlib.Path = ROOT / ".venv"):
        self.state_dir = state_dir
        self.venv = venv

    def env(self, **extra):
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_CONNECTION_PLUGINS": str(LAB / "connection_plugins"),
            "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "MDE_LAB_STATE_DIR": str(self.state_dir),
            "PATH": f"{self.venv / 'bin'}:{env.get('PATH', '')}",
        })
        env.update(extra)
        return env

    def playbook(self, playbook, *args, inventory=LAB / "inventory.yml", check_rc=None, **env):
        cmd = [str(self.venv / "bin" / "ansible-playbook"), "-i", str(inventory), str(playbook), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env(**env), cwd=str(ROOT), timeout=600, check=False)
        if check_rc is not None:
            assert proc.returncode == check_rc, proc.stdout[-4000:] + proc.stderr[-4000:]
        return proc

    def calls(self, host):
        """Every entry of the host's calls.jsonl: module executions and file transfers."""
        path = self.state_dir / host / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def executions(self, host):
        """Remote module executions only (the round-trip budget: one probe, at most one apply)."""
        return [c for c in self.calls(host) if "module" in c]

    def state(self, host):
        return json.loads((self.state_dir / host / "state.json").read_text())

    def reboot(self, host):
        """What a restart does to a modeled Windows host: pending operations complete."""
        state = self.state(host)
        state["pending_reboot"] = False
        (self.state_dir / host / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True))

    def run(self, playbook, inventory, out, *args, check_rc=None):
        """Run a test playbook that saves one JSON result per host into out; return (proc, results)."""
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*.json"):
            old.unlink()
        proc = self.playbook(playbook, *args, inventory=inventory, check_rc=check_rc, MDE_TEST_OUT=str(out))
        return proc, {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}

    def state_bytes(self, host):
        path = self.state_dir / host / "state.json"
        return path.read_bytes() if path.exists() else None


@pytest.fixture
def lab(tmp_path):
    return Lab(tmp_path / "lab-state")


def write_inventory(path: pathlib.Path, hosts: dict) -> pathlib.Path:
    """Write a lab inventory: {name: {profile, state?, faults?, vars?}}."""
    windows, linux = {}, {}
    sys.path.insert(0, str(LAB))
    from labmodel import profiles  # pylint: disable=import-outside-toplevel

    for name, spec in hosts.items():
        hostvars = {"mde_lab_profile": spec["profile"]}
        if spec.get("state"):
            hostvars["mde_lab_state"] = spec["state"]
        if spec.get("faults"):
            hostvars["mde_lab_faults"] = spec["faults"]
        hostvars.update(spec.get("vars") or {})
        (windows if profiles.PROFILES[spec["profile"]]["platform"] == "windows" else linux)[name] = hostvars
    inventory = {"all": {"children": {
        # The lab's fixed interface: the connection and the profile; the shell comes from the profile.
        "lab_windows": {"vars": {"ansible_connection": "mde_lab"}, "hosts": windows},
        "lab_linux": {"vars": {"ansible_connection": "mde_lab", "ansible_python_interpreter": "/usr/bin/python3"},
                      "hosts": linux},
    }}}
    path.write_text(json.dumps(inventory))
    return path
