"""Offboarding through the lab: expired packages refused before any remote change, offboard -> re-onboard,
uninstall only after offboarding, downlevel workspace removal (R-60, R-61, R-62)."""

from __future__ import annotations

from conftest import Lab
from windows_lab import ONBOARD, inventory, onboard_args

import package_factory

ONBOARDED = {"onboarded_org": package_factory.FAKE_ORG}


def test_expired_package_is_refused_before_the_host_is_touched(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    hosts = {"srv": {"profile": "windows_server_2019", "state": ONBOARDED, "vars": {"mde_test_args": {
        "state": "absent", "offboarding_package": packages["win_offboard_expired_cmd"]}}}}
    _proc, results = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "out")
    assert results["srv"]["failed"] and "expired" in results["srv"]["msg"]
    assert lab.executions("srv") == []                       # not even a probe


def test_onboarding_package_given_as_offboarding_is_refused(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    hosts = {"srv": {"profile": "windows_server_2019", "vars": {"mde_test_args": {
        "state": "absent", "offboarding_package": packages["win_onboard_cmd"]}}}}
    _proc, results = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "out")
    assert results["srv"]["failed"] and "offboarding package is needed" in results["srv"]["msg"]
    assert lab.executions("srv") == []


def test_offboard_then_reonboard(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    off = {"state": "absent", "offboarding_package": packages["win_offboard_cmd"]}
    hosts = {"srv": {"profile": "windows_server_2022", "state": ONBOARDED, "vars": {"mde_test_args": off}}}
    _proc, results = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "off")
    result = results["srv"]
    assert result["changed"] and result["verified"] and result["onboarded"] is False, result.get("msg")
    assert [s["name"] for s in result["steps"]] == ["run_script"]
    assert lab.state("srv")["offboarding_value"] is True
    _proc, again = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "off-again")
    assert again["srv"]["changed"] is False
    hosts["srv"]["vars"]["mde_test_args"] = onboard_args(packages, "modern")
    _proc, back = lab.run(ONBOARD, inventory(tmp_path, hosts, "back.json"), tmp_path / "back")
    assert back["srv"]["verified"] and back["srv"]["onboarded"]
    assert lab.state("srv")["offboarding_value"] is False     # the onboarding script clears it (docs/packages.md)


def test_offboarding_package_of_another_org_is_refused(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    hosts = {"srv": {"profile": "windows_server_2019", "state": {"onboarded_org": package_factory.OTHER_ORG},
                     "vars": {"mde_test_args": {"state": "absent",
                                                "offboarding_package": packages["win_offboard_cmd"]}}}}
    _proc, results = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "out")
    assert results["srv"]["failed"] and package_factory.OTHER_ORG in results["srv"]["msg"]
    assert [c["operation"] for c in lab.executions("srv")] == ["probe"]


def test_unified_uninstall_only_after_offboarding(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    installed = dict(ONBOARDED, md4ws={"installed": True, "version": "10.8760.1"})
    off = {"state": "absent", "offboarding_package": packages["win_offboard_cmd"], "uninstall": True}
    hosts = {"srv": {"profile": "windows_server_2012_r2", "state": installed, "vars": {"mde_test_args": off}},
             "tamper": {"profile": "windows_server_2016", "state": installed, "faults": ["tamper_protected"],
                        "vars": {"mde_test_args": off}}}
    _proc, results = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "out")
    assert [s["name"] for s in results["srv"]["steps"]] == ["run_script", "uninstall_msi"]
    assert results["srv"]["verified"] and results["srv"]["md4ws_version"] is None
    assert results["tamper"]["failed"] and "tamper protection" in results["tamper"]["msg"]
    assert [c["operation"] for c in lab.executions("tamper")] == ["probe"]


def test_downlevel_offboarding_removes_the_workspace_or_the_agent(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    mma = {"mma": {"installed": True, "version": "10.20.18069.0",
                   "workspaces": [{"id": package_factory.MDE_WORKSPACE_ID}]}, "onboarded_org": package_factory.FAKE_ORG}
    remove = {"state": "absent", "workspace_id": package_factory.MDE_WORKSPACE_ID}
    hosts = {"ws": {"profile": "windows_7_sp1", "state": mma, "vars": {"mde_test_args": remove}},
             "agent": {"profile": "windows_server_2008_r2_sp1", "state": mma,
                       "vars": {"mde_test_args": {"state": "absent", "uninstall": True}}},
             "unsaid": {"profile": "windows_8_1", "state": mma, "vars": {"mde_test_args": {"state": "absent"}}}}
    _proc, results = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "out")
    assert [s["name"] for s in results["ws"]["steps"]] == ["remove_mma_workspace"] and results["ws"]["verified"]
    assert lab.state("ws")["mma"]["installed"] is True
    assert [s["name"] for s in results["agent"]["steps"]] == ["uninstall_msi"] and results["agent"]["verified"]
    assert lab.state("agent")["mma"]["installed"] is False
    assert results["unsaid"]["failed"] and "R-62" in results["unsaid"]["msg"]
