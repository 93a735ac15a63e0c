# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every host action plugin with the executor's replies recorded from the lab (recorder.py) replayed into it: what
it sends to the host, what it returns, how many remote executions it makes, and its -vvv plan trace."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import action as _host_action
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.action import HostAction

import recorder

ORG = recorder.ORG
WORKSPACE = recorder.WORKSPACE
MMA_RETIRED = "the Microsoft Monitoring Agent"


@pytest.fixture(scope="module")
def package_dir(packages, tmp_path_factory):
    folder = os.path.dirname(packages["win_onboard_cmd"])
    msi = tmp_path_factory.mktemp("installer") / "md4ws.msi"
    import package_factory   # pylint: disable=import-outside-toplevel
    msi.write_bytes(package_factory.installer("md4ws", "4.18.24090.11"))
    shutil.copy(msi, os.path.join(folder, "md4ws.msi"))
    return folder


class Trace:
    def __init__(self):
        self.lines = []

    def __call__(self, msg, *args, **kwargs):
        del args, kwargs
        self.lines.append(msg)


@pytest.fixture
def trace(monkeypatch):
    lines = Trace()
    monkeypatch.setattr(_host_action.display, "verbosity", 3)
    monkeypatch.setattr(_host_action.display, "display", lines)
    return lines


def replay(name: str, package_dir: str):
    """Yield (action, result or exception, replay) for each recorded task of the scenario, in order."""
    recording = json.loads((recorder.REPLIES / f"{name}.json").read_text(encoding="utf-8"))
    windows = recording["profile"].startswith("windows")
    for task in recording["tasks"]:
        action = recorder.make_action(recording["action"], recorder._fill(task["args"], package_dir),
                                      task["check_mode"], "powershell" if windows else "sh")
        fake = recorder.Replay(task["calls"])
        action._execute_module = fake
        try:
            outcome = action.run(task_vars={"inventory_hostname": "lab-host"})
        except AnsibleActionFail as exc:
            outcome = exc
        assert not fake.calls, f"{name}: {len(fake.calls)} recorded call(s) were not made"
        if isinstance(outcome, dict):
            assert sorted(outcome) == task["result_keys"], f"{name}: the result's keys changed"
        yield action, outcome, fake


def test_every_action_plugin_is_a_short_subclass_of_the_skeleton():
    for name in ("mde_info", "mde_onboard", "defender_passive_mode", "mma_workspace", "mde_detection_test"):
        action = recorder.make_action(name, {}, False, "powershell")
        assert isinstance(action, HostAction) and type(action).run is HostAction.run, name


def test_onboard_windows_check_then_apply_then_converged(package_dir, trace):
    (check, checked, c1), (_apply, applied, c2), (_again, again, c3) = replay("onboard_windows_2016", package_dir)
    assert [len(c.sent) for c in (c1, c2, c3)] == [1, 2, 1]          # probe; probe + apply; probe
    assert checked["changed"] and checked["msg"].startswith("check mode: nothing was changed")
    assert [s["name"] for s in checked["steps"]] == ["install_msi", "run_script"]
    assert {s["status"] for s in checked["steps"]} == {"planned"}
    assert checked["diff"]["prepared"].splitlines()[0].startswith("1. msiexec /i md4ws.msi /quiet")
    assert checked["diff"]["after"]["onboarded_org"] == ORG and checked["diff"]["before"]["onboarded_org"] is None
    check._connection.put_file.assert_not_called()
    sent = c2.sent[1]
    assert set(sent["secrets"]) == {"onboarding_script"}
    assert sent["steps"][0]["path"] == _apply._connection.put_file.call_args.args[1]
    assert "local_path" not in sent["steps"][0]
    assert applied["changed"] and applied["verified"] and applied["onboarded"] and applied["org_id"] == ORG
    assert [s["status"] for s in applied["steps"]] == ["ok", "ok"]
    assert "onboardingBlob" not in json.dumps(applied) and sent["secrets"]["onboarding_script"] not in str(applied)
    assert again["changed"] is False and again["steps"] == [] and again["verified"]
    plan = [line for line in trace.lines if "plan step" in line]
    assert plan[0].endswith("because the unified solution (md4ws) is not installed")
    assert any("plan has no step: the host already is as asked" in line for line in trace.lines)
    assert not any(sent["secrets"]["onboarding_script"][:40] in line for line in trace.lines)


def test_onboard_linux_passive_then_converged(package_dir):
    (_first, first, c1), (_second, second, c2) = replay("onboard_linux_debian", package_dir)
    assert [len(c.sent) for c in (c1, c2)] == [2, 1]
    assert c1.sent[0]["module_name"] == "defender.endpoint.mde_host_linux"
    assert set(c1.sent[1]["secrets"]) == {"onboarding_json"}
    assert first["changed"] and first["verified"] and first["licensed"] and first["passive_mode_enabled"]
    assert second["changed"] is False and second["verified"] and second["org_id"] == ORG


def test_passive_mode_windows(package_dir):
    (_c, checked, c1), (_a, applied, c2), (_s, again, c3) = replay("passive_windows_2019", package_dir)
    assert [len(c.sent) for c in (c1, c2, c3)] == [1, 2, 1]
    assert checked["changed"] and checked["steps"][0]["status"] == "planned"
    assert checked["diff"]["before"] == {"force_defender_passive_mode": None}
    assert checked["diff"]["after"] == {"force_defender_passive_mode": 1}
    assert c2.sent[1]["steps"] == [{"name": "set_passive_mode", "value": 1}] and c2.sent[1]["timeout"] == 60
    assert applied["changed"] and applied["force_passive_mode"] == 1 and applied["steps"][0]["status"] == "ok"
    assert any("Sense service runs" in w for w in applied["warnings"])
    assert again["changed"] is False and "steps" not in again


def test_passive_mode_refused_beside_another_av(package_dir, trace):
    ((_action, refused, calls),) = replay("passive_windows_refused", package_dir)
    assert isinstance(refused, AnsibleActionFail) and "CSFalconService is installed" in str(refused)
    assert len(calls.sent) == 1
    assert any("plan refused, nothing will change: CSFalconService is installed" in line for line in trace.lines)


def test_passive_mode_linux(package_dir):
    ((_action, result, calls),) = replay("passive_linux_debian", package_dir)
    assert calls.sent[1]["steps"][0]["settings"] == {"antivirusEngine": {"enforcementLevel": "passive"}}
    assert result["changed"] and result["enforcement_level"] == "passive"
    assert result["diff"]["after"] == {"enforcement_level": "passive"}


def test_mma_workspace_add_converged_remove(package_dir, trace):
    (_a, added, c1), (_b, again, c2), (_c, removed, c3) = replay("workspace_windows_7", package_dir)
    assert [len(c.sent) for c in (c1, c2, c3)] == [2, 1, 2]
    assert c1.sent[1]["secrets"]["workspace_key"] == "S0VZ" and c1.sent[1]["timeout"] == 120
    assert "S0VZ" not in json.dumps([added, again, removed]) and not any("S0VZ" in line for line in trace.lines)
    assert added["changed"] and WORKSPACE in added["workspaces"] and MMA_RETIRED in added["warnings"][0]
    assert added["diff"]["after"]["mma_workspaces"] == [WORKSPACE]
    assert again["changed"] is False
    assert removed["changed"] and WORKSPACE not in removed["workspaces"]


def test_detection_test_windows(package_dir):
    (_c, checked, c1), (_a, ran, c2) = replay("detection_windows_2019", package_dir)
    assert [len(c.sent) for c in (c1, c2)] == [1, 2]
    assert checked["changed"] and checked["steps"][0]["status"] == "planned" and "diff" not in checked
    assert ran["org_id"] == ORG and ran["steps"][0]["status"] == "ok"
    assert "Suspicious PowerShell command line" in ran["msg"]


def test_detection_test_refuses_a_host_that_is_not_onboarded(package_dir):
    ((_action, refused, calls),) = replay("detection_windows_not_onboarded", package_dir)
    assert isinstance(refused, AnsibleActionFail) and str(refused).startswith("the host is not onboarded")
    assert len(calls.sent) == 1


def test_detection_test_linux(package_dir):
    ((_action, result, calls),) = replay("detection_linux_debian", package_dir)
    assert calls.sent[1]["steps"] == [{"name": "av_detection", "timeout": 60}] and calls.sent[1]["timeout"] == 360
    assert result["av_test"] == "detected" and result["detected"] is True and not result.get("failed")
    assert "mdatp detected the EICAR test file" in result["msg"]


def test_the_recordings_are_what_the_lab_answers_today():
    """Recorded again from the lab, each scenario sends the same calls and gets replies of the same shape."""
    for name in recorder.SCENARIOS:
        stored = json.loads((recorder.REPLIES / f"{name}.json").read_text(encoding="utf-8"))
        fresh = recorder.record(name)
        assert [[(c["operation"], c["steps"]) for c in t["calls"]] for t in fresh["tasks"]] == \
            [[(c["operation"], c["steps"]) for c in t["calls"]] for t in stored["tasks"]], name
        assert [t["result_keys"] for t in fresh["tasks"]] == [t["result_keys"] for t in stored["tasks"]], name
