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
