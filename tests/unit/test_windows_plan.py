"""The Windows planner, without any host: which steps, in which order, and what is refused before any change
(R-12, R-14, R-20..R-25, R-30, R-31, R-60..R-62, R-70)."""

from __future__ import annotations

import pytest

from labmodel import profiles
from labmodel import windows as lab_windows
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import steps as _steps
from ansible_collections.defender.endpoint.plugins.plugin_utils.windows.settings import (
    passive_outcome, plan_passive, plan_workspace)
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.errors import Refused
from ansible_collections.defender.endpoint.plugins.plugin_utils.windows.plan import Want, plan_offboard, plan_onboard

ORG = "00000000-1111-4222-8333-444444444444"
OTHER = "99999999-8888-4777-8666-555555555555"
WS = "11111111-2222-4333-8444-555555555555"
MSI = {"local_path": "/x/md4ws.msi", "sha256": "ab" * 32, "name": "md4ws.msi"}


class Pkg:  # the two fields of PackageInfo the planner reads
    def __init__(self, org_id=ORG, org_ids=()):
        self.org_id, self.org_ids = org_id, tuple(org_ids)


def facts(profile, av=(), **overrides):
    return lab_windows.probe(profiles.initial_state(profile, overrides), list(av))


def names(steps):
    return [s["name"] for s in steps]


def test_modern_host_runs_only_the_script():
    assert names(plan_onboard(facts("windows_server_2022"), Want(package=Pkg()))) == ["run_script"]


def test_onboarded_host_plans_nothing():
    assert plan_onboard(facts("windows_server_2019", onboarded_org=ORG), Want(package=Pkg())) == []


def test_2016_without_feature_enables_it_before_the_msi_and_stops_for_the_restart():
    f = facts("windows_server_2016", defender={"present": False, "feature_installed": False, "enabled": False})
    steps = plan_onboard(f, Want(package=Pkg(), installer=MSI, passive_mode=True))
    assert names(steps) == ["set_passive_mode", "enable_defender_feature", "install_msi", "run_script"]
    assert steps[1]["stop_if_reboot"] and steps[2]["properties"] == "FORCEPASSIVEMODE=1"


def test_unified_without_installer_is_refused():
    with pytest.raises(Refused, match="md4ws.msi.*installer"):
        plan_onboard(facts("windows_server_2012_r2"), Want(package=Pkg()))


def test_third_party_av_sets_passive_and_refuses_active():
    f = facts("windows_server_2019", av=["CSFalconService"], third_party_av=["CSFalconService"])
    assert names(plan_onboard(f, Want(package=Pkg()))) == ["set_passive_mode", "run_script"]
    with pytest.raises(Refused, match="R-14"):
        plan_onboard(f, Want(package=Pkg(), passive_mode=False))


def test_other_org_refused_naming_it_unless_allowed():
    f = facts("windows_server_2019", onboarded_org=OTHER)
    with pytest.raises(Refused, match=OTHER):
        plan_onboard(f, Want(package=Pkg()))
    assert names(plan_onboard(f, Want(package=Pkg(), allow_org_change=True))) == ["run_script"]


def test_downlevel_needs_workspace_and_key_and_installs_the_agent_first():
    with pytest.raises(Refused, match="workspace_id and workspace_key"):
        plan_onboard(facts("windows_7_sp1"), Want())
    steps = plan_onboard(facts("windows_7_sp1"), Want(installer=MSI, workspace_id=WS, has_workspace_key=True,
                                                      cloud="us_government"))
    assert names(steps) == ["install_mma", "add_mma_workspace"] and steps[1]["cloud_type"] == 1
    assert "key" in steps[1] and steps[1]["key"] == "workspace_key"       # a reference, never the key


def test_migration_removes_the_workspace_after_onboarding():
    f = facts("windows_server_2016", mma={"installed": True, "version": "1", "workspaces": [{"id": WS}]},
              onboarded_org=ORG)
    steps = plan_onboard(f, Want(package=Pkg(), installer=MSI, remove_mma_workspace=WS))
    assert names(steps) == ["install_msi", "run_script", "remove_mma_workspace"]


def test_offboarding_checks_org_and_uninstalls_after():
    f = facts("windows_server_2012_r2", onboarded_org=ORG, md4ws={"installed": True, "version": "1"})
    steps = plan_offboard(f, Want(state="absent", package=Pkg(), uninstall=True))
    assert names(steps) == ["run_script", "uninstall_msi"]
    with pytest.raises(Refused, match="offboarding package is for org"):
        plan_offboard(f, Want(state="absent", package=Pkg(OTHER)))
    with pytest.raises(Refused, match="set offboarding_package"):
        plan_offboard(f, Want(state="absent"))


def test_passive_plans_and_outcomes():
    f = facts("windows_server_2019", onboarded_org=ORG, passive_mode=1, third_party_av=["AVP"], av=["AVP"])
    assert plan_passive(f, True, False) == []
    with pytest.raises(Refused, match="AVP"):
        plan_passive(f, False, False)
    assert plan_passive(f, False, True) == [{"name": "set_passive_mode", "value": 0}]
    assert passive_outcome(f, True) == ([], [])
    assert passive_outcome(facts("windows_server_2019", passive_mode=1), True)[1]   # Sense not running: a warning


def test_workspace_plans():
    f = facts("windows_8_1", mma={"installed": True, "version": "1", "workspaces": [{"id": WS}]})
    assert plan_workspace(f, WS, True, True, "commercial", None, False) == []
    assert names(plan_workspace(f, WS, True, True, "commercial", None, True)) == ["remove_mma_workspace",
                                                                                  "add_mma_workspace"]
    assert names(plan_workspace(f, WS, False, False, "commercial", None, False)) == ["remove_mma_workspace"]
    with pytest.raises(Refused, match="not installed"):
        plan_workspace(facts("windows_8_1"), WS, True, True, "commercial", None, False)


@pytest.mark.parametrize("record,expected", [
    ({"name": "install_msi", "rc": 1603, "detail": r"Cannot find c:\x\mpasdesc.dll, -310 WinDefend"}, "R-21"),
    ({"name": "install_msi", "rc": 1618}, "another installation"),
    ({"name": "install_msi", "signature": "NotSigned"}, "Authenticode"),
    ({"name": "run_script", "rc": 15, "step": {"name": "run_script", "kind": "onboarding"}}, "Sense service did not"),
    ({"name": "run_script", "rc": None, "timed_out": True, "timeout": 900,
      "step": {"name": "run_script", "kind": "offboarding"}}, "within 900 s"),
])
def test_failure_messages_say_what_and_what_to_do(record, expected):
    assert expected in _steps.failure_message(record)
