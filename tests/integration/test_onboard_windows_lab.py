"""mde_onboard on every Windows profile of the lab: fresh -> onboarded and verified, idempotence, round trips,
check mode, unsupported OS (issue: Windows onboarding; R-01, R-14, R-20..R-25, R-30, R-50)."""

from __future__ import annotations

import pytest

from conftest import Lab
from windows_lab import ONBOARD, SUPPORTED, UNSUPPORTED, inventory, onboard_args

import package_factory


def _fleet(packages, passive):
    hosts = {}
    for profile, generation in SUPPORTED.items():
        extra = {"passive_mode": True} if passive else {}
        hosts[profile.replace("_", "-")] = {"profile": profile, "vars": {
            "mde_test_args": onboard_args(packages, generation, **extra)}}
    return hosts


@pytest.fixture(scope="module", params=[False, True], ids=["active", "passive"])
def onboarded_fleet(request, packages, tmp_path_factory):
    base = tmp_path_factory.mktemp("fleet")
    lab = Lab(base / "state")
    inv = inventory(base, _fleet(packages, request.param))
    _proc, first = lab.run(ONBOARD, inv, base / "first")
    counts_first = {h: len(lab.executions(h)) for h in first}
    _proc2, second = lab.run(ONBOARD, inv, base / "second")
    counts_second = {h: len(lab.executions(h)) - counts_first[h] for h in second}
    return request.param, lab, first, second, counts_first, counts_second


def test_every_supported_profile_is_onboarded_and_verified(onboarded_fleet):
    passive, _lab, first, _second, _c1, _c2 = onboarded_fleet
    assert set(first) == {p.replace("_", "-") for p in SUPPORTED}
    for host, result in first.items():
        generation = SUPPORTED[host.replace("-", "_")]
        assert not result.get("failed"), (host, result.get("msg"))
        assert result["changed"] is True, host
        assert result["generation"] == generation
        assert result["onboarded"] is True and result["verified"] is True, host
        assert result["org_id"] == package_factory.FAKE_ORG
        if passive and generation != "downlevel":
            assert result["av_running_mode"] == "passive", host
            assert result["force_passive_mode"] == 1
        elif generation != "downlevel":
            assert result["av_running_mode"] == "normal", host


def test_each_generation_takes_its_documented_path(onboarded_fleet):
    passive, _lab, first, _second, _c1, _c2 = onboarded_fleet
    names = {h: [s["name"] for s in r["steps"]] for h, r in first.items()}
    pre = ["set_passive_mode"] if passive else []
    assert names["windows-server-2019"] == pre + ["run_script"]
    assert names["windows-server-2012-r2"] == pre + ["install_msi", "run_script"]
    assert names["windows-7-sp1"] == ["install_mma", "add_mma_workspace"]
    install = next(s for s in first["windows-server-2016"]["steps"] if s["name"] == "install_msi")
    assert ("FORCEPASSIVEMODE=1" in install["description"]) is passive
    assert first["windows-server-2012-r2"]["md4ws_version"] == "10.8760.26100.1000"


def test_second_run_changes_nothing_and_costs_one_execution(onboarded_fleet):
    _passive, _lab, _first, second, counts_first, counts_second = onboarded_fleet
    for host, result in second.items():
        assert result["changed"] is False and not result.get("failed"), (host, result.get("msg"))
        assert result["verified"] is True
        assert counts_second[host] == 1, host
        assert counts_first[host] == 2, host                 # probe + apply


def test_installer_travels_once_and_only_when_needed(onboarded_fleet):
    _passive, lab, _first, _second, _c1, _c2 = onboarded_fleet
    transfers = {h: [c for c in lab.calls(h) if "transfer" in c] for h in ("windows-server-2016", "windows-server-2019")}
    assert len(transfers["windows-server-2016"]) == 1
    assert transfers["windows-server-2019"] == []
    assert list((lab.state_dir / "windows-server-2016" / "staged").iterdir()) == []   # deleted after apply


def test_check_mode_plans_and_changes_nothing(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    inv = inventory(tmp_path, _fleet(packages, True))
    # Create each host's state first (a probe-only run), then compare bytes around a check run.
    lab.run(ONBOARD, inv, tmp_path / "probe", "--check")
    before = {h: lab.state_bytes(h) for h in (p.replace("_", "-") for p in SUPPORTED)}
    proc, results = lab.run(ONBOARD, inv, tmp_path / "check", "--check", "--diff")
    for host, result in results.items():
        assert lab.state_bytes(host) == before[host], host
        assert result["changed"] is True and all(s["status"] == "planned" for s in result["steps"])
        assert all(c["operation"] == "probe" for c in lab.executions(host)), host
        assert not [c for c in lab.calls(host) if "transfer" in c]
    assert "3. run the onboarding script (R-21)" in proc.stdout
    assert "msiexec /i md4ws.msi /quiet FORCEPASSIVEMODE=1 (R-20)" in proc.stdout
    assert "key ********" in proc.stdout and package_factory.FAKE_WORKSPACE_KEY not in proc.stdout


def test_unsupported_os_fails_before_any_change(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    hosts = {p.replace("_", "-"): {"profile": p, "vars": {"mde_test_args": onboard_args(packages, "modern")}}
             for p in UNSUPPORTED}
    _proc, results = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "out")
    for host, result in results.items():
        label = UNSUPPORTED[host.replace("-", "_")]
        assert result["failed"] is True and result["changed"] is False
        assert label in result["msg"] and "supported:" in result["msg"], result["msg"]
        assert [c["operation"] for c in lab.executions(host)] == ["probe"]


def test_missing_prerequisites_fail_before_any_change_listing_each(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    unpatched = {"hotfixes": [], "ucrt": False, "tdh_version": "6.3.9600.17000"}
    hosts = {"unpatched": {"profile": "windows_server_2012_r2", "state": unpatched,
                           "vars": {"mde_test_args": onboard_args(packages, "unified")}}}
    _proc, results = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "out")
    msg = results["unpatched"]["msg"]
    assert results["unpatched"]["failed"] and "nothing was changed" in msg
    assert "KB2999226" in msg and "KB3080149" in msg and "R-11" in msg
    assert [c["operation"] for c in lab.executions("unpatched")] == ["probe"]


def test_2016_without_the_defender_feature_gets_it_first_then_restarts(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    hosts = {"srv2016-nofeature": {"profile": "windows_server_2016",
                                   "state": {"defender": {"present": False, "feature_installed": False,
                                                          "enabled": False}},
                                   "vars": {"mde_test_args": onboard_args(packages, "unified")}}}
    inv = inventory(tmp_path, hosts)
    _proc, first = lab.run(ONBOARD, inv, tmp_path / "first")
    result = first["srv2016-nofeature"]
    assert [(s["name"], s["status"]) for s in result["steps"]] == [
        ("enable_defender_feature", "ok"), ("install_msi", "skipped"), ("run_script", "skipped")]
    assert result["reboot_required"] is True and result["onboarded"] is False and not result.get("failed")
    lab.reboot("srv2016-nofeature")
    _proc, second = lab.run(ONBOARD, inv, tmp_path / "second")
    assert second["srv2016-nofeature"]["verified"] is True
    assert [s["name"] for s in second["srv2016-nofeature"]["steps"]] == ["install_msi", "run_script"]


def test_third_party_av_means_passive_and_refuses_active(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    state = {"third_party_av": ["CSFalconService"]}
    hosts = {"auto": {"profile": "windows_server_2016", "state": state,
                      "vars": {"mde_test_args": onboard_args(packages, "unified")}},
             "active": {"profile": "windows_server_2022", "state": state,
                        "vars": {"mde_test_args": onboard_args(packages, "modern", passive_mode=False)}}}
    _proc, results = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "out")
    assert results["auto"]["av_running_mode"] == "passive" and results["auto"]["verified"]
    assert results["active"]["failed"] and "CSFalconService" in results["active"]["msg"]
    assert "R-14" in results["active"]["msg"]
    assert [c["operation"] for c in lab.executions("active")] == ["probe"]


def test_other_org_is_refused_unless_allowed(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    onboarded = {"onboarded_org": package_factory.FAKE_ORG}
    other = packages["win_onboard_other_org_cmd"]
    hosts = {"refused": {"profile": "windows_server_2019", "state": onboarded,
                         "vars": {"mde_test_args": {"onboarding_package": other}}},
             "moved": {"profile": "windows_server_2019", "state": onboarded,
                       "vars": {"mde_test_args": {"onboarding_package": other, "allow_org_change": True}}}}
    _proc, results = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "out")
    assert results["refused"]["failed"] and package_factory.FAKE_ORG in results["refused"]["msg"]
    assert "allow_org_change" in results["refused"]["msg"]
    assert results["moved"]["org_id"] == package_factory.OTHER_ORG and results["moved"]["verified"]


def test_migration_from_the_mma_based_sensor(packages, tmp_path):
    """R-70: unified solution installed and onboarded, then the MDE workspace removed from the MMA."""
    lab = Lab(tmp_path / "state")
    hosts = {"srv2016-mma": {"profile": "windows_server_2016", "state": {
        "mma": {"installed": True, "version": "10.20.18067.0", "workspaces": [{"id": package_factory.MDE_WORKSPACE_ID}]},
        "onboarded_org": package_factory.FAKE_ORG},
        "vars": {"mde_test_args": onboard_args(packages, "unified",
                                               remove_mma_workspace=package_factory.MDE_WORKSPACE_ID)}}}
    inv = inventory(tmp_path, hosts)
    _proc, results = lab.run(ONBOARD, inv, tmp_path / "out")
    result = results["srv2016-mma"]
    assert [s["name"] for s in result["steps"]] == ["install_msi", "run_script", "remove_mma_workspace"]
    assert result["verified"] and result["md4ws_version"]
    assert lab.state("srv2016-mma")["mma"]["workspaces"] == []
    _proc, again = lab.run(ONBOARD, inv, tmp_path / "again")
    assert again["srv2016-mma"]["changed"] is False


def test_opt_in_hardening_on_unified_and_downlevel_hosts(packages, tmp_path):
    """R-41 (InterCA certificate, 2012 R2), R-42 (network protection), R-24 (SCEP cloud protection): off by
    default, applied once when asked, verified, and left alone on the next run."""
    lab = Lab(tmp_path / "state")
    scep = {"scep": {"installed": True, "spynet_reporting": 1},
            "mma": {"installed": True, "version": "10.20.18069.0", "workspaces": []}}
    hardened = {"network_protection": True, "intermediate_ca_certificate": packages["interca_cer"]}
    unified = {"mde_test_args": onboard_args(packages, "unified", **hardened)}
    downlevel = {"mde_test_args": onboard_args(packages, "downlevel", scep_cloud_protection=True)}
    hosts = {"r2": {"profile": "windows_server_2012_r2", "vars": unified},
             "s16": {"profile": "windows_server_2016", "vars": unified},
             "plain": {"profile": "windows_server_2016", "vars": {"mde_test_args": onboard_args(packages, "unified")}},
             "scep": {"profile": "windows_server_2008_r2_sp1", "state": scep, "vars": downlevel}}
    inv = inventory(tmp_path, hosts)
    _proc, first = lab.run(ONBOARD, inv, tmp_path / "first")
    names = {h: [s["name"] for s in r["steps"]] for h, r in first.items()}
    assert names["r2"] == ["install_msi", "run_script", "import_certificate", "set_network_protection"]
    assert names["s16"] == ["install_msi", "run_script", "set_network_protection"]       # R-41 is 2012 R2 only
    assert names["plain"] == ["install_msi", "run_script"]
    assert names["scep"] == ["add_mma_workspace", "set_scep_cloud_protection"]
    assert all(r["verified"] for r in first.values()), {h: r.get("msg") for h, r in first.items()}
    assert len(lab.state("r2")["ca_thumbprints"]) == 1 and lab.state("scep")["scep"]["spynet_reporting"] == 2
    assert lab.state("plain")["network_protection"] == {}
    _proc, second = lab.run(ONBOARD, inv, tmp_path / "second")
    assert not any(r["changed"] for r in second.values())


def test_interca_refused_for_an_old_sensor_and_for_a_file_that_is_not_a_certificate(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    old = {"onboarded_org": package_factory.FAKE_ORG, "md4ws": {"installed": True, "version": "10.8048.22000.1"}}
    good = {"mde_test_args": onboard_args(packages, "unified", intermediate_ca_certificate=packages["interca_cer"])}
    bad = {"mde_test_args": onboard_args(packages, "unified", intermediate_ca_certificate=packages["win_onboard_cmd"])}
    hosts = {"old": {"profile": "windows_server_2012_r2", "state": old, "vars": good},
             "bad": {"profile": "windows_server_2012_r2", "vars": bad}}
    _proc, results = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "out")
    assert "KB5005292" in results["old"]["msg"] and [c["operation"] for c in lab.executions("old")] == ["probe"]
    assert "not an X.509 certificate" in results["bad"]["msg"] and lab.executions("bad") == []
