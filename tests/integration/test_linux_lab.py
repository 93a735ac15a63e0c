"""mde_onboard and defender_passive_mode on the lab's Linux profiles through mdatp (issue: Linux onboarding;
R-14, R-30, R-51, R-60)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import ROOT, Lab
from windows_lab import ONBOARD, PASSIVE, inventory, onboard_args, secrets

import package_factory

LINUX = ("ubuntu_22_04", "debian_12", "rhel_9")
ORG = package_factory.FAKE_ORG
ONBOARD_JSON = "/etc/opt/microsoft/mdatp/mdatp_onboard.json"


def _args(packages, **extra):
    return dict({"onboarding_package": [packages["linux_onboard_py"]]}, **extra)


@pytest.fixture(scope="module")
def cycle(packages, tmp_path_factory):
    """Each Linux profile: onboard, onboard again, passive on, passive off, offboard with uninstall."""
    base = tmp_path_factory.mktemp("linux")
    lab = Lab(base / "state")
    hosts = {p.replace("_", "-"): {"profile": p, "vars": {"mde_test_args": _args(packages)}} for p in LINUX}
    runs = {}

    def run(name, playbook, args, *extra):
        for spec in hosts.values():
            spec["vars"]["mde_test_args"] = args
        before = {h: len(lab.executions(h)) for h in hosts}
        _proc, results = lab.run(playbook, inventory(base, hosts, f"{name}.json"), base / name, *extra)
        runs[name] = (results, {h: len(lab.executions(h)) - before[h] for h in hosts})

    run("check", ONBOARD, _args(packages), "--check", "--diff")
    run("onboard", ONBOARD, _args(packages))
    run("again", ONBOARD, _args(packages))
    run("passive_on", PASSIVE, {"enabled": True})
    run("passive_again", PASSIVE, {"enabled": True})
    run("passive_off", PASSIVE, {"enabled": False})
    run("offboard", ONBOARD, {"state": "absent", "offboarding_package": [packages["linux_offboard_py"]],
                              "uninstall": True})
    return lab, runs


def test_check_mode_changes_nothing_and_lists_the_steps(cycle):
    lab, runs = cycle
    results, counts = runs["check"]
    for host, result in results.items():
        assert result["changed"] and counts[host] == 1
        assert [s["name"] for s in result["steps"]] == ["setup_repository", "install_package", "write_secret_file",
                                                        "wait_health"]
        assert all(c["check_mode"] for c in lab.executions(host)[:1])


def test_each_profile_is_onboarded_licensed_to_the_org_and_healthy(cycle):
    lab, runs = cycle
    results, counts = runs["onboard"]
    for host, result in results.items():
        assert not result.get("failed"), (host, result.get("msg"))
        assert result["generation"] == "linux" and result["verified"] and result["onboarded"]
        assert result["licensed"] and result["healthy"] and result["org_id"] == ORG
        assert counts[host] == 2                                        # probe + apply
        assert lab.state(host)["files"][ONBOARD_JSON] == "0600"
    assert "(dnf)" in results["rhel-9"]["steps"][0]["description"]
    assert "for rhel 9" in results["rhel-9"]["steps"][0]["description"]
    assert "for ubuntu 22.04" in results["ubuntu-22-04"]["steps"][0]["description"]


def test_second_run_changes_nothing_with_one_execution(cycle):
    _lab, runs = cycle
    results, counts = runs["again"]
    for host, result in results.items():
        assert result["changed"] is False and result["verified"] and counts[host] == 1


def test_passive_mode_on_and_off(cycle):
    _lab, runs = cycle
    on, on_counts = runs["passive_on"]
    again, again_counts = runs["passive_again"]
    off = runs["passive_off"][0]
    for host in on:
        assert on[host]["changed"] and on[host]["av_running_mode"] == "passive" and on_counts[host] == 2
        assert on[host]["enforcement_level"] == "passive"
        assert again[host]["changed"] is False and again_counts[host] == 1
        assert off[host]["changed"] and off[host]["av_running_mode"] == "normal"


def test_offboarding_removes_the_licence_then_the_package(cycle):
    lab, runs = cycle
    results, _counts = runs["offboard"]
    for host, result in results.items():
        assert result["verified"] and not result.get("failed"), result.get("msg")
        assert [s["name"] for s in result["steps"]] == ["write_secret_file", "wait_health", "remove_package"]
        assert lab.state(host)["offboarding_json"] is True and lab.state(host)["mdatp"]["installed"] is False


def test_reonboarding_removes_the_stale_offboarding_file(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    state = {"mdatp": {"installed": True, "version": "101.1", "onboarded_org": ORG}, "offboarding_json": True,
             "repository": "prod"}
    hosts = {"deb": {"profile": "debian_12", "state": state, "vars": {"mde_test_args": _args(packages)}}}
    _proc, results = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "out")
    assert [s["name"] for s in results["deb"]["steps"]] == ["remove_file", "wait_health"]
    assert results["deb"]["verified"] and lab.state("deb")["offboarding_json"] is False


def test_refusals_before_any_damage(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    hosts = {
        "wrong-platform": {"profile": "ubuntu_22_04", "vars": {"mde_test_args": {
            "onboarding_package": [packages["win_onboard_zip"]]}}},
        "expired": {"profile": "rhel_9", "state": {"mdatp": {"installed": True, "onboarded_org": ORG}},
                    "vars": {"mde_test_args": {"state": "absent",
                                               "offboarding_package": [packages["linux_offboard_expired_py"]]}}},
        "conflict": {"profile": "rhel_9", "faults": ["conflicting_fanotify"], "vars": {"mde_test_args": _args(packages)}},
        "no-repo": {"profile": "debian_12", "faults": ["repo_unreachable"], "vars": {"mde_test_args": _args(
            packages, passive_mode=True)}},
        "not-found": {"profile": "ubuntu_22_04", "vars": {"mde_test_args": _args(packages, mdatp_repository=False)}},
    }
    inv = inventory(tmp_path, hosts)
    lab.run(ONBOARD, inv, tmp_path / "probe", "--check")
    fresh = {h: lab.state_bytes(h) for h in hosts if lab.state_bytes(h)}
    _proc, results = lab.run(ONBOARD, inv, tmp_path / "out")
    assert "has no linux package" in results["wrong-platform"]["msg"]
    assert "expired" in results["expired"]["msg"]
    assert lab.executions("wrong-platform") == [] and lab.executions("expired") == []
    assert "falcon-sensor" in results["conflict"]["msg"] and "passive_mode: true" in results["conflict"]["msg"]
    assert lab.state_bytes("conflict") == fresh["conflict"]
    no_repo = results["no-repo"]
    assert no_repo["failed_step"] == "setup_repository" and "Temporary failure" in no_repo["msg"]
    assert "mdatp_repository: false" in no_repo["msg"]
    assert lab.state_bytes("no-repo") == fresh["no-repo"]                      # failed first: nothing written
    assert results["not-found"]["failed_step"] == "install_package"
    assert "Unable to locate package mdatp" in results["not-found"]["msg"]


def test_conflicts_accepted_in_passive_mode(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    hosts = {"rhel": {"profile": "rhel_9", "faults": ["conflicting_fanotify"],
                      "vars": {"mde_test_args": _args(packages, passive_mode=True)}}}
    _proc, results = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "out")
    result = results["rhel"]
    assert result["verified"] and result["passive_mode_enabled"] is True
    assert [s["name"] for s in result["steps"]][:3] == ["setup_repository", "merge_managed_config", "install_package"]
    assert any("falcon-sensor" in w for w in result["warnings"])


def test_daemon_not_ready_is_waited_for_within_the_bound(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    installed = {"mdatp": {"installed": True, "version": "101.1"}, "repository": "prod"}
    hosts = {"short": {"profile": "ubuntu_22_04", "state": installed, "faults": ["mdatp_not_ready"],
                       "vars": {"mde_test_args": _args(packages, health_timeout=10)}},
             "long": {"profile": "ubuntu_22_04", "state": installed, "faults": ["mdatp_not_ready"],
                      "vars": {"mde_test_args": _args(packages)}}}
    inv = inventory(tmp_path, hosts)
    _proc, results = lab.run(ONBOARD, inv, tmp_path / "out")
    assert results["short"]["failed_step"] == "wait_health" and "after 10 s" in results["short"]["msg"]
    assert results["short"]["onboarded"] is False
    assert results["long"]["verified"] is True
    hosts["short"]["vars"]["mde_test_args"] = _args(packages)
    _proc, rerun = lab.run(ONBOARD, inventory(tmp_path, hosts, "rerun.json"), tmp_path / "rerun")
    assert rerun["short"]["verified"] is True


def test_one_task_onboards_windows_and_linux_side_by_side(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    both = onboard_args(packages, "modern", onboarding_package=[packages["win_onboard_zip"],
                                                                packages["linux_onboard_zip"]])
    hosts = {"win": {"profile": "windows_server_2022", "vars": {"mde_test_args": both}},
             "lin": {"profile": "debian_12", "vars": {"mde_test_args": both}}}
    proc, results = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "out", "-vvv")
    assert results["win"]["verified"] and results["lin"]["verified"]
    assert results["win"]["generation"] == "modern" and results["lin"]["generation"] == "linux"
    assert results["lin"]["package"]["platform"] == "linux" and results["win"]["package"]["platform"] == "windows"
    text = proc.stdout + proc.stderr + str(results)
    for secret in secrets() + [package_factory.fake_signature(ORG + "linux")]:
        assert secret not in text


_DETECTION_PLAYBOOK = """---
- name: Run mde_detection_test with each host's mde_test_args and save the result
  hosts: all
  gather_facts: false
  tasks:
    - name: Detection test
      defender.endpoint.mde_detection_test:
        timeout: "{{ mde_test_args.timeout | default(omit) }}"
        edr_script: "{{ mde_test_args.edr_script | default(omit) }}"
      register: mde_result
      ignore_errors: true
    - name: Save the result for the test
      ansible.builtin.copy:
        dest: "{{ lookup('ansible.builtin.env', 'MDE_TEST_OUT') }}/{{ inventory_hostname }}.json"
        content: "{{ mde_result | to_json }}"
        mode: "0644"
      delegate_to: localhost
      check_mode: false
"""
_ONBOARDED = {"mdatp": {"installed": True, "version": "101.1", "onboarded_org": ORG}, "repository": "prod"}


def test_linux_detection_test_eicar_passive_and_edr_script(tmp_path):
    """R-52 on Linux: the EICAR test in one apply, skipped in passive mode, refused when not onboarded, the EDR script
    copied and run with the alert to look for."""
    playbook = tmp_path / "detection.yml"
    playbook.write_text(_DETECTION_PLAYBOOK)
    script = tmp_path / "mde_linux_edr_diy.sh"
    script.write_text("#!/bin/bash\necho enumerate\n")
    lab = Lab(tmp_path / "state")
    passive = {"mdatp": dict(_ONBOARDED["mdatp"], passive_mode=True), "repository": "prod"}
    hosts = {"deb": {"profile": "debian_12", "state": _ONBOARDED, "vars": {"mde_test_args": {}}},
             "edr": {"profile": "rhel_9", "state": _ONBOARDED, "vars": {"mde_test_args": {"edr_script": str(script)}}},
             "passive": {"profile": "ubuntu_22_04", "state": passive, "vars": {"mde_test_args": {}}},
             "fresh": {"profile": "ubuntu_22_04", "vars": {"mde_test_args": {}}}}
    inv = inventory(tmp_path, hosts)
    _proc, checked = lab.run(playbook, inv, tmp_path / "check", "--check")
    assert [s["name"] for s in checked["edr"]["steps"]] == ["av_detection", "run_edr_script"]
    assert all(lab.state(h).get("detection_tests", 0) == 0 for h in ("deb", "edr"))
    before = {h: len(lab.executions(h)) for h in hosts}
    _proc, results = lab.run(playbook, inv, tmp_path / "out")
    counts = {h: len(lab.executions(h)) - before[h] for h in hosts}
    deb, edr, skipped, fresh = (results[h] for h in ("deb", "edr", "passive", "fresh"))
    assert deb["detected"] is True and deb["av_test"] == "detected" and deb["changed"] and counts["deb"] == 2
    assert "expected_alert" not in deb and lab.state("deb")["detection_tests"] == 1
    assert edr["expected_alert"] == {"title": "Enumeration of files with sensitive data", "severity": "Low"}
    assert edr["detected"] is True and len(lab.state("edr")["edr_scripts"]) == 1
    assert any(c.get("transfer") == lab.state("edr")["edr_scripts"][0] for c in lab.calls("edr"))
    assert not skipped.get("failed") and skipped["av_test"] == "skipped" and skipped["detected"] is None
    assert "passive mode is on" in skipped["msg"] and counts["passive"] == 1
    assert fresh["failed"] and "not onboarded" in fresh["msg"] and counts["fresh"] == 1


def test_linux_detection_test_fails_when_mdatp_does_not_report_the_file(tmp_path):
    playbook = tmp_path / "detection.yml"
    playbook.write_text(_DETECTION_PLAYBOOK)
    lab = Lab(tmp_path / "state")
    hosts = {"deb": {"profile": "debian_12", "state": _ONBOARDED, "faults": ["threat_not_reported"],
                     "vars": {"mde_test_args": {"timeout": 10}}}}
    _proc, results = lab.run(playbook, inventory(tmp_path, hosts), tmp_path / "out")
    result = results["deb"]
    assert result["failed"] and result["detected"] is False and result["av_test"] == "not_detected"
    assert "did not report the EICAR test file within 10 s although real-time protection is on" in result["msg"]


def test_verify_runs_the_detection_test_on_linux_and_windows(tmp_path):
    lab = Lab(tmp_path / "state")
    hosts = {"lin": {"profile": "debian_12", "state": _ONBOARDED},
             "win": {"profile": "windows_server_2022", "state": {"onboarded_org": ORG}}}
    proc = lab.playbook(ROOT / "playbooks" / "verify.yml", "-e", "mde_detection_test=true",
                        inventory=inventory(tmp_path, hosts), MDE_REPORT_DIR=str(tmp_path / "report"))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert lab.state("lin")["detection_tests"] == 1 and lab.state("win")["detection_tests"] == 1


def test_detection_test_examples_run_on_a_linux_lab_host(tmp_path):
    """The EXAMPLES of mde_detection_test, in order, on one onboarded Linux host (the EDR script from tmp_path)."""
    source = (ROOT / "plugins" / "modules" / "mde_detection_test.py").read_text()
    examples = yaml.safe_load(re.search(r'EXAMPLES = r"""(.*?)"""', source, re.S).group(1))
    script = tmp_path / "mde_linux_edr_diy.sh"
    script.write_text("#!/bin/bash\necho enumerate\n")
    for task in examples:
        args = task.get("defender.endpoint.mde_detection_test")
        if args and args.get("edr_script") == "files/mde_linux_edr_diy.sh":
            args["edr_script"] = str(script)
    playbook = tmp_path / "examples.yml"
    playbook.write_text(json.dumps([{"name": "examples", "hosts": "all", "gather_facts": False, "tasks": examples}]))
    lab = Lab(tmp_path / "state")
    proc = lab.playbook(playbook, inventory=inventory(tmp_path, {"lin": {"profile": "debian_12", "state": _ONBOARDED}}))
    assert proc.returncode == 0 and "failed=0" in proc.stdout, proc.stdout[-3000:]
    assert lab.state("lin")["detection_tests"] == 3 and len(lab.state("lin")["edr_scripts"]) == 1
