"""The Linux planner without any host (docs/linux-fleet.md; R-14, R-30, R-51, R-60)."""

from __future__ import annotations

import pytest

from labmodel import linux as lab_linux
from labmodel import profiles
from ansible_collections.defender.endpoint.plugins.plugin_utils.linux.plan import (
    LinuxWant, plan_offboard, plan_onboard, plan_passive, repository_path)
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.errors import Refused

ORG = "00000000-1111-4222-8333-444444444444"
OTHER = "99999999-8888-4777-8666-555555555555"


class Pkg:
    def __init__(self, org_id=ORG):
        self.org_id, self.org_ids = org_id, ()


def facts(profile="ubuntu_22_04", faults=(), **overrides):
    return lab_linux.probe(profiles.initial_state(profile, overrides), list(faults))


ONBOARDED = {"mdatp": {"installed": True, "version": "101.1", "onboarded_org": ORG}, "repository": "prod"}


def names(steps):
    return [s["name"] for s in steps]


@pytest.mark.parametrize("os_facts,expected", [
    ({"id": "ubuntu", "version_id": "22.04"}, ("ubuntu", "22.04")),
    ({"id": "debian", "version_id": "12"}, ("debian", "12")),
    ({"id": "rhel", "version_id": "9.4"}, ("rhel", "9")),
    ({"id": "rocky", "version_id": "8.10"}, ("rhel", "8")),
    ({"id": "ol", "version_id": "8.9"}, ("rhel", "8")),
    ({"id": "sles", "version_id": "15.5"}, ("sles", "15")),
])
def test_repository_paths(os_facts, expected):
    assert repository_path(os_facts) == expected


def test_fresh_host_plan_order():
    steps = plan_onboard(facts(), LinuxWant(package=Pkg(), passive_mode=True, proxy="http://p:3128/"))
    assert names(steps) == ["setup_repository", "merge_managed_config", "install_package", "write_secret_file",
                            "wait_health"]
    assert steps[1]["settings"] == {"antivirusEngine": {"enforcementLevel": "passive"},
                                    "cloudService": {"proxy": "http://p:3128/"}}
    assert steps[3]["mode"] == "0600" and steps[3]["secret"] == "onboarding_json"


def test_onboarded_host_plans_nothing_and_a_pinned_version_reinstalls():
    f = facts(**ONBOARDED)
    assert plan_onboard(f, LinuxWant(package=Pkg())) == []
    assert names(plan_onboard(f, LinuxWant(package=Pkg(), version="101.2"))) == ["install_package", "wait_health"]


def test_without_repository_installs_from_the_hosts_own():
    assert names(plan_onboard(facts(), LinuxWant(package=Pkg(), repository=False)))[0] == "install_package"


def test_conflicts_and_org_change_are_refused():
    with pytest.raises(Refused, match="falcon-sensor"):
        plan_onboard(facts(faults=["conflicting_fanotify"]), LinuxWant(package=Pkg()))
    assert plan_onboard(facts(faults=["conflicting_fanotify"]), LinuxWant(package=Pkg(), allow_conflicts=True))
    with pytest.raises(Refused, match=ORG):
        plan_onboard(facts(**ONBOARDED), LinuxWant(package=Pkg(OTHER)))
    with pytest.raises(Refused, match="onboarding_package"):
        plan_onboard(facts(), LinuxWant())


def test_offboarding_plans():
    f = facts(**ONBOARDED)
    assert names(plan_offboard(f, LinuxWant(state="absent", package=Pkg(), uninstall=True))) == [
        "write_secret_file", "wait_health", "remove_package"]
    with pytest.raises(Refused, match="licensed to org"):
        plan_offboard(f, LinuxWant(state="absent", package=Pkg(OTHER)))
    assert plan_offboard(facts(), LinuxWant(state="absent")) == []


def test_passive_plan_and_refusal():
    f = facts(**ONBOARDED)
    assert plan_passive(f, True, False)[0]["settings"] == {"antivirusEngine": {"enforcementLevel": "passive"}}
    with pytest.raises(Refused, match="force"):
        plan_passive(facts(faults=["conflicting_fanotify"], **ONBOARDED), False, False)


def test_licensed_but_unhealthy_host_waits_again():
    """After a health wait that gave up, the re-run plans the wait again from what the host shows (issue 13)."""
    unhealthy = {**ONBOARDED, "mdatp": {**ONBOARDED["mdatp"], "definitions_ready": False}}
    steps = plan_onboard(facts(**unhealthy), LinuxWant(package=Pkg(), health_timeout=120))
    assert names(steps) == ["wait_health"]
    assert steps[0]["org_id"] == ORG and steps[0]["timeout"] == 120
    not_answering = facts(faults=["mdatp_not_ready"], **ONBOARDED)
    assert names(plan_onboard(not_answering, LinuxWant(package=Pkg()))) == ["wait_health"]


def test_a_proxy_with_credentials_travels_as_a_secret_and_is_idempotent():
    proxy = "http://svc-mde:S3cr3t-pw@proxy.example:3128/"
    shown = "http://********@proxy.example:3128/"
    steps = plan_onboard(facts(**ONBOARDED), LinuxWant(package=Pkg(), proxy=proxy))
    assert steps == [{"name": "merge_managed_config", "settings": {"cloudService": {"proxy": shown}},
                      "secret_settings": {"cloudService": {"proxy": "proxy"}}}]
    on_host = dict(facts(**ONBOARDED), managed_config={"cloudService": {"proxy": shown}}, managed_config_mode="0600")
    assert plan_onboard(dict(on_host, proxy_matches=True), LinuxWant(package=Pkg(), proxy=proxy)) == []
    # Another password behind the same mask, or a file still readable by all, is written again.
    assert names(plan_onboard(dict(on_host, proxy_matches=False), LinuxWant(package=Pkg(), proxy=proxy))) == [
        "merge_managed_config"]
    assert names(plan_onboard(dict(on_host, proxy_matches=True, managed_config_mode="0644"),
                              LinuxWant(package=Pkg(), proxy=proxy))) == ["merge_managed_config"]
