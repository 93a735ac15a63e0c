# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One probe per host per run: mde_onboard, defender_passive_mode and mma_workspace take the result mde_info just
returned (option assessment) instead of probing again, within assessment_max_age; anything else is refused before
the host is touched, or probed again. Run against the lab host model (recorder.LabHost)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleActionFail

import recorder

ORG = recorder.ORG


@pytest.fixture
def lab(monkeypatch, tmp_path):
    monkeypatch.setenv("MDE_LAB_STATE_DIR", str(tmp_path / "lab"))
    return recorder.LabHost


@pytest.fixture(scope="module")
def onboarding(packages):
    return {"windows": packages["win_onboard_cmd"], "linux": packages["linux_onboard_py"]}


def test_mde_info_says_when_and_where_it_read(lab):
    host = lab("windows_server_2019", {})
    info, calls = host.run("mde_info", {})
    assert len(calls) == 1 and info["probed_host"] == "lab-host"
    assert abs(info["probed_at"] - __import__("time").time()) < 30


@pytest.mark.parametrize("check_mode", [False, True])
def test_converged_host_costs_one_remote_execution(lab, onboarding, check_mode):
    host = lab("windows_server_2019", {"onboarded_org": ORG})
    info = host.run("mde_info", {})[0]
    result, calls = host.run("mde_onboard", {"onboarding_package": [onboarding["windows"]], "assessment": info},
                             check_mode)
    assert calls == [] and result["changed"] is False and result["verified"] and result["org_id"] == ORG


def test_fresh_host_costs_two_remote_executions(lab, onboarding):
    host = lab("windows_server_2019", {})
    info = host.run("mde_info", {})[0]
    result, calls = host.run("mde_onboard", {"onboarding_package": [onboarding["windows"]], "assessment": info})
    assert [c["operation"] for c in calls] == ["apply"] and calls[0]["steps"] == ["run_script"]
    assert result["changed"] and result["verified"] and result["onboarded"]
    again, calls = host.run("mde_onboard", {"onboarding_package": [onboarding["windows"]]})
    assert [c["operation"] for c in calls] == ["probe"] and again["changed"] is False


def test_check_mode_with_an_assessment_touches_nothing(lab, onboarding):
    host = lab("windows_server_2019", {})
    info = host.run("mde_info", {})[0]
    result, calls = host.run("mde_onboard", {"onboarding_package": [onboarding["windows"]], "assessment": info},
                             check_mode=True)
    assert calls == [] and result["changed"] and [s["name"] for s in result["steps"]] == ["run_script"]


def test_stale_assessment_is_probed_again(lab, onboarding):
    host = lab("windows_server_2019", {"onboarded_org": ORG})
    info = host.run("mde_info", {})[0]
    old = dict(info, probed_at=info["probed_at"] - 301)
    result, calls = host.run("mde_onboard", {"onboarding_package": [onboarding["windows"]], "assessment": old})
    assert [c["operation"] for c in calls] == ["probe"] and result["changed"] is False
    calls = host.run("mde_onboard", {"onboarding_package": [onboarding["windows"]], "assessment": info,
                                     "assessment_max_age": 0})[1]
    assert [c["operation"] for c in calls] == ["probe"]


@pytest.mark.parametrize("change, message", [
    ({"probed_host": "other-host"}, "assessment was read on host other-host, not on lab-host"),
    ({"probed_at": None}, "assessment is not a result of defender.endpoint.mde_info"),
    ({"host_facts": {"platform": "linux"}}, "assessment holds linux facts but this host is reached as Windows"),
])
def test_an_assessment_of_something_else_is_refused_before_the_host(lab, onboarding, change, message):
    host = lab("windows_server_2019", {})
    info = host.run("mde_info", {})[0]
    result, calls = host.run("mde_onboard", {"onboarding_package": [onboarding["windows"]],
                                             "assessment": dict(info, **change)})
    assert isinstance(result, AnsibleActionFail) and message in str(result) and calls == []


def test_negative_max_age_is_refused(lab, onboarding):
    host = lab("windows_server_2019", {})
    result, calls = host.run("mde_onboard", {"onboarding_package": [onboarding["windows"]],
                                             "assessment_max_age": -1})
    assert isinstance(result, AnsibleActionFail) and "cannot be negative" in str(result) and calls == []


def test_what_only_a_probe_can_answer_is_probed(lab, onboarding):
    """An installer on the host (installer_remote) is looked at by the probe; mde_info did not look at it."""
    host = lab("windows_server_2016", {})
    info = host.run("mde_info", {})[0]
    result, calls = host.run("mde_onboard", {"onboarding_package": [onboarding["windows"]], "assessment": info,
                                             "installer": "C:\\\\Temp\\\\md4ws.msi", "installer_remote": True})
    assert calls[0]["operation"] == "probe" and isinstance(result, dict)


def test_linux_onboarding_and_the_setting_modules_take_it_too(lab, onboarding):
    linux = lab("debian_12", {})
    info = linux.run("mde_info", {})[0]
    result, calls = linux.run("mde_onboard", {"onboarding_package": [onboarding["linux"]], "assessment": info})
    assert [c["operation"] for c in calls] == ["apply"] and result["verified"] and result["licensed"]
    windows = lab("windows_server_2019", {}, name="lab-windows")
    info = windows.run("mde_info", {})[0]
    passive, calls = windows.run("defender_passive_mode", {"enabled": True, "assessment": info})
    assert [c["operation"] for c in calls] == ["apply"] and passive["force_passive_mode"] == 1
    downlevel = lab("windows_7_sp1", {"mma": {"installed": True}}, name="lab-downlevel")
    info = downlevel.run("mde_info", {})[0]
    added, calls = downlevel.run("mma_workspace", {"workspace_id": recorder.WORKSPACE, "workspace_key": "S0VZ",
                                                   "assessment": info})
    assert [c["operation"] for c in calls] == ["apply"] and recorder.WORKSPACE in added["workspaces"]


def test_a_change_between_read_and_apply_is_judged_on_the_facts_read_back(lab, onboarding):
    """mde_info read a host that was not onboarded; another run onboards it before mde_onboard runs with the old
    result: the old plan's script runs again (the same org: harmless) and the facts the apply reads back, not the
    assessment, make the result."""
    host = lab("windows_server_2019", {})
    info = host.run("mde_info", {})[0]
    host.run("mde_onboard", {"onboarding_package": [onboarding["windows"]]})
    result, calls = host.run("mde_onboard", {"onboarding_package": [onboarding["windows"]], "assessment": info})
    assert [c["operation"] for c in calls] == ["apply"] and calls[0]["steps"] == ["run_script"]
    assert result["verified"] and result["org_id"] == ORG and result["onboarded"]
    assert calls[0]["reply"]["facts"]["mde"]["onboarding_state"] == 1
