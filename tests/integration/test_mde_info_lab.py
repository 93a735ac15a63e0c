"""mde_info end to end through the simulated lab (issue: foundation; R-01, R-10..R-13)."""

from __future__ import annotations

import json
import pathlib

import pytest

from conftest import LAB, ROOT, Lab, write_inventory

EXPECTED = {
    "win7-sp1": "downlevel", "win81": "downlevel", "srv2008r2-nosp": "unsupported", "srv2008r2": "downlevel",
    "srv2012": "unsupported", "srv2012r2": "unified", "srv2012r2-unpatched": "unified", "srv2016": "unified",
    "srv2016-thirdparty-av": "unified", "srv2016-mma": "unified", "srv2016-unsigned": "unified", "srv2019": "modern", "srv2019-core": "modern",
    "srv2019-onboarded": "modern", "srv2022": "modern", "srv2025": "modern", "win10": "unsupported",
    "ubuntu2204": "linux", "debian12": "linux", "rhel9": "linux", "rhel9-fanotify": "linux",
}
PLAYBOOK = ROOT / "tests" / "integration" / "playbooks" / "info.yml"


def run_info(lab: Lab, out: pathlib.Path, *args, inventory=LAB / "inventory.yml", check_rc=4):
    out.mkdir(exist_ok=True)
    proc = lab.playbook(PLAYBOOK, *args, inventory=inventory, check_rc=check_rc, MDE_TEST_OUT=str(out))
    return proc, {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    base = tmp_path_factory.mktemp("fleet")
    lab = Lab(base / "state")
    proc, results = run_info(lab, base / "out")
    return lab, proc, results


def test_every_profile_gets_its_generation(fleet):
    _lab, _proc, results = fleet
    assert {host: r["generation"] for host, r in results.items()} == EXPECTED


def test_unsupported_hosts_name_their_os(fleet):
    results = fleet[2]
    assert "Windows Server 2012 (version 6.2.9200" in results["srv2012"]["unsupported_reason"]
    assert "Service Pack 1" in results["srv2008r2-nosp"]["unsupported_reason"]
    assert "Windows 10" in results["win10"]["unsupported_reason"]


def test_readiness_and_state(fleet):
    results = fleet[2]
    assert [m["id"] for m in results["srv2012r2-unpatched"]["missing_prerequisites"]] == ["UCRT", "KB3080149"]
    assert results["srv2012r2-unpatched"]["ready"] is False
    assert all(results[h]["ready"] for h in EXPECTED if EXPECTED[h] != "unsupported" and h != "srv2012r2-unpatched")
    assert results["srv2019-onboarded"]["onboarded"] is True
    assert results["srv2019-onboarded"]["org_id"] == "00000000-1111-4222-8333-444444444444"
    assert results["srv2016-mma"]["onboarded"] is True  # MMA-based sensor
    assert results["srv2019"]["onboarded"] is False and results["srv2019"]["org_id"] is None
    assert results["srv2019"]["av_running_mode"] == "normal"
    assert results["srv2012r2"]["av_running_mode"] is None  # no Defender AV before md4ws.msi
    assert any("CSFalconService" in w for w in results["srv2016-thirdparty-av"]["prerequisite_warnings"])
    assert any("falcon-sensor" in w for w in results["rhel9-fanotify"]["prerequisite_warnings"])
    assert results["srv2019-core"]["os"]["installation_type"] == "Server Core"
    assert results["ubuntu2204"]["host_facts"]["mdatp"]["installed"] is False


def test_one_remote_execution_per_host(fleet):
    lab = fleet[0]
    for host in EXPECTED:
        calls = lab.calls(host)
        assert len(calls) == 1, (host, calls)
        assert calls[0]["operation"] == "probe" and calls[0]["module"].startswith("defender.endpoint.mde_host")


def test_unreachable_host_is_reported_and_others_go_on(fleet):
    lab, proc, results = fleet
    assert "srv2022-down" not in results
    assert "srv2022-down" in proc.stdout and "unreachable=1" in proc.stdout
    assert lab.calls("srv2022-down") == []


def test_check_mode_changes_nothing_and_costs_one_call(fleet, tmp_path):
    lab = fleet[0]
    before = {host: lab.state_bytes(host) for host in EXPECTED}
    _proc, results = run_info(lab, tmp_path / "out", "--check")
    assert {host: r["generation"] for host, r in results.items()} == EXPECTED
    for host in EXPECTED:
        assert lab.state_bytes(host) == before[host]
        assert len(lab.calls(host)) == 2 and lab.calls(host)[-1]["check_mode"] is True


def test_assess_playbook_writes_the_fleet_report(tmp_path):
    lab = Lab(tmp_path / "state")
    report = tmp_path / "report"
    proc = lab.playbook(ROOT / "playbooks" / "assess.yml", check_rc=4, MDE_REPORT_DIR=str(report))
    data = json.loads((report / "assessment.json").read_text())
    assert data["summary"]["total"] == len(EXPECTED) + 1
    assert data["summary"]["by_status"]["unreachable"] == 1
    assert data["summary"]["by_status"]["unsupported"] == 3
    assert data["hosts"]["srv2012r2-unpatched"] == {
        "status": "not_ready", "generation": "unified", "ready": False, "onboarded": False, "org_id": None,
        "av_running_mode": None, "missing_prerequisites": ["UCRT", "KB3080149"], "reason": "missing: UCRT, KB3080149"}
    assert data["hosts"]["srv2019-onboarded"]["status"] == "onboarded"
    for host in EXPECTED:
        assert f"ok: [{host}]" in proc.stdout


def test_probe_error_is_a_clear_failure(tmp_path):
    lab = Lab(tmp_path / "state")
    inventory = write_inventory(tmp_path / "inv.json", {
        "broken": {"profile": "windows_server_2019", "faults": ["probe_error"]},
        "fine": {"profile": "debian_12"}})
    proc, results = run_info(lab, tmp_path / "out", inventory=inventory, check_rc=2)
    assert "the probe step on the host failed" in proc.stdout and "Win32_OperatingSystem" in proc.stdout
    assert set(results) == {"fine"}


def test_unknown_profile_state_key_is_refused(tmp_path):
    lab = Lab(tmp_path / "state")
    inventory = write_inventory(tmp_path / "inv.json", {
        "typo": {"profile": "windows_server_2019", "state": {"onboarded_orgg": "x"}}})
    proc, _results = run_info(lab, tmp_path / "out", inventory=inventory, check_rc=2)
    assert "unknown mde_lab_state key(s) onboarded_orgg" in proc.stdout
