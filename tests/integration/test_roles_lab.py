"""Each role on its own: argument specs that reject a wrong type with a clear message, the offboard entry
point, and a role used without the playbook's assessment (issue: roles per generation)."""

from __future__ import annotations

import json

import pytest

from conftest import Lab
from windows_lab import inventory

import package_factory

ROLES = {"windows_modern": "windows_server_2022", "windows_unified": "windows_server_2016",
         "windows_downlevel": "windows_7_sp1", "linux": "debian_12"}


def _play(tmp_path, role, role_vars, tasks_from=None):
    include = {"name": f"defender.endpoint.{role}"}
    if tasks_from:
        include["tasks_from"] = tasks_from
    play = [{"name": "role", "hosts": "all", "gather_facts": False,
             "tasks": [{"name": "run the role", "ansible.builtin.include_role": include, "vars": role_vars}]}]
    path = tmp_path / f"{role}.json"
    path.write_text(json.dumps(play))
    return path


@pytest.mark.parametrize("role,bad_var,value", [
    ("windows_modern", "windows_modern_step_timeout", "soon"),
    ("windows_unified", "windows_unified_passive_mode", "maybe"),
    ("windows_downlevel", "windows_downlevel_installer_remote", "perhaps"),
    ("linux", "linux_health_timeout", [1, 2]),
])
def test_argument_spec_rejects_a_wrong_type(role, bad_var, value, tmp_path):
    lab = Lab(tmp_path / "state")
    inv = inventory(tmp_path, {"h": {"profile": ROLES[role]}})
    proc = lab.playbook(_play(tmp_path, role, {bad_var: value}), inventory=inv)
    assert proc.returncode == 2
    assert "Validation of arguments failed" in proc.stdout and bad_var in proc.stdout
    assert lab.executions("h") == []                     # refused before touching the host


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_onboards_its_generation_then_offboards(role, packages, tmp_path):
    lab = Lab(tmp_path / "state")
    shared = package_factory.fleet_vars(packages)          # the fleet-wide settings, set once
    inv = inventory(tmp_path, {"h": {"profile": ROLES[role], "vars": shared}})
    proc = lab.playbook(_play(tmp_path, role, {}), inventory=inv)
    assert proc.returncode == 0, proc.stdout[-2500:]
    assert "onboarded to org " + package_factory.FAKE_ORG in proc.stdout
    operations = [c["operation"] for c in lab.executions("h")]
    assert operations == ["probe", "probe", "apply"]      # the role read the host itself: mde_info, then the module
    proc = lab.playbook(_play(tmp_path, role, {}, "offboard"), inventory=inv)
    assert proc.returncode == 0 and "offboarded" in proc.stdout, proc.stdout[-2500:]


def test_a_role_refuses_a_host_of_another_generation(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    inv = inventory(tmp_path, {"h": {"profile": "windows_server_2019",
                                     "vars": {"mde_onboarding_package": [packages["win_onboard_zip"]]}}})
    proc = lab.playbook(_play(tmp_path, "windows_unified", {}), inventory=inv)
    assert proc.returncode == 2 and "takes the modern path, not this role's" in proc.stdout
    assert [c["operation"] for c in lab.executions("h")] == ["probe"]
