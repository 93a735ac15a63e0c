"""Each Windows fault of the lab ends in a clear failure or a handled retry, never in a false "onboarded",
leaves the host no worse than before, and a re-run once the fault clears completes (issue: Windows onboarding)."""

from __future__ import annotations

import pytest

from conftest import Lab
from windows_lab import ONBOARD, inventory, onboard_args

# host: (profile, fault, generation)
FAULTS = {
    "busy": ("windows_server_2012_r2", "msi_busy", "unified"),
    "needs-reboot": ("windows_server_2012_r2", "msi_reboot_required", "unified"),
    "sense-timeout": ("windows_server_2019", "sense_start_timeout", "modern"),
    "mpasdesc": ("windows_server_2012_r2", "mpasdesc_310", "unified"),
    "dropped": ("windows_server_2016", "connection_drop_during_apply", "unified"),
    "unsigned": ("windows_server_2016", "installer_unsigned", "unified"),
    "busy-always": ("windows_server_2016", "msi_busy_always", "unified"),
    "hang": ("windows_server_2012_r2", "installer_hang", "unified"),
}


@pytest.fixture(scope="module")
def faulted(packages, tmp_path_factory):
    base = tmp_path_factory.mktemp("faults")
    lab = Lab(base / "state")
    hosts = {h: {"profile": p, "faults": [f], "vars": {"mde_test_args": onboard_args(packages, g, passive_mode=True)}}
             for h, (p, f, g) in FAULTS.items()}
    # Record each host's fresh state (a check-mode probe), then run with the faults.
    lab.run(ONBOARD, inventory(base, hosts), base / "probe", "--check")
    fresh = {h: lab.state(h) for h in FAULTS}
    _proc, first = lab.run(ONBOARD, inventory(base, hosts), base / "first")
    after = {h: lab.state(h) for h in FAULTS}
    cleared = {h: dict(spec, faults=[]) for h, spec in hosts.items()}
    for host, result in first.items():
        if result.get("reboot_required"):
            lab.reboot(host)
    _proc, rerun = lab.run(ONBOARD, inventory(base, cleared, "cleared.json"), base / "rerun")
    return after, fresh, first, rerun


def test_busy_installer_is_retried_within_the_step(faulted):
    _lab, _fresh, first, _rerun = faulted
    result = first["busy"]
    assert result["verified"] is True and not result.get("failed")
    assert next(s for s in result["steps"] if s["name"] == "install_msi")["attempts"] == 2


def test_always_busy_installer_fails_with_1618(faulted):
    _lab, _fresh, first, _rerun = faulted
    result = first["busy-always"]
    assert result["failed"] and result["failed_step"] == "install_msi"
    assert "1618" in result["msg"] and "another installation" in result["msg"]


def test_reboot_needed_stops_before_onboarding_and_says_so(faulted):
    _lab, _fresh, first, rerun = faulted
    result = first["needs-reboot"]
    assert result["reboot_required"] is True and not result.get("failed")
    assert result["onboarded"] is False and "restart" in result["msg"]
    assert [s["status"] for s in result["steps"]][-1] == "skipped"
    assert rerun["needs-reboot"]["verified"] is True


def test_sense_not_starting_is_a_failure_not_onboarded(faulted):
    _lab, _fresh, first, rerun = faulted
    result = first["sense-timeout"]
    assert result["failed"] and result["failed_step"] == "run_script" and result["onboarded"] is False
    assert "exit code 15" in result["msg"] and "Sense" in result["msg"]
    assert rerun["sense-timeout"]["verified"] is True


def test_mpasdesc_310_is_named_with_its_remedy_and_rolls_back(faulted):
    after, fresh, first, rerun = faulted
    result = first["mpasdesc"]
    assert result["failed"] and result["failed_step"] == "install_msi"
    assert "mpasdesc.dll" in result["msg"] and "R-21" in result["msg"]
    assert after["mpasdesc"]["md4ws"] == fresh["mpasdesc"]["md4ws"]       # rolled back, no worse
    assert rerun["mpasdesc"]["verified"] is True


def test_dropped_connection_is_unreachable_and_the_rerun_finishes(faulted):
    after, _fresh, first, rerun = faulted
    result = first["dropped"]
    assert result.get("unreachable") is True and "dropped" in result["msg"]
    assert result.get("onboarded") is not True
    assert after["dropped"]["passive_mode"] == 1                           # the first step had run
    assert rerun["dropped"]["verified"] is True
    assert [s["name"] for s in rerun["dropped"]["steps"]] == ["install_msi", "run_script"]


def test_unsigned_installer_is_refused_before_msiexec(faulted):
    after, fresh, first, rerun = faulted
    result = first["unsigned"]
    assert result["failed"] and result["failed_step"] == "install_msi"
    assert "Authenticode" in result["msg"]
    assert after["unsigned"]["md4ws"] == fresh["unsigned"]["md4ws"]
    assert rerun["unsigned"]["verified"] is True


def test_a_file_that_is_not_an_msi_is_refused(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    hosts = {"srv": {"profile": "windows_server_2012_r2",
                     "vars": {"mde_test_args": onboard_args(packages, "unified", installer=packages["not_an_msi"])}}}
    _proc, results = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "out")
    assert results["srv"]["failed"] and "signature is NotSigned" in results["srv"]["msg"]
    assert lab.state("srv")["md4ws"]["installed"] is False


def test_tamper_protection_keeps_an_active_device_active_and_is_never_verified(packages, tmp_path):
    """Beside a third-party AV (passive mode automatic) or with passive_mode: true, an active tamper-protected
    device is never reported onboarded and verified: each run fails with the remedy until tamper protection is
    off, and then the re-run converges."""
    lab = Lab(tmp_path / "state")
    org = "00000000-1111-4222-8333-444444444444"
    hosts = {"tp": {"profile": "windows_server_2019", "faults": ["tamper_protected"], "state": {"onboarded_org": org},
                    "vars": {"mde_test_args": onboard_args(packages, "modern", passive_mode=True)}},
             "tp-av": {"profile": "windows_server_2022", "faults": ["tamper_protected"],
                       "state": {"onboarded_org": org, "third_party_av": ["SentinelAgent"]},
                       "vars": {"mde_test_args": onboard_args(packages, "modern")}}}
    inv = inventory(tmp_path, hosts)
    for attempt in ("first", "rerun"):
        _proc, results = lab.run(ONBOARD, inv, tmp_path / attempt)
        for name in hosts:
            result = results[name]
            assert result["failed"] and not result["verified"] and result["av_running_mode"] == "normal", result
            assert "tamper protection off for this device in the Microsoft Defender portal or Intune" in result["msg"]
            assert "run this task again" in result["msg"]
        assert "beside SentinelAgent" in results["tp-av"]["msg"]
    for spec in hosts.values():
        spec["faults"] = []                                        # tamper protection turned off in the portal
    _proc, results = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "fixed")
    for name in hosts:
        assert results[name]["verified"] and results[name]["av_running_mode"] == "passive", results[name]


def test_a_hanging_installer_is_stopped_at_the_timeout(faulted):
    after, fresh, first, rerun = faulted
    result = first["hang"]
    assert result["failed"] and result["failed_step"] == "install_msi" and result["onboarded"] is False
    assert "did not finish within 900 s" in result["msg"] and "step_timeout" in result["msg"]
    assert after["hang"]["md4ws"] == fresh["hang"]["md4ws"]
    assert rerun["hang"]["verified"] is True


def test_installer_already_on_the_host(packages, tmp_path):
    lab = Lab(tmp_path / "state")
    path = "\\\\fileserver\\mde\\md4ws.msi"
    hosts = {"srv": {"profile": "windows_server_2016",
                     "state": {"host_files": {path: {"product": "md4ws", "version": "10.8760.2"}}},
                     "vars": {"mde_test_args": onboard_args(packages, "unified", installer=path,
                                                            installer_remote=True)}}}
    _proc, results = lab.run(ONBOARD, inventory(tmp_path, hosts), tmp_path / "out")
    assert results["srv"]["verified"] and results["srv"]["md4ws_version"] == "10.8760.2"
    assert not [c for c in lab.calls("srv") if "transfer" in c]
    assert lab.state("srv")["host_files"]                     # a file the user provided is never deleted
