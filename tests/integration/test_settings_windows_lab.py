"""defender_passive_mode and mma_workspace through the lab, and the secrets test over every Windows module
(issue: Windows onboarding; R-14, R-23, R-25, R-30, R-31, R-62)."""

from __future__ import annotations

import json

from conftest import ROOT, Lab
from windows_lab import ONBOARD, PASSIVE, WORKSPACE, inventory, onboard_args, secrets

import package_factory

ORG = package_factory.FAKE_ORG
WS = package_factory.MDE_WORKSPACE_ID
KEY = package_factory.FAKE_WORKSPACE_KEY
MMA = {"mma": {"installed": True, "version": "10.20.18069.0", "workspaces": []}}


def test_passive_mode_on_and_off(tmp_path):
    lab = Lab(tmp_path / "state")
    hosts = {"onboarded": {"profile": "windows_server_2019", "state": {"onboarded_org": ORG},
                           "vars": {"mde_test_args": {"enabled": True}}},
             "fresh": {"profile": "windows_server_2012_r2", "vars": {"mde_test_args": {"enabled": True}}}}
    inv = inventory(tmp_path, hosts)
    _proc, on = lab.run(PASSIVE, inv, tmp_path / "on")
    assert on["onboarded"]["changed"] and on["onboarded"]["av_running_mode"] == "passive"
    assert on["fresh"]["changed"] and on["fresh"]["force_passive_mode"] == 1
    assert any("once the Sense service runs" in w for w in on["fresh"]["warnings"])
    _proc, again = lab.run(PASSIVE, inv, tmp_path / "again")
    assert not again["onboarded"]["changed"] and len(lab.executions("onboarded")) == 3    # 2 + 1
    for host in hosts:
        hosts[host]["vars"]["mde_test_args"] = {"enabled": False}
    _proc, off = lab.run(PASSIVE, inventory(tmp_path, hosts, "off.json"), tmp_path / "off")
    assert off["onboarded"]["av_running_mode"] == "normal" and off["onboarded"]["force_passive_mode"] == 0


def test_leaving_passive_mode_beside_another_av_needs_force(tmp_path):
    lab = Lab(tmp_path / "state")
    state = {"onboarded_org": ORG, "passive_mode": 1, "third_party_av": ["SentinelAgent"]}
    hosts = {"refused": {"profile": "windows_server_2022", "state": state, "vars": {"mde_test_args": {"enabled": False}}},
             "forced": {"profile": "windows_server_2022", "state": state,
                        "vars": {"mde_test_args": {"enabled": False, "force": True}}}}
    _proc, results = lab.run(PASSIVE, inventory(tmp_path, hosts), tmp_path / "out")
    assert results["refused"]["failed"] and "SentinelAgent" in results["refused"]["msg"]
    assert "force" in results["refused"]["msg"]
    assert results["forced"]["changed"] and results["forced"]["av_running_mode"] == "normal"


def test_passive_mode_check_mode_and_tamper_warning(tmp_path):
    lab = Lab(tmp_path / "state")
    hosts = {"tp": {"profile": "windows_server_2025", "state": {"onboarded_org": ORG}, "faults": ["tamper_protected"],
                    "vars": {"mde_test_args": {"enabled": True}}}}
    inv = inventory(tmp_path, hosts)
    lab.run(PASSIVE, inv, tmp_path / "probe", "--check")
    before = lab.state_bytes("tp")
    _proc, check = lab.run(PASSIVE, inv, tmp_path / "check", "--check", "--diff")
    assert check["tp"]["changed"] and lab.state_bytes("tp") == before
    _proc, real = lab.run(PASSIVE, inv, tmp_path / "real")
    assert not real["tp"].get("failed") and real["tp"]["av_running_mode"] == "normal"
    assert any("tamper protection" in w for w in real["tp"]["warnings"])


def test_mma_workspace_add_remove_and_refusals(tmp_path):
    lab = Lab(tmp_path / "state")
    add = {"workspace_id": WS, "workspace_key": KEY, "proxy_url": "proxy.example:8080"}
    hosts = {"mma": {"profile": "windows_7_sp1", "state": MMA, "vars": {"mde_test_args": add}},
             "nomma": {"profile": "windows_server_2019", "vars": {"mde_test_args": add}},
             "nokey": {"profile": "windows_8_1", "state": MMA, "vars": {"mde_test_args": {"workspace_id": WS}}}}
    inv = inventory(tmp_path, hosts)
    _proc, results = lab.run(WORKSPACE, inv, tmp_path / "add")
    assert results["mma"]["changed"] and results["mma"]["workspaces"] == [WS]
    assert [s["name"] for s in results["mma"]["steps"]] == ["set_mma_proxy", "add_mma_workspace"]
    assert any("retired" in w for w in results["mma"]["warnings"])
    assert lab.state("mma")["mma"]["proxy"] == "proxy.example:8080"
    assert results["nomma"]["failed"] and "not installed" in results["nomma"]["msg"]
    assert results["nokey"]["failed"] and "workspace_key is required" in results["nokey"]["msg"]
    _proc, again = lab.run(WORKSPACE, inv, tmp_path / "again")
    assert again["mma"]["changed"] is False
    hosts["mma"]["vars"]["mde_test_args"] = {"workspace_id": WS, "state": "absent"}
    _proc, removed = lab.run(WORKSPACE, inventory(tmp_path, hosts, "rm.json"), tmp_path / "rm")
    assert removed["mma"]["changed"] and removed["mma"]["workspaces"] == []


def test_no_secret_in_any_output(packages, tmp_path):
    """Workspace key, proxy password and every blob signature: never in results, diffs, warnings or -vvv."""
    lab = Lab(tmp_path / "state")
    password = "Pr0xy-Secret-Value-42"
    hosts = {
        "modern": {"profile": "windows_server_2022", "vars": {"mde_test_args": onboard_args(packages, "modern")}},
        "unified": {"profile": "windows_server_2016", "vars": {"mde_test_args": onboard_args(
            packages, "unified", passive_mode=True)}},
        "downlevel": {"profile": "windows_server_2008_r2_sp1", "vars": {"mde_test_args": onboard_args(
            packages, "downlevel")}},
        "failing": {"profile": "windows_server_2019", "faults": ["sense_start_timeout"],
                    "vars": {"mde_test_args": onboard_args(packages, "modern")}},
        "offboard": {"profile": "windows_server_2019", "state": {"onboarded_org": ORG}, "vars": {"mde_test_args": {
            "state": "absent", "offboarding_package": packages["win_offboard_cmd"]}}},
    }
    inv = inventory(tmp_path, hosts)
    outputs = []
    for args in (["--check", "--diff", "-vvv"], ["--diff", "-vvv"]):
        proc, results = lab.run(ONBOARD, inv, tmp_path / "out", *args)
        outputs += [proc.stdout, proc.stderr, str(results)]
    ws_hosts = {"mma": {"profile": "windows_7_sp1", "state": MMA, "vars": {"mde_test_args": {
        "workspace_id": WS, "workspace_key": KEY, "proxy_url": "p:3128", "proxy_username": "u",
        "proxy_password": password}}}}
    for args in (["--check", "--diff", "-vvv"], ["--diff", "-vvv"]):
        proc, results = lab.run(WORKSPACE, inventory(tmp_path, ws_hosts, "ws.json"), tmp_path / "ws", *args)
        outputs += [proc.stdout, proc.stderr, str(results)]
    for host in list(hosts) + ["mma"]:
        outputs.append((lab.state_dir / host / "calls.jsonl").read_text())
        outputs.append((lab.state_dir / host / "state.json").read_text())
    text = "\n".join(outputs)
    assert "run the onboarding script" in text and "key ********" in text     # the runs did happen
    for secret in secrets() + [password]:
        assert secret not in text, "a secret leaked into the output"


def test_detection_test_runs_only_on_onboarded_hosts(tmp_path):
    """R-52 through verify.yml: opt-in, onboarded Windows hosts only, and the report says what to look for."""
    lab = Lab(tmp_path / "state")
    hosts = {"on": {"profile": "windows_server_2022", "state": {"onboarded_org": ORG}},
             "off": {"profile": "windows_server_2019"}}
    inv = inventory(tmp_path, hosts)
    report = tmp_path / "report"
    proc = lab.playbook(ROOT / "playbooks" / "verify.yml", "-e", "mde_detection_test=true", inventory=inv,
                        MDE_REPORT_DIR=str(report))
    rows = json.loads((report / "report.json").read_text())["hosts"]
    assert lab.state("on")["detection_tests"] == 1 and lab.state("off")["detection_tests"] == 0
    assert "Suspicious PowerShell command line" in rows["on"]["next_action"]
    assert rows["off"]["status"] == "failed" and proc.returncode == 2
    proc = lab.playbook(ROOT / "playbooks" / "verify.yml", inventory=inv, MDE_REPORT_DIR=str(report))
    assert lab.state("on")["detection_tests"] == 1                     # not without mde_detection_test
