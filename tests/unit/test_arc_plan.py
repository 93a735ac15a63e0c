# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Connected Machine agent's planner: from the probe's `arc` facts and the wanted machine to the steps."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.plugin_utils.arc import plan as arc_plan
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import steps as registry
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.errors import Refused

SUB = "20ff7fc3-e762-44dd-bd96-b71116dcdc23"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
INSTALLER = {"local_path": "/x/AzureConnectedMachineAgent.msi", "sha256": "ab" * 32,
             "name": "AzureConnectedMachineAgent.msi", "format": "msi"}


def wanted(**kw):
    base = dict(state="present", subscription_id=SUB, resource_group="rg-arc", location="westeurope",
                tenant_id=TENANT)
    base.update(kw)
    return arc_plan.Wanted(**base)


def connected(**kw):
    arc = {"installed": True, "status": "Connected", "subscription_id": SUB, "resource_group": "rg-arc",
           "tenant_id": TENANT, "location": "westeurope", "resource_name": "srv01", "https_proxy": None}
    arc.update(kw)
    return {"platform": "windows", "arc": arc, "azure_vm": False}


def names(steps):
    return [s["name"] for s in steps]


def test_missing_agent_is_installed_then_connected_and_the_token_is_only_named():
    steps = arc_plan.plan({"arc": {"installed": False}}, wanted(installer=INSTALLER, tags={"env": "prod"}), True)
    assert names(steps) == ["install_arc_agent", "arc_connect"]
    assert steps[0]["local_path"] == INSTALLER["local_path"] and steps[0]["sha256"] == INSTALLER["sha256"]
    assert steps[1]["token"] == arc_plan.TOKEN_KEY and steps[1]["tags"] == {"env": "prod"}
    assert arc_plan.needs_token(steps)


def test_windows_without_installer_and_linux_without_repository_are_refused():
    with pytest.raises(Refused, match="AzureConnectedMachineAgent.msi"):
        arc_plan.plan({"arc": {"installed": False}}, wanted(), True)
    with pytest.raises(Refused, match="repository is not configured"):
        arc_plan.plan({"platform": "linux", "arc": {"installed": False}, "repository": {"present": False}},
                      wanted(), False)
    steps = arc_plan.plan({"platform": "linux", "arc": {"installed": False}, "repository": {"present": True},
                           "package_manager": "apt-get"}, wanted(), False)
    assert steps[0] == {"name": "install_arc_agent", "from_repository": True, "package": "azcmagent",
                        "package_manager": "apt-get"}


def test_connected_as_asked_plans_nothing_case_insensitively_and_without_a_token():
    facts = connected(resource_group="RG-ARC", location="WestEurope")
    assert arc_plan.plan(facts, wanted(), True) == []
    assert arc_plan.plan(facts, wanted(resource_name="SRV01"), True) == []
    assert arc_plan.outcome(facts, wanted()) == []


@pytest.mark.parametrize("field, value", [
    ("subscription_id", "00000000-0000-4000-8000-000000000000"), ("resource_group", "rg-other"),
    ("tenant_id", "11111111-1111-4111-8111-111111111111"), ("location", "eastus"), ("resource_name", "old-name")])
def test_a_machine_connected_elsewhere_is_refused_unless_allow_move(field, value):
    facts = connected(**{field: value})
    want = wanted(resource_name="srv01")
    with pytest.raises(Refused, match=f"{field} {value}.*allow_move: true"):
        arc_plan.plan(facts, want, True)
    want.allow_move = True
    steps = arc_plan.plan(facts, want, True)
    assert names(steps) == ["arc_disconnect", "arc_connect"] and steps[0]["token"] == arc_plan.TOKEN_KEY


def test_expired_agent_is_disconnected_locally_then_connected():
    steps = arc_plan.plan(connected(status="Expired"), wanted(), True)
    assert names(steps) == ["arc_disconnect", "arc_connect"]
    assert steps[0] == {"name": "arc_disconnect", "force_local_only": True, "token": None}


def test_disconnected_heartbeat_is_a_problem_with_the_agents_error_code():
    problems = arc_plan.outcome(connected(status="Disconnected", error_code="AZCM0026"), wanted())
    assert len(problems) == 1 and "AZCM0026" in problems[0] and "azcmagent check" in problems[0]


def test_proxy_is_set_cleared_or_left():
    assert names(arc_plan.plan(connected(), wanted(proxy="http://proxy.corp:3128"), True)) == ["arc_set_proxy"]
    assert arc_plan.plan(connected(https_proxy="http://proxy.corp:3128"), wanted(proxy="http://proxy.corp:3128/"),
                         True) == []
    assert arc_plan.plan(connected(https_proxy="http://proxy.corp:3128"), wanted(proxy=""), True) == [
        {"name": "arc_set_proxy", "proxy_url": None}]
    assert arc_plan.plan(connected(https_proxy="http://proxy.corp:3128"), wanted(), True) == []


def test_absent_disconnects_with_the_token_or_locally_and_nothing_when_not_connected():
    assert arc_plan.plan(connected(), arc_plan.Wanted(state="absent"), True) == [
        {"name": "arc_disconnect", "force_local_only": False, "token": arc_plan.TOKEN_KEY}]
    local = arc_plan.plan(connected(), arc_plan.Wanted(state="absent", force_local_only=True), True)
    assert local == [{"name": "arc_disconnect", "force_local_only": True, "token": None}]
    assert not arc_plan.needs_token(local)
    never = {"arc": {"installed": True, "status": "Disconnected"}}
    assert arc_plan.plan(never, arc_plan.Wanted(state="absent"), True) == []
    assert arc_plan.plan({"arc": {"installed": False}}, arc_plan.Wanted(state="absent"), True) == []


def test_azure_vm_is_refused_for_present():
    with pytest.raises(Refused, match="Azure virtual machine"):
        arc_plan.plan(dict(connected(), azure_vm=True), wanted(), True)


def test_registry_describes_and_maps_each_agent_error_to_its_remedy():
    step = arc_plan.plan({"arc": {"installed": True, "status": "Disconnected"}}, wanted(tags={"a": "b"}), True)[0]
    line = registry.describe(step)
    assert "rg-arc" in line and "a=b" in line and "token" in line
    remedies = {"AZCM0026": "private_link_scope", "AZCM0041": "tenant_id", "AZCM0044": "resource_name",
                "AZCM0067": "allow_move", "AZCM0153": "does not support this operating system"}
    for code, remedy in remedies.items():
        message = registry.failure_message({"name": "arc_connect", "rc": 1, "error_code": code, "step": step})
        assert code in message and remedy in message
    for arm, remedy in {"AuthorizationFailed": "Azure Connected Machine Onboarding",
                        "MissingSubscriptionRegistration": "Microsoft.HybridCompute"}.items():
        message = registry.failure_message({"name": "arc_connect", "rc": 1, "arm_code": arm, "step": step})
        assert remedy in message
    after = registry.expected_view({"arc": {"installed": True, "status": "Disconnected"}}, [step], None)
    assert after["arc"]["status"] == "Connected" and after["arc"]["resource_group"] == "rg-arc"
