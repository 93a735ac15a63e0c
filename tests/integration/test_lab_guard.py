"""The lab reads the payloads that every supported ansible-core builds, and rejects what a host would reject."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from conftest import ROOT, Lab, write_inventory
from test_mde_info_lab import run_info

VENVS = {"ansible-core 2.19": ROOT / ".venv-ansible219", "ansible-core (latest)": ROOT / ".venv"}


@pytest.mark.parametrize("name", sorted(VENVS))
def test_payloads_of_each_supported_ansible_core(name, tmp_path):
    venv = VENVS[name]
    if not (venv / "bin" / "ansible-playbook").exists():
        pytest.fail(f"{venv} is missing: run scripts/setup.sh")
    version = subprocess.run([str(venv / "bin" / "ansible"), "--version"], capture_output=True, text=True, check=True).stdout
    lab = Lab(tmp_path / "state", venv=venv)
    inventory = write_inventory(tmp_path / "inv.json", {
        "w": {"profile": "windows_server_2016"}, "l": {"profile": "rhel_9"}})
    _proc, results = run_info(lab, tmp_path / "out", inventory=inventory, check_rc=0)
    assert results["w"]["generation"] == "unified" and results["l"]["generation"] == "linux", version
    assert [c["module"] for c in lab.calls("w")] == ["defender.endpoint.mde_host"]
    assert [c["module"] for c in lab.calls("l")] == ["defender.endpoint.mde_host_linux"]
    assert lab.calls("w")[0]["arg_names"] == ["av_services", "operation"]


def raw(tmp_path, profile, executor_args):
    lab = Lab(tmp_path / "state")
    inventory = write_inventory(tmp_path / "inv.json", {"h": {"profile": profile}})
    proc = lab.playbook(ROOT / "tests" / "integration" / "playbooks" / "raw_executor.yml", "-e",
                        json.dumps({"executor_args": executor_args}), inventory=inventory)
    return lab, proc


def test_undeclared_argument_is_rejected(tmp_path):
    lab, proc = raw(tmp_path, "windows_server_2019", {"operation": "probe", "bogus": 1})
    assert proc.returncode == 2
    assert "Unsupported parameters for (defender.endpoint.mde_host) module: bogus" in proc.stdout
    assert lab.calls("h")[0]["outcome"] == "failed"


def test_value_outside_choices_is_rejected(tmp_path):
    _lab, proc = raw(tmp_path, "windows_server_2019", {"operation": "format_disk"})
    assert proc.returncode == 2 and "value of operation must be one of: probe" in proc.stdout


def test_unknown_module_is_rejected(tmp_path):
    lab, proc = raw(tmp_path, "debian_12", {})
    assert proc.returncode == 2 and "module ansible.modules.ping is not modeled" in proc.stdout
    assert lab.calls("h")[0]["outcome"] == "failed"


def test_lab_never_imports_the_collections_planning_code():
    pattern = re.compile(r"^\s*(from|import)\s+\S*(ansible_collections|plugin_utils)", re.MULTILINE)
    for path in (ROOT / "tests" / "lab").rglob("*.py"):
        assert not pattern.search(path.read_text()), path


@pytest.mark.parametrize("name", sorted(VENVS))
def test_onboarding_through_each_supported_ansible_core(name, packages, tmp_path):
    """probe, put_file and apply with no_log secrets, on Windows and Linux, with the oldest and the newest core."""
    from windows_lab import ONBOARD, onboard_args  # pylint: disable=import-outside-toplevel

    lab = Lab(tmp_path / "state", venv=VENVS[name])
    packages_both = [packages["win_onboard_zip"], packages["linux_onboard_json"]]
    both = {"mde_test_args": onboard_args(packages, "unified", onboarding_package=packages_both)}
    hosts = {"w": {"profile": "windows_server_2012_r2", "vars": both}, "l": {"profile": "ubuntu_22_04", "vars": both}}
    inventory = write_inventory(tmp_path / "inv.json", hosts)
    _proc, results = lab.run(ONBOARD, inventory, tmp_path / "out")
    assert results["w"]["verified"] and results["l"]["verified"], name
    assert [c.get("operation", "transfer") for c in lab.calls("w")] == ["probe", "transfer", "apply"]
    assert [c["operation"] for c in lab.calls("l")] == ["probe", "apply"]


@pytest.mark.parametrize("name", sorted(VENVS))
def test_fixed_interface_connection_and_profile_only(name, tmp_path):
    """Every profile with nothing but ansible_connection and mde_lab_profile, as the lab's interface promises;
    a Windows host named with the cmd shell (ansible-core 2.21's winrm default) is a Windows host too."""
    from labmodel import profiles  # pylint: disable=import-outside-toplevel

    lab = Lab(tmp_path / "state", venv=VENVS[name])
    hosts = {profile: {"ansible_connection": "mde_lab", "mde_lab_profile": profile} for profile in profiles.PROFILES}
    hosts["cmd-shell"] = {"ansible_connection": "mde_lab", "mde_lab_profile": "windows_server_2022",
                          "ansible_shell_type": "cmd"}
    inventory = tmp_path / "inv.json"
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}))
    _proc, results = run_info(lab, tmp_path / "out", inventory=inventory, check_rc=0)
    assert set(results) == set(hosts)
    for host, result in results.items():
        windows = hosts[host]["mde_lab_profile"].startswith("windows")
        assert not result.get("failed"), (host, result.get("msg"))
        modules = [c["module"] for c in lab.executions(host)]
        assert modules == ["defender.endpoint.mde_host" if windows else "defender.endpoint.mde_host_linux"], host
        raw_calls = [c for c in lab.calls(host) if "raw" in c]
        assert raw_calls == ([] if windows else [{"raw": "interpreter_discovery", "outcome": "ok",
                                                  "ts": raw_calls[0]["ts"]}]), host
