"""report.csv is safe to open in a spreadsheet: no cell is read as a formula."""

from __future__ import annotations

import csv
import io

from ansible_collections.defender.endpoint.plugins.plugin_utils.report.fleet import to_csv


def test_cells_that_would_be_formulas_are_neutralised():
    report = {"hosts": {
        "=cmd|' /C calc'!A0": {
            "generation": "modern", "os": "+SUM(1)", "status": "failed", "org_id": None, "av_running_mode": "-2+3",
            "changed": False, "reason": "@import", "next_action": "\tx"},
        "srv2019": {"generation": "modern", "os": "Windows Server 2019", "status": "onboarded",
                    "org_id": "00000000-1111-4222-8333-444444444444", "av_running_mode": "normal", "changed": True,
                    "reason": "", "next_action": ""},
    }}
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    bad = next(r for r in rows if r["generation"] == "modern" and r["status"] == "failed")
    assert bad["host"] == "'=cmd|' /C calc'!A0" and bad["os"] == "'+SUM(1)" and bad["av_running_mode"] == "'-2+3"
    assert bad["reason"] == "'@import" and bad["next_action"] == "'\tx" and bad["org_id"] == ""
    good = next(r for r in rows if r["host"] == "srv2019")
    assert good["os"] == "Windows Server 2019" and good["changed"] == "True"
    assert good["org_id"] == "00000000-1111-4222-8333-444444444444"


def test_the_arc_and_identity_columns_are_flat_and_neutralised():
    arc = {"status": "connected", "resource_id": "/subscriptions/s/resourceGroups/rg/providers/"
           "Microsoft.HybridCompute/machines/dc1", "extension": {"name": "MDE.Windows", "state": "Succeeded"}}
    report = {"hosts": {
        "dc1": {"status": "onboarded", "arc": arc,
                "defender_for_identity": {"domain_controller": True, "sensor": "v2", "ready": True}},
        "dc2": {"status": "onboarded",
                "defender_for_identity": {"domain_controller": True, "sensor": None, "ready": False}},
        "srv": {"status": "failed", "arc": {"status": "failed", "resource_id": "=HYPERLINK(\"x\")",
                                            "extension": None}},
        "plain": {"status": "onboarded"},
    }}
    text = to_csv(report)
    assert text.splitlines()[0].endswith(",generated,arc_status,arc_resource_id,arc_extension,mdi_sensor,mdi_ready")
    rows = {r["host"]: r for r in csv.DictReader(io.StringIO(text))}
    assert (rows["dc1"]["arc_status"], rows["dc1"]["arc_extension"]) == ("connected", "MDE.Windows Succeeded")
    assert rows["dc1"]["arc_resource_id"] == arc["resource_id"]
    assert (rows["dc1"]["mdi_sensor"], rows["dc1"]["mdi_ready"]) == ("v2", "True")
    assert (rows["dc2"]["mdi_sensor"], rows["dc2"]["mdi_ready"]) == ("none", "False")
    assert rows["srv"]["arc_resource_id"] == "'=HYPERLINK(\"x\")" and rows["srv"]["arc_extension"] == ""
    assert [rows["plain"][c] for c in ("arc_status", "arc_resource_id", "arc_extension", "mdi_sensor",
                                       "mdi_ready")] == [""] * 5
