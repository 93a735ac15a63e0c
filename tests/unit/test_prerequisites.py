"""R-10 to R-14: prerequisites per generation, read from facts the lab model produces."""

from __future__ import annotations

import pytest

from labmodel import linux as lab_linux
from labmodel import profiles
from labmodel import windows as lab_windows
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.generation import classify
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.prerequisites import check


def facts_of(profile, **overrides):
    state = profiles.initial_state(profile, overrides)
    if state["platform"] == "windows":
        return lab_windows.probe(state, ["CSFalconService"])
    return lab_linux.probe(state, [])


def missing_ids(profile, **overrides):
    facts = facts_of(profile, **overrides)
    return [item["id"] for item in check(facts, classify(facts).generation)[0]]


@pytest.mark.parametrize("profile", sorted(p for p in profiles.PROFILES))
def test_fully_patched_profiles_miss_nothing(profile):
    assert missing_ids(profile) == []


@pytest.mark.parametrize("profile, overrides, expected", [
    ("windows_7_sp1", {"hotfixes": [], "dotnet_release": None}, ["KB4074598", "dotnet45_or_KB3154518", "KB3080149"]),
    ("windows_7_sp1", {"hotfixes": ["KB4074598", "KB3080149"], "dotnet_release": 378389}, []),
    ("windows_7_sp1", {"hotfixes": ["KB4074598", "KB3080149"], "dotnet_release": None}, ["dotnet45_or_KB3154518"]),
    ("windows_8_1", {"hotfixes": []}, ["KB3080149"]),  # rollup and .NET apply to 2008 R2 / 7 only
    ("windows_server_2008_r2_sp1", {"pending_reboot": True}, ["pending_reboot"]),
    ("windows_server_2012_r2", {"hotfixes": [], "ucrt": False, "tdh_version": "6.3.9600.17000"}, ["UCRT", "KB3080149"]),
    ("windows_server_2012_r2", {"hotfixes": [], "tdh_version": "6.3.9600.17958"}, []),
    ("windows_server_2016", {"os": {"ubr": 2000}, "hotfixes": []}, ["SSU_2021_09_14", "LCU_2018_09_20"]),
    ("windows_server_2016", {"defender": {"present": False, "feature_installed": False}}, ["defender_feature"]),
    ("windows_server_2016", {"defender": {"enabled": False}}, ["defender_enabled"]),
    ("windows_server_2016", {"defender": {"platform_version": "4.10.14393.2515"}}, ["KB4052623"]),
    ("windows_server_2016", {"defender": {"disable_antispyware_policy": True}}, ["defender_disabled_by_policy"]),
    ("windows_server_2019", {"sense_builtin": False}, ["sense_service"]),
    ("ubuntu_22_04", {"free_disk_mb": 500}, ["disk_space"]),
])
def test_missing(profile, overrides, expected):
    assert missing_ids(profile, **overrides) == expected


def test_every_missing_item_says_what_to_do():
    facts = facts_of("windows_server_2016", os={"ubr": 2000}, hotfixes=[], defender={"enabled": False},
                     pending_reboot=True)
    missing, _warnings = check(facts, "unified")
    assert missing
    for item in missing:
        assert item["remedy"] and item["requirement"] and item["spec"].startswith("R-")


def test_pending_reboot_only_blocks_when_an_installer_must_run():
    installed = {"md4ws": {"installed": True, "version": "10.8760.0"}, "pending_reboot": True}
    assert missing_ids("windows_server_2012_r2", **installed) == []
    assert missing_ids("windows_server_2019", pending_reboot=True) == []


def test_third_party_av_and_fanotify_warn():
    facts = facts_of("windows_server_2016", third_party_av=["CSFalconService"])
    assert any("CSFalconService" in w and "passive" in w for w in check(facts, "unified")[1])
    facts = facts_of("rhel_9", fanotify_conflicts=[{"pid": 4, "comm": "falcon-sensor"}])
    assert any("falcon-sensor" in w for w in check(facts, "linux")[1])


def test_downlevel_warns_that_the_mma_is_retired():
    assert any("retired" in w for w in check(facts_of("windows_7_sp1"), "downlevel")[1])


def test_unsupported_has_no_prerequisites():
    facts = facts_of("windows_server_2012")
    assert check(facts, classify(facts).generation) == ([], [])
