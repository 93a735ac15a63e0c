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
ROLES_GENERATION = {"windows_modern": "modern", "windows_unified": "unified", "windows_downlevel": "downlevel",
                    "linux": "linux"}


def _play(tmp_path, role, role_vars, tasks_from=None):
    """A play that runs the role, then saves the role's registered result (<role>_result) as JSON per host."""
    include = {"name": f"defender.endpoint.{role}"}
    if tasks_from:
        include["tasks_from"] = tasks_from
    save = {"name": "save the role's result", "delegate_to": "localhost",
            "ansible.builtin.copy": {"content": "{{ %s_result | to_json }}" % role,
                                     "dest": "{{ lookup('ansible.builtin.env', 'MDE_TEST_OUT') }}/"
                                             "{{ inventory_hostname }}.json", "mode": "0600"}}
    play = [{"name": "role", "hosts": "all", "gather_facts": False,
             "tasks": [{"name": "run the role", "ansible.builtin.include_role": include, "vars": role_vars}, save]}]
    path = tmp_path / f"{role}-{tasks_from or 'main'}.json"
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
    proc, results = lab.run(_play(tmp_path, role, {}), inv, tmp_path / "out")
    assert proc.returncode == 0, proc.stdout[-2500:]
    result = results["h"]
    assert result["onboarded"] is True and result["verified"] is True and result["changed"] is True
    assert result["org_id"] == package_factory.FAKE_ORG and result["generation"] == ROLES_GENERATION[role]
    assert package_factory.FAKE_ORG in json.dumps(lab.state("h"))
    operations = [c["operation"] for c in lab.executions("h")]
    assert operations == ["probe", "probe", "apply"]      # the role read the host itself: mde_info, then the module
    proc, results = lab.run(_play(tmp_path, role, {}, "offboard"), inv, tmp_path / "out")
    assert proc.returncode == 0, proc.stdout[-2500:]
    assert results["h"]["onboarded"] is False and results["h"]["changed"] is True, results["h"]
    assert [c["operation"] for c in lab.executions("h")][3:] == ["probe", "apply"]   # no read before offboarding


def test_linux_role_passes_an_empty_proxy_to_remove_it(packages, tmp_path):
    """mde_proxy: "" is documented as "remove the proxy": the role hands it to mde_onboard as "", not dropped."""
    lab = Lab(tmp_path / "state")
    shared = package_factory.fleet_vars(packages)
    proxied = dict(shared, mde_proxy="http://proxy.example.test:3128")
    inv = inventory(tmp_path, {"h": {"profile": "debian_12", "vars": proxied}})
    proc, _results = lab.run(_play(tmp_path, "linux", {}), inv, tmp_path / "out")
    assert proc.returncode == 0, proc.stdout[-2500:]
    assert "proxy.example.test" in json.dumps(lab.state("h"))
    inv = inventory(tmp_path, {"h": {"profile": "debian_12", "vars": dict(shared, mde_proxy="")}})
    proc, results = lab.run(_play(tmp_path, "linux", {}), inv, tmp_path / "out")
    assert proc.returncode == 0, proc.stdout[-2500:]
    assert results["h"]["changed"] is True, results["h"]              # the proxy setting was removed
    assert "proxy.example.test" not in json.dumps(lab.state("h"))


def test_a_role_refuses_a_host_of_another_generation(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    inv = inventory(tmp_path, {"h": {"profile": "windows_server_2019",
                                     "vars": {"mde_onboarding_package": [packages["win_onboard_zip"]]}}})
    proc = lab.playbook(_play(tmp_path, "windows_unified", {}), inventory=inv)
    assert proc.returncode == 2 and "takes the modern path, not this role's" in proc.stdout
    assert [c["operation"] for c in lab.executions("h")] == ["probe"]
