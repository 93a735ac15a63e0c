"""The real-host molecule scenarios (extensions/molecule/windows and linux) run as a user runs them, with lab
hosts standing in for the user's inventory: the whole sequence, the refusals before any host is changed, a
failed converge whose destroy leaves the host it never onboarded alone, and a verify that finds a host not
onboarded (issue 15, item 5)."""

from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import re
import subprocess
import time

import pytest

from conftest import COLLECTIONS, LAB, ROOT, write_inventory
from windows_lab import secrets

import package_factory

VENV = ROOT / ".venv"
MOLECULE = VENV / "bin" / "molecule"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

pytestmark = pytest.mark.skipif(not MOLECULE.exists(), reason="molecule is not installed in .venv (scripts/setup.sh)")

WINDOWS = {"srv2019": {"profile": "windows_server_2019"}, "srv2016": {"profile": "windows_server_2016"}}
LINUX = {"ubuntu2204": {"profile": "ubuntu_22_04"}, "debian12": {"profile": "debian_12"}}


class Case:
    """One user's run: its own inventory, lab state, molecule ephemeral folder and ANSIBLE_HOME."""

    def __init__(self, base: pathlib.Path, name: str, fleet_vars: pathlib.Path, hosts: dict):
        self.dir = base / name
        self.dir.mkdir(parents=True)
        self.hosts = hosts
        self.inventory = write_inventory(self.dir / "inventory.yml", hosts) if hosts else None
        self.fleet_vars = fleet_vars
        self.state_dir = self.dir / "lab-state"
        self.ephemeral = self.dir / "ephemeral"
        self.runs: list[dict] = []
        self.snapshots: dict = {}

    def env(self, inventory) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MOLECULE_", "MDE_MOLECULE_")) and k != "MDE_REPORT_DIR"}
        env.update({
            "PATH": f"{VENV / 'bin'}:{env.get('PATH', '')}",
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_CONNECTION_PLUGINS": str(LAB / "connection_plugins"),
            "ANSIBLE_HOME": str(self.dir / "ansible-home"),
            "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "NO_COLOR": "1", "PY_COLORS": "0",
            "MOLECULE_EPHEMERAL_DIRECTORY": str(self.ephemeral),
            "MDE_LAB_STATE_DIR": str(self.state_dir),
            "MDE_MOLECULE_VARS": str(self.fleet_vars),
        })
        if inventory is not None:
            env["MDE_MOLECULE_INVENTORY"] = str(inventory)
        return env

    def molecule(self, command: str, scenario: str, inventory="default") -> dict:
        inventory = self.inventory if inventory == "default" else inventory
        started = time.monotonic()
        proc = subprocess.run([str(MOLECULE), command, "-s", scenario], capture_output=True, text=True,
                              env=self.env(inventory), cwd=str(ROOT), timeout=600, check=False)
        run = {"command": f"molecule {command} -s {scenario}", "rc": proc.returncode,
               "out": ANSI.sub("", proc.stdout + proc.stderr), "seconds": round(time.monotonic() - started, 1)}
        self.runs.append(run)
        return run

    def calls(self, host) -> list:
        path = self.state_dir / host / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def state(self, host) -> dict:
        return json.loads((self.state_dir / host / "state.json").read_text())

    def snapshot(self, label):
        self.snapshots[label] = {h: (self.calls(h), (self.state_dir / h / "state.json").read_bytes())
                                 for h in self.hosts if (self.state_dir / h / "state.json").exists()}

    def read_hosts(self) -> dict:
        """Each host as defender.endpoint.mde_info reads it now (read-only), independent of the scenario."""
        proc = subprocess.run([str(VENV / "bin" / "ansible"), "all", "-i", str(self.inventory), "-o", "-m",
                               "defender.endpoint.mde_info"], capture_output=True, text=True, env=self.env(None),
                              cwd=str(ROOT), timeout=300, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return {m.group(1): json.loads(m.group(2)) for m in re.finditer(r"^(\S+) \| SUCCESS => (\{.*\})$",
                                                                        proc.stdout, re.M)}

    def text(self, tail: int | None = None) -> str:
        """Every run's command, rc and output (its last ``tail`` characters, for an assertion message)."""
        runs = [f"$ {r['command']} -> rc {r['rc']} in {r['seconds']} s\n{r['out'][-(tail or 0):]}" for r in self.runs]
        return "\n".join(runs)


def _failed_converge(case, scenario):
    case.molecule("converge", scenario)
    record = case.ephemeral / "onboarded_hosts.json"
    case.snapshots["record"] = json.loads(record.read_text()) if record.exists() else None
    case.snapshot("after_converge")
    case.molecule("destroy", scenario)
    case.snapshot("after_destroy")


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """Every case at once (each in its own folders), so that the scenarios' wall time overlaps."""
    base = tmp_path_factory.mktemp("molecule")
    paths = package_factory.write_set(str(base / "packages"))
    fleet_vars = base / "fleet-vars.json"
    fleet_vars.write_text(json.dumps(package_factory.fleet_vars(paths)))
    (base / "empty.yml").write_text("all: {}\n")
    onboarded = {"onboarded_org": package_factory.FAKE_ORG}
    windows_and_others = {"srv2019": {"profile": "windows_server_2019"}, "srv2012": {"profile": "windows_server_2012"},
                          "ubuntu2204": {"profile": "ubuntu_22_04"},
                          "srv2022-down": {"profile": "windows_server_2022", "faults": ["unreachable"]}}
    linux_and_windows = {"debian12": {"profile": "debian_12"}, "srv2016": {"profile": "windows_server_2016"}}
    one_fails = {"srv2019": {"profile": "windows_server_2019"},
                 "srv2016-unsigned": {"profile": "windows_server_2016", "faults": ["installer_unsigned"]}}
    one_onboarded = {"srv2019-onboarded": {"profile": "windows_server_2019", "state": onboarded},
                     "srv2016": {"profile": "windows_server_2016"}}
    # A user's settings that limit the playbooks to one host: verify must still account for every host.
    limited_vars = base / "fleet-vars-one-host.json"
    limited_vars.write_text(json.dumps(dict(package_factory.fleet_vars(paths), mde_hosts="srv2019-onboarded")))
    # name: (hosts of its inventory, or the inventory path it is given; what the user runs). Two refusals run the
    # whole molecule test (destroy follows the failure); the others stop at converge, to keep the time down.
    plan = {
        "windows": (WINDOWS, lambda c: c.molecule("test", "windows")),
        "linux": (LINUX, lambda c: c.molecule("test", "linux")),
        "unset": (None, lambda c: c.molecule("test", "windows")),
        "missing": (base / "absent" / "inventory.yml", lambda c: c.molecule("converge", "linux")),
        "relative": (pathlib.Path("inventory.yml"), lambda c: c.molecule("converge", "windows")),
        "empty": (base / "empty.yml", lambda c: c.molecule("converge", "windows")),
        "wrong_os_windows": (windows_and_others, lambda c: c.molecule("test", "windows")),
        "wrong_os_linux": (linux_and_windows, lambda c: c.molecule("converge", "linux")),
        "failed_converge": (one_fails, lambda c: _failed_converge(c, "windows")),
        "verify_not_onboarded": (one_onboarded, lambda c: c.molecule("verify", "windows")),
        "verify_host_left_out": (one_onboarded, lambda c: c.molecule("verify", "windows")),
    }
    built = {}
    for name, (hosts, _job) in plan.items():
        built[name] = Case(base, name, fleet_vars, hosts if isinstance(hosts, dict) else {})
        if not isinstance(hosts, dict):
            built[name].inventory = hosts
    built["verify_host_left_out"].fleet_vars = limited_vars
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        for future in [pool.submit(job, built[name]) for name, (_hosts, job) in plan.items()]:
            future.result()
    print(f"\nmolecule cases: {round(time.monotonic() - started, 1)} s wall; "
          + ", ".join(f"{n} {sum(r['seconds'] for r in c.runs)} s" for n, c in built.items()))
    return built


def _sentence(case, text):
    """The sentence is in the output, however ansible-playbook and molecule wrapped its lines."""
    assert text in " ".join(case.text().split()), case.text(6000)


@pytest.mark.parametrize("name, scenario", [("windows", "windows"), ("linux", "linux")])
def test_scenario_onboards_verifies_and_offboards_every_host(cases, name, scenario):
    case = cases[name]
    run = case.runs[0]
    assert run["rc"] == 0, case.text(6000)
    for step in ("converge", "idempotence", "verify", "destroy"):
        assert f"{scenario} > {step}: Executed: Successful" in run["out"], case.text(6000)
    hosts = sorted(case.hosts)
    # verify read the report: every inventory host onboarded and verified; destroy offboarded exactly those.
    _sentence(case, f"every host of the inventory onboarded and verified: {', '.join(hosts)}")
    _sentence(case, f"onboarded by this scenario, offboarded by destroy: {', '.join(hosts)}")
    _sentence(case, f"offboarded, read again and not onboarded: {', '.join(hosts)}")
    # What the hosts went through: onboarded (the product installed, an onboarding apply), then offboarded.
    for host in hosts:
        operations = [c["operation"] for c in case.calls(host) if "module" in c]
        assert operations.count("apply") >= 2, (host, operations)
        state = case.state(host)
        if scenario == "windows":
            assert state["onboarded_org"] is None and state["offboarding_value"], (host, state)
        else:
            assert state["mdatp"]["installed"] and state["offboarding_json"], (host, state)
    if scenario == "windows":
        assert case.state("srv2016")["md4ws"]["installed"]      # the unified path ran on 2016
    # Read again, independently of the scenario: no host is left onboarded.
    read = case.read_hosts()
    assert sorted(read) == hosts
    assert {h: r["onboarded"] for h, r in read.items()} == {h: False for h in hosts}
    for secret in secrets():
        assert secret not in case.text()


def _untouched(case):
    """Only read-only probes reached the hosts: no transfer, no apply."""
    for host in case.hosts:
        calls = case.calls(host)
        assert all("transfer" not in c for c in calls), (host, calls)
        assert {c["operation"] for c in calls if "module" in c} <= {"probe"}, (host, calls)


@pytest.mark.parametrize("name, sentence", [
    ("unset", "MDE_MOLECULE_INVENTORY is not set: set it to the absolute path of an inventory of disposable "
              "Windows test hosts"),
    ("missing", "/absent/inventory.yml does not exist on the controller."),
    ("relative", "MDE_MOLECULE_INVENTORY=inventory.yml is not an absolute path"),
    ("empty", "empty.yml holds no host (or ansible-playbook could not parse it: see the warnings above): add the "
              "Windows test hosts the windows scenario should onboard, verify and offboard."),
])
def test_scenario_refuses_a_missing_or_empty_inventory(cases, name, sentence):
    case = cases[name]
    assert case.runs[0]["rc"] != 0, case.text(6000)
    _sentence(case, sentence)
    # molecule test goes on to destroy after the failure: with no host onboarded, it offboards none.
    if case.runs[0]["command"].startswith("molecule test"):
        _sentence(case, "converge onboarded no host: nothing to offboard")
    assert "Executed: Failed" in case.runs[0]["out"]


def test_windows_scenario_refuses_linux_unsupported_and_silent_hosts_before_changing_any(cases):
    case = cases["wrong_os_windows"]
    assert case.runs[0]["rc"] != 0, case.text(6000)
    _sentence(case, "The windows scenario takes supported Windows hosts only, and ")
    _sentence(case, "holds hosts it cannot onboard: srv2012 is unsupported (host runs Windows Server 2012 "
                    "(version 6.2.9200, build 9200), which Defender for Endpoint does not support; supported:")
    _sentence(case, "ubuntu2204 runs Ubuntu 22.04.4 LTS, not Windows")
    _sentence(case, "srv2022-down could not be read (")
    assert "srv2019 runs" not in case.text() and "srv2019 is unsupported" not in case.text()
    # molecule test goes on to destroy after the failure: it offboards none of the hosts.
    _sentence(case, "converge onboarded no host: nothing to offboard")
    _untouched(case)


def test_linux_scenario_refuses_windows_hosts_before_changing_any(cases):
    case = cases["wrong_os_linux"]
    assert case.runs[0]["rc"] != 0, case.text(6000)
    _sentence(case, "The linux scenario takes supported Linux hosts only, and ")
    _sentence(case, "holds hosts it cannot onboard: srv2016 runs Windows Server 2016 (version 10.0.14393, "
                    "build 14393), not Linux.")
    assert "debian12 runs" not in case.text()
    _untouched(case)


def test_destroy_after_a_failed_converge_offboards_only_the_hosts_converge_onboarded(cases):
    case = cases["failed_converge"]
    converge, destroy = case.runs
    assert converge["rc"] != 0, case.text(6000)
    assert "Authenticode signature is HashMismatch" in converge["out"]
    assert "srv2016-unsigned" not in (case.snapshots["record"] or [])
    assert destroy["rc"] == 0, case.text(6000)
    _sentence(case, "offboarding the hosts converge onboarded: srv2019")
    before, after = case.snapshots["after_converge"], case.snapshots["after_destroy"]
    # The host converge never onboarded: not one call during destroy, its state byte for byte the same.
    assert after["srv2016-unsigned"] == before["srv2016-unsigned"]
    # The host it onboarded: offboarded by destroy, and read so.
    assert len(after["srv2019"][0]) > len(before["srv2019"][0])
    assert json.loads(after["srv2019"][1])["onboarded_org"] is None
    assert {h: r["onboarded"] for h, r in case.read_hosts().items()} == {"srv2019": False,
                                                                         "srv2016-unsigned": False}


def test_verify_fails_when_a_host_of_the_inventory_is_not_onboarded(cases):
    case = cases["verify_not_onboarded"]
    assert case.runs[0]["rc"] != 0, case.text(6000)
    # playbooks/verify.yml fails the host once the report is written; the onboarded one passes.
    assert re.search(r"^fatal: \[srv2016\]: FAILED! => .*not onboarded", case.text(), re.M), case.text(6000)
    assert "fatal: [srv2019-onboarded]" not in case.text()
    _untouched(case)


def test_verify_fails_when_the_report_leaves_a_host_of_the_inventory_out(cases):
    case = cases["verify_host_left_out"]
    assert case.runs[0]["rc"] != 0, case.text(6000)
    _sentence(case, "The report of playbooks/verify.yml does not show every host of the inventory onboarded and "
                    "verified: missing from it: srv2016; not onboarded: none")
    assert case.calls("srv2016") == []
