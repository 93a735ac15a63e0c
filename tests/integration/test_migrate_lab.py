# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""playbooks/migrate.yml end to end on a lab fleet whose Azure side is the local HTTPS fake of Entra and ARM:
Defender for Cloud's prerequisites once, the MMA-based 2016 migrated, the servers connected to Azure Arc (an Azure
VM skipped, a host connected elsewhere refused, a network fault failed), the MDE extension waited for, the report's
Arc section; a second run changes nothing; a --check run writes nothing; no secret anywhere (R-70..R-73)."""

from __future__ import annotations

import json

import pytest

from azure_fake import SECRET, SUBSCRIPTION, TENANT, FakeAzure
from azure_fake.harness import auth_args
from azure_fake.server import machine_id
from conftest import ROOT, Lab
from windows_lab import inventory, play_recap

import package_factory

MIGRATE = ROOT / "playbooks" / "migrate.yml"
OFFBOARD = ROOT / "playbooks" / "offboard.yml"
RG = "arc-servers"
OTHER_SUB = "00000000-1111-4222-8333-444444444444"
CONNECTED = {"srv2016-mma", "srv2019", "debian12"}
FLEET = {
    "srv2016-mma": {"profile": "windows_server_2016", "state": {
        "mma": {"installed": True, "version": "10.20.18067.0",
                "workspaces": [{"id": package_factory.MDE_WORKSPACE_ID}]},
        "onboarded_org": package_factory.FAKE_ORG}},
    "srv2019": {"profile": "windows_server_2019"},
    "debian12": {"profile": "debian_12", "state": {"repository": "prod"}},
    "srv2019-elsewhere": {"profile": "windows_server_2019", "state": {"arc": {
        "installed": True, "version": "1.47.02849.1883", "status": "Connected", "resource_name": "srv2019-elsewhere",
        "resource_group": "other-rg", "subscription_id": OTHER_SUB, "tenant_id": TENANT, "location": "westeurope",
        "cloud": "AzureCloud"}}},
    "srv2022-offline": {"profile": "windows_server_2022", "faults": ["arc_network"]},
    "azvm2019": {"profile": "windows_server_2019", "state": {"azure_vm": True}},
}


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    base = tmp_path_factory.mktemp("migrate")
    fake = FakeAzure(base / "azure").start()
    try:
        fake.add_resource_group(RG)
        packages = package_factory.write_set(str(base / "packages"))
        fleet_vars = dict(package_factory.fleet_vars(packages), mde_azure_subscriptions=[SUBSCRIPTION],
                          mde_azure_auth=auth_args(fake), mde_arc_resource_group=RG, mde_arc_location="westeurope",
                          mde_arc_installer_windows=packages["arc_msi"], mde_arc_wait_interval=1,
                          mde_arc_wait_timeout=60)
        extra = base / "fleet.json"
        extra.write_text(json.dumps(fleet_vars))
        lab = Lab(base / "state")
        hosts = inventory(base, FLEET)
        runs, operations = {}, {}

        def run(name, *args, playbook=MIGRATE):
            report = base / "reports" / name
            fake.clear_log()
            proc = lab.playbook(playbook, "-e", f"@{extra}", *args, inventory=hosts, MDE_REPORT_DIR=str(report),
                                MDE_LAB_ARM_URL=fake.url, MDE_LAB_ARM_CA=fake.ca, NO_PROXY="127.0.0.1,localhost",
                                no_proxy="127.0.0.1,localhost")
            data = json.loads((report / "report.json").read_text()) if (report / "report.json").exists() else None
            before = {h: len(o) for h, o in operations.items()}
            operations.update({h: [c["operation"] for c in lab.executions(h)] for h in FLEET})
            runs[name] = {"proc": proc, "report": data, "dir": report, "requests": fake.requests(),
                          "states": {h: lab.state_bytes(h) for h in FLEET},
                          "operations": {h: operations[h][before.get(h, 0):] for h in FLEET}}

        run("first", "-vvv")
        machines = {name: fake.resource(machine_id(SUBSCRIPTION, RG, name)) for name in FLEET}
        run("second")
        run("check", "--check")
        run("offboard", "-e", "mde_hosts=srv2019,azvm2019", "-e", "mde_arc_disconnect=true", playbook=OFFBOARD)
        yield {"lab": lab, "runs": runs, "machines": machines, "tokens": list(fake.tokens), "base": base,
               "fake": fake}
    finally:
        fake.stop()


def _writes(requests, provider=""):
    return [r for r in requests if r["method"] in ("PUT", "DELETE", "PATCH") and provider.lower() in r["path"].lower()]


def test_first_run_migrates_connects_and_reports_the_arc_section(migrated):
    runs = migrated["runs"]
    first = runs["first"]
    report = first["report"]
    assert report, first["proc"].stdout[-4000:] + first["proc"].stderr[-2000:]
    rows = report["hosts"]
    assert set(rows) == set(FLEET)
    assert rows["srv2016-mma"]["status"] == "onboarded", rows["srv2016-mma"]
    assert migrated["lab"].state("srv2016-mma")["mma"]["workspaces"] == []
    for host in CONNECTED:
        arc = rows[host]["arc"]
        assert arc["status"] == "connected", (host, rows[host])
        assert arc["resource_id"].lower() == machine_id(SUBSCRIPTION, RG, host).lower()
        assert arc["extension"]["state"] == "succeeded", (host, arc)
        assert migrated["machines"][host], host                     # the fake holds the machine
        assert rows[host]["changed"] is True
    assert rows["debian12"]["arc"]["extension"]["name"] == "MDE.Linux"
    assert rows["srv2019"]["arc"]["extension"]["name"] == "MDE.Windows"
    assert rows["srv2019"]["status"] == "skipped" and "Azure Arc: connected" in rows["srv2019"]["reason"]


def test_refusals_failures_and_azure_vms(migrated):
    rows = migrated["runs"]["first"]["report"]["hosts"]
    elsewhere = rows["srv2019-elsewhere"]
    assert elsewhere["status"] == "failed" and elsewhere["arc"]["status"] == "failed"
    assert "allow_move" in elsewhere["reason"] and "allow_move" in elsewhere["arc"]["reason"]
    assert OTHER_SUB in elsewhere["arc"]["reason"]
    offline = rows["srv2022-offline"]
    assert offline["status"] == "failed" and offline["arc"]["status"] == "failed"
    assert "AZCM0026" in offline["arc"]["reason"] + str(offline["arc"]["error_code"])
    azvm = rows["azvm2019"]
    assert azvm["status"] == "skipped" and azvm["arc"]["status"] == "skipped" and azvm["arc"]["azure_vm"] is True
    assert "R-72" in azvm["arc"]["reason"]
    assert not any(migrated["machines"][h] for h in ("srv2019-elsewhere", "srv2022-offline", "azvm2019"))
    assert migrated["lab"].state("azvm2019")["arc"]["installed"] is False
    assert migrated["runs"]["first"]["proc"].returncode == 2       # the failed hosts fail the run after the report


def test_subscription_prerequisites_are_set_once(migrated):
    runs = migrated["runs"]
    assert _writes(runs["first"]["requests"], "/providers/Microsoft.Security/"), "the first run set nothing"
    assert _writes(runs["second"]["requests"], "/providers/Microsoft.Security/") == []
    writes = _writes(runs["first"]["requests"], "Microsoft.HybridCompute/machines")
    machine_puts = {r["path"].rsplit("/", 1)[-1].lower() for r in writes}
    assert machine_puts == CONNECTED


def test_second_run_changes_nothing(migrated):
    runs = migrated["runs"]
    recap = play_recap(runs["second"]["proc"].stdout)
    assert set(recap) >= set(FLEET), runs["second"]["proc"].stdout[-3000:]
    assert all(recap[h]["changed"] == 0 for h in FLEET), recap
    assert runs["second"]["report"]["summary"]["changed"] == 0
    # One read per host (mde_info; arc_connect plans from it), no verification read where nothing changed; the
    # host Azure cannot be reached from tries its connect again (a failed step changes nothing).
    assert runs["second"]["operations"] == {h: ["probe", "apply"] if h == "srv2022-offline" else ["probe"]
                                            for h in FLEET}
    # The first run read again (verification) only the hosts something changed on.
    assert {h for h, ops in runs["first"]["operations"].items() if ops.count("probe") == 2} == CONNECTED
    assert _writes(runs["second"]["requests"]) == []
    assert {h: r["arc"]["status"] for h, r in runs["second"]["report"]["hosts"].items()} == {
        "srv2016-mma": "connected", "srv2019": "connected", "debian12": "connected", "srv2019-elsewhere": "failed",
        "srv2022-offline": "failed", "azvm2019": "skipped"}
    for host in CONNECTED:
        assert runs["second"]["states"][host] == runs["first"]["states"][host], host


def test_check_run_writes_nothing(migrated):
    runs = migrated["runs"]
    check = runs["check"]
    assert check["report"]["dry_run"] is True
    assert _writes(check["requests"]) == []
    assert check["states"] == runs["second"]["states"]
    assert check["report"]["hosts"]["srv2022-offline"]["arc"]["reason"].startswith("dry run; would run: ")


def test_offboard_disconnects_arc_when_asked(migrated):
    offboard = migrated["runs"]["offboard"]
    rows = offboard["report"]["hosts"]
    assert set(rows) == {"srv2019", "azvm2019"}
    assert rows["srv2019"]["status"] == "offboarded", rows["srv2019"]
    assert rows["srv2019"]["arc"]["status"] == "disconnected"
    assert rows["azvm2019"]["arc"]["status"] == "skipped"
    assert [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in _writes(offboard["requests"])] == [
        ("DELETE", "srv2019")]
    assert not migrated["lab"].state("srv2019")["arc"]["subscription_id"]
    assert migrated["lab"].state("srv2019")["arc"]["installed"] is True        # the agent stays, disconnected


def test_no_secret_or_token_anywhere(migrated):
    runs, base = migrated["runs"], migrated["base"]
    assert migrated["tokens"], "the fake issued no token: nothing was connected"
    texts = [r["proc"].stdout + r["proc"].stderr for r in runs.values()]
    for folder in [r["dir"] for r in runs.values()] + [base / "state"]:
        texts += [p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()]
    texts.append((base / "azure" / "requests.jsonl").read_text())
    blob = "\n".join(texts)
    for secret in [SECRET] + migrated["tokens"]:
        assert secret not in blob
