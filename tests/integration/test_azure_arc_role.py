# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The azure_arc role on lab hosts whose Azure side is the local HTTPS fake: its argument checks (one sentence,
nothing done), Azure VMs skipped (the probe's SMBIOS tag or azure_arc_azure_vm), state absent disconnecting (with
Azure, and locally only), and the report's arc section it leaves in mde_row_extra (R-72)."""

from __future__ import annotations

import json

import pytest

from azure_fake import SECRET, SUBSCRIPTION, TENANT, FakeAzure
from azure_fake.harness import auth_args
from azure_fake.server import machine_id
from windows_lab import inventory

RG = "arc-servers"
OTHER_SUB = "00000000-1111-4222-8333-444444444444"


def _connected(name, sub=SUBSCRIPTION, rg=RG):
    return {"arc": {"installed": True, "version": "1.47.02849.1883", "status": "Connected", "resource_name": name,
                    "resource_group": rg, "subscription_id": sub, "tenant_id": TENANT, "location": "westeurope",
                    "cloud": "AzureCloud"}}


def _play(auth):
    return [{"name": "the azure_arc role", "hosts": "all", "gather_facts": False,
             "module_defaults": {"group/defender.endpoint.azure": auth},
             "tasks": [
                 {"name": "run the role", "block": [
                     {"ansible.builtin.include_role": {"name": "defender.endpoint.azure_arc"}}],
                  "rescue": [{"ansible.builtin.set_fact": {"role_failure": "{{ ansible_failed_result.msg }}"}}]},
                 {"name": "save what the role left", "delegate_to": "localhost", "check_mode": False,
                  "ansible.builtin.copy": {
                      "dest": "{{ lookup('env', 'MDE_TEST_OUT') }}/{{ inventory_hostname }}.json", "mode": "0600",
                      "content": "{{ {'failure': role_failure | default(none), 'extra': mde_row_extra | default(none),"
                                 " 'result': azure_arc_result | default(none)} | to_json }}"}}]}]


@pytest.fixture
def arc_lab(lab, tmp_path):
    """(fake, run): run(hosts, extra vars, *args) runs the role on lab hosts whose Azure side is the fake."""
    fake = FakeAzure(tmp_path / "azure").start()
    fake.add_resource_group(RG)
    playbook = tmp_path / "role.yml"
    playbook.write_text(json.dumps(_play(auth_args(fake))))
    lab_env = lab.env
    lab.env = lambda **extra: lab_env(MDE_LAB_ARM_URL=fake.url, MDE_LAB_ARM_CA=fake.ca,
                                      NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", **extra)

    def run(hosts, role_vars, *args, defaults=None):
        extra = tmp_path / "vars.json"
        extra.write_text(json.dumps(role_vars))
        playbook.write_text(json.dumps(_play(dict(auth_args(fake), **(defaults or {})))))
        proc, results = lab.run(playbook, inventory(tmp_path, hosts), tmp_path / "out", "-e", f"@{extra}", *args)
        for secret in [SECRET] + list(fake.tokens):
            assert secret not in proc.stdout + proc.stderr
        return proc, results

    yield fake, run
    fake.stop()


@pytest.mark.parametrize("role_vars, words", [
    ({"azure_arc_state": "gone"}, ["azure_arc_state", "present, absent"]),
    ({"azure_arc_wait_timeout": "soon", "azure_arc_resource_group": RG, "azure_arc_location": "westeurope"},
     ["azure_arc_wait_timeout", "int"]),
    ({"azure_arc_location": "westeurope"},
     ["Connecting to Azure Arc needs a resource group and a location", "nothing was changed"]),
])
def test_refusals_are_one_sentence_and_touch_nothing(arc_lab, lab, role_vars, words):
    fake, run = arc_lab
    _proc, results = run({"srv2019": {"profile": "windows_server_2019"}}, role_vars)
    failure = results["srv2019"]["failure"]
    assert failure and all(w in failure for w in words), failure
    # ansible-core's own heading of an argument spec refusal, then the one sentence
    assert "\n" not in failure.replace("Validation of arguments failed:\n", "").strip(), failure
    assert "apply" not in [c.get("operation") for c in lab.executions("srv2019")]
    assert [r for r in fake.requests() if r["method"] != "GET" and "/subscriptions/" in r["path"]] == []


def test_azure_vms_are_skipped_without_a_change(arc_lab, lab):
    fake, run = arc_lab
    hosts = {"azvm-tag": {"profile": "windows_server_2019", "state": {"azure_vm": True}},
             "azvm-declared": {"profile": "debian_12", "vars": {"azure_arc_azure_vm": True}}}
    proc, results = run(hosts, {"azure_arc_resource_group": RG, "azure_arc_location": "westeurope"})
    assert proc.returncode == 0, proc.stdout[-3000:]
    for host in hosts:
        arc = results[host]["extra"]["arc"]
        assert arc["status"] == "skipped" and arc["azure_vm"] is True and "R-72" in arc["reason"], arc
        assert results[host]["failure"] is None
        assert [c["operation"] for c in lab.executions(host)] == ["probe"]      # read once, nothing applied
    assert "SMBIOS" in results["azvm-tag"]["extra"]["arc"]["reason"]
    assert "azure_arc_azure_vm" in results["azvm-declared"]["extra"]["arc"]["reason"]
    assert [r for r in fake.requests() if "/subscriptions/" in r["path"]] == []


def test_state_absent_disconnects_with_azure_or_locally(arc_lab, lab):
    fake, run = arc_lab
    fake.put_machine(RG, "srv2019-arc")
    hosts = {"srv2019-arc": {"profile": "windows_server_2019", "state": _connected("srv2019-arc")},
             "srv2022-gone": {"profile": "windows_server_2022", "state": _connected("srv2022-gone"),
                              "vars": {"azure_arc_force_local_only": True}}}
    fake.clear_log()
    proc, results = run(hosts, {"azure_arc_state": "absent", "mde_arc_resource_group": RG,
                                "mde_arc_location": "westeurope"})
    assert proc.returncode == 0, proc.stdout[-3000:]
    writes = [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in fake.requests() if r["method"] != "GET"
              and "/subscriptions/" in r["path"]]
    assert writes == [("DELETE", "srv2019-arc")]
    assert fake.resource(machine_id(SUBSCRIPTION, RG, "srv2019-arc")) is None
    for host in hosts:
        assert results[host]["failure"] is None, results[host]
        assert results[host]["extra"]["arc"]["status"] == "disconnected"
        assert results[host]["result"]["changed"] is True
        assert not lab.state(host)["arc"]["subscription_id"]
    again_proc, again = run(hosts, {"azure_arc_state": "absent"})
    assert all(again[h]["result"]["changed"] is False for h in hosts), again
    assert again_proc.returncode == 0


def test_connect_in_the_role_subscription_waits_for_the_extension(arc_lab, lab, packages):
    """azure_arc_subscription_id wins over module_defaults' subscription_id (merged, not hidden by an omit)."""
    fake, run = arc_lab
    fake.set_pricing("Standard")
    fake.edit(lambda state: state.__setitem__("subscriptions", state["subscriptions"] + [OTHER_SUB]))
    hosts = {"srv2019": {"profile": "windows_server_2019"}}
    proc, results = run(hosts, {"azure_arc_resource_group": RG, "azure_arc_location": "westeurope",
                                "azure_arc_subscription_id": SUBSCRIPTION, "azure_arc_wait_interval": 1,
                                "azure_arc_wait_timeout": 30, "azure_arc_tags": {"owner": "secops"},
                                "azure_arc_installer_windows": packages["arc_msi"]},
                        defaults={"subscription_id": OTHER_SUB})
    assert proc.returncode == 0, proc.stdout[-3000:]
    arc = results["srv2019"]["extra"]["arc"]
    assert arc["status"] == "connected" and arc["subscription_id"] == SUBSCRIPTION, arc
    assert arc["extension"] == {"name": "MDE.Windows", "state": "succeeded", "message": arc["extension"]["message"]}
    machine = fake.resource(machine_id(SUBSCRIPTION, RG, "srv2019"))
    assert machine and machine["tags"] == {"owner": "secops"}
    assert lab.state("srv2019")["arc"]["status"] == "Connected"
