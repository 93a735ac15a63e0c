"""The fleet report's rows and summary from results in the shapes mde_info and mde_onboard return (probe errors,
partial applies, pending restarts, dry runs, dropped connections), its run id, its Defender for Cloud section, and
the optional per-host Azure Arc and Defender for Identity sections (named keys only, in JSON and HTML)."""

from __future__ import annotations

import copy
import csv
import datetime
import io
import json

import pytest

from ansible_collections.defender.endpoint.plugins.plugin_utils.report import fleet as _report
from ansible_collections.defender.endpoint.plugins.plugin_utils.report import html as _html

ORG = "00000000-1111-4222-8333-444444444444"
OS_2016 = "Windows Server 2016 (version 10.0.14393, build 14393)"
# Trimmed from real lab results: mde_info of a 2016 host, and mde_onboard results of the faults named.
ASSESSMENT = {"changed": False, "generation": "unified", "os": {"label": OS_2016}, "onboarded": False,
              "org_id": None, "av_running_mode": "normal"}
WMI = {"changed": False, "failed": True, "exception": "(traceback unavailable)",
       "msg": 'the probe step on the host failed: Get-WmiObject : Invalid class "Win32_OperatingSystem'}
PARTIAL = {"changed": True, "failed": True, "generation": "unified", "os_label": OS_2016, "failed_step": "run_script",
           "msg": "step 'run the onboarding script (R-21)' failed with exit code 15: the Sense service did not reach "
                  "RUNNING within the script's wait",
           "steps": [{"name": "install_msi", "description": "msiexec /i md4ws.msi /quiet (R-20)", "status": "ok",
                      "rc": 0, "attempts": 1, "reboot_required": False},
                     {"name": "run_script", "description": "run the onboarding script (R-21)", "status": "failed",
                      "rc": 15, "reboot_required": False}],
           "reboot_required": False, "onboarded": False, "org_id": ORG, "av_running_mode": "normal"}
REBOOT = {"changed": True, "failed": False, "generation": "unified", "os_label": OS_2016,
          "msg": "the host must restart before the remaining steps can run: restart it and run this task again.",
          "steps": [{"name": "install_msi", "description": "msiexec /i md4ws.msi /quiet (R-20)", "status": "ok",
                     "rc": 3010, "attempts": 1, "reboot_required": True},
                    {"name": "run_script", "description": "run the onboarding script (R-21)", "status": "skipped",
                     "rc": None, "reboot_required": False}],
          "reboot_required": True, "onboarded": False, "org_id": None, "av_running_mode": "normal"}
PLANNED = {"changed": True, "generation": "unified", "os_label": OS_2016, "reboot_required": False,
           "msg": "check mode: nothing was changed; 'steps' lists what would run.",
           "steps": [{"name": "install_msi", "description": "msiexec /i md4ws.msi /quiet (R-20)", "status": "planned"},
                     {"name": "run_script", "description": "run the onboarding script (R-21)", "status": "planned"}],
           "onboarded": False, "org_id": None, "av_running_mode": "normal"}
UNREACHABLE = {"changed": False, "failed": False, "unreachable": True, "exception": "(traceback unavailable)",
               "msg": "Task failed: mde_lab: the WinRM connection dropped during apply"}


def test_a_probe_error_is_its_own_status_with_the_hosts_message():
    for result, assessment in (({}, WMI), (WMI, WMI), (WMI, {})):
        row = _report.row(result, assessment)
        assert row["status"] == "probe_failed" and row["needs_attention"] is True
        assert 'Invalid class "Win32_OperatingSystem' in row["reason"] and row["failed_step"] == "probe"
        assert "connection" not in row["next_action"] and row["changed"] is False


def test_a_partial_apply_that_failed_is_reported_changed_with_what_ran():
    row = _report.row(PARTIAL, ASSESSMENT)
    assert row["status"] == "failed" and row["changed"] is True and row["applied"] == ["install_msi"]
    assert row["reason"].startswith("install_msi ran, then step 'run the onboarding script") and row["needs_attention"]
    assert "WDATPOnboarding" in row["next_action"] and row["failed_step"] == "run_script"
    # the steps alone say so, even when the failed result's changed flag was lost on the way
    assert _report.row(dict(PARTIAL, changed=False), ASSESSMENT)["changed"] is True
    nothing_ran = dict(PARTIAL, changed=False, steps=PARTIAL["steps"][1:])
    assert _report.row(nothing_ran, ASSESSMENT)["changed"] is False


def test_a_pending_restart_is_restart_required_not_skipped():
    row = _report.row(REBOOT, ASSESSMENT)
    assert row["status"] == "restart_required" and row["needs_attention"] and row["changed"] is True
    assert "waiting: run_script" in row["reason"] and row["next_action"] == "restart the host, then run again"
    # offboarding that finished and only asks for a restart is offboarded; one that waits for it is not
    finished = dict(REBOOT, steps=REBOOT["steps"][:1])
    assert _report.row(finished, ASSESSMENT, action="offboard")["status"] == "offboarded"
    assert _report.row(REBOOT, ASSESSMENT, action="offboard")["status"] == "restart_required"


def test_a_dry_run_is_skipped_with_what_would_run_and_changes_nothing():
    row = _report.row(PLANNED, ASSESSMENT, check_mode=True)
    assert row["status"] == "skipped" and row["changed"] is False and not row["needs_attention"]
    assert row["planned"] == ["msiexec /i md4ws.msi /quiet (R-20)", "run the onboarding script (R-21)"]
    assert "dry run; would run: msiexec" in row["reason"]


def test_unreachable_keeps_the_message_and_says_when_a_change_is_unknown():
    first_contact = _report.row(UNREACHABLE, UNREACHABLE)
    assert first_contact["status"] == "unreachable" and first_contact["changed"] is False
    assert first_contact["reason"] == "mde_lab: the WinRM connection dropped during apply"
    after_read = _report.row(UNREACHABLE, ASSESSMENT)
    assert after_read["changed"] is None and "after the host was read (a step may have run)" in after_read["reason"]
    told = _report.row(dict(UNREACHABLE, changed=True), ASSESSMENT)
    assert told["changed"] is True
    assert _report.row(UNREACHABLE, ASSESSMENT, check_mode=True)["changed"] is False


def test_onboarded_unsupported_and_pending():
    done = dict(PARTIAL, failed=False, failed_step=None, onboarded=True, verified=True,
                steps=[dict(PARTIAL["steps"][1], status="ok")])
    row = _report.row(done, ASSESSMENT)
    assert row["status"] == "onboarded" and row["changed"] is True and not row["needs_attention"]
    unsupported = _report.row({}, {"generation": "unsupported", "unsupported_reason": "host runs Windows Server 2012"})
    assert unsupported["status"] == "unsupported" and not unsupported["needs_attention"]
    waiting = _report.row(dict(done, onboarded=False, warnings=["the sensor reports within the hour"]), ASSESSMENT)
    assert waiting["status"] == "pending" and waiting["reason"] == "the sensor reports within the hour"


def _fleet(rows, hosts=None, **kwargs):
    kwargs.setdefault("now", datetime.datetime(2026, 12, 2, 4, 5, 6, tzinfo=datetime.timezone.utc))
    return _report.fleet(rows, hosts or list(rows), kwargs.pop("dry_run", False), "onboard", **kwargs)


def test_the_summary_counts_every_status_and_flags_attention():
    rows = {"a": _report.row(PARTIAL, ASSESSMENT), "b": _report.row(REBOOT, ASSESSMENT),
            "c": _report.row({}, WMI), "d": _report.row(dict(PARTIAL, failed=False, onboarded=True), ASSESSMENT)}
    report = _fleet(rows, ["a", "b", "c", "d", "e"])
    summary = report["summary"]
    assert summary["total"] == 5 == sum(summary["by_status"].values())
    assert {s: n for s, n in summary["by_status"].items() if n} == {
        "failed": 1, "restart_required": 1, "probe_failed": 1, "onboarded": 1, "unreachable": 1}
    assert summary["needs_attention"] is True and summary["attention"] == 4
    assert summary["changed"] == 3 and summary["changed_unknown"] == 1          # e never answered: unknown
    assert report["hosts"]["e"]["status"] == "unreachable" and report["hosts"]["e"]["needs_attention"]
    unknown = summary["by_generation"]["unknown"]
    assert unknown["probe_failed"] == 1 and unknown["unreachable"] == 1
    calm = _fleet({"d": rows["d"]})["summary"]
    assert calm["needs_attention"] is False and calm["attention"] == 0


def test_a_dry_run_report_changes_nothing_and_counts_what_would_change():
    rows = {"a": _report.row(PLANNED, ASSESSMENT, check_mode=True), "b": _report.row(PARTIAL, ASSESSMENT)}
    report = _fleet(rows, ["a", "b", "c"], dry_run=True)
    assert report["dry_run"] is True and all(h["changed"] is False for h in report["hosts"].values())
    assert report["summary"]["changed"] == 0 and report["summary"]["would_change"] == 1


def test_the_run_id_and_time_stamp_the_report_and_csv():
    report = _fleet({"a": _report.row(REBOOT, ASSESSMENT)}, job_id="417")
    assert report["run_id"] == "20261202T040506Z-awx417" == report["summary"]["run_id"]
    assert report["generated"] == "2026-12-02T04:05:06Z" and report["report_version"] == 2
    other = _fleet({"a": _report.row(REBOOT, ASSESSMENT)})
    assert other["run_id"].startswith("20261202T040506Z-") and len(other["run_id"]) == 23
    assert other["run_id"] != _fleet({"a": _report.row(REBOOT, ASSESSMENT)})["run_id"]
    lines = list(csv.DictReader(io.StringIO(_report.to_csv(report))))
    assert [(r["run_id"], r["generated"], r["status"], r["changed"]) for r in lines] == [
        ("20261202T040506Z-awx417", "2026-12-02T04:05:06Z", "restart_required", "True")]
    for bad in ("../x", "a b", "", "x" * 65, "-x"):
        if bad:
            with pytest.raises(_report.ReportError, match="cannot name a folder"):
                _fleet({}, ["a"], run=bad)


ARC = {"status": "connected", "reason": "connected to Azure Arc", "resource_name": "srv2019", "resource_group": "rg",
       "resource_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/srv2019",
       "subscription_id": "s", "location": "westeurope", "agent_version": "1.45", "error_code": None,
       "azure_vm": False, "extension": {"name": "MDE.Windows", "state": "Succeeded", "message": None}}
DC = {"domain_controller": True, "sensor": "v3", "version": None, "running": True, "ready": False,
      "reason": "SenseMachineId is not set yet"}


def test_rows_keep_named_keys_only_and_the_optional_sections():
    row = dict(_report.row(REBOOT, ASSESSMENT), workspace_key="s3cret", arc=ARC)
    kept = _fleet({"a": row})["hosts"]["a"]
    assert "workspace_key" not in kept and kept["arc"] == ARC
    assert set(kept) == set(_report.ROW_KEYS) | {"arc"}
    plain = _fleet({"a": _report.row(REBOOT, ASSESSMENT)})["hosts"]["a"]
    assert set(plain) == set(_report.ROW_KEYS)                       # no section: no key
    with pytest.raises(_report.ReportError, match="status 'weird'"):
        _fleet({"a": dict(row, status="weird")})


def test_the_arc_section_keeps_its_named_keys_only():
    given = dict(ARC, access_token="eyJ0eXAi.secret", client_secret="s3cret", reason="line one\nline two",
                 extension=dict(ARC["extension"], settings={"key": "s3cret"}), azure_vm=0)
    kept = _fleet({"a": dict(_report.row(REBOOT, ASSESSMENT), arc=given)})["hosts"]["a"]["arc"]
    assert set(kept) == set(_report.ARC_KEYS) and set(kept["extension"]) == set(_report.ARC_EXTENSION_KEYS)
    assert "s3cret" not in json.dumps(kept) and "eyJ0eXAi" not in json.dumps(kept)
    assert kept["reason"] == "line one line two" and kept["azure_vm"] is False
    skipped = _report.arc_section({"status": "skipped", "reason": "an Azure VM reaches Defender for Cloud without Arc",
                                   "azure_vm": True, "extension": "not a dict"})
    assert skipped["status"] == "skipped" and skipped["azure_vm"] is True and skipped["extension"] is None
    assert skipped["resource_id"] is None
    with pytest.raises(_report.ReportError, match="Arc status 'Connected', which is none of connected"):
        _fleet({"a": dict(_report.row(REBOOT, ASSESSMENT), arc={"status": "Connected"})})
    with pytest.raises(_report.ReportError, match="'arc' section that is a str"):
        _fleet({"a": dict(_report.row(REBOOT, ASSESSMENT), arc="connected")})


def test_defender_for_identity_comes_from_the_assessment_of_a_domain_controller():
    row = _report.row(REBOOT, dict(ASSESSMENT, defender_for_identity=dict(DC, secret="s3cret")))
    assert row["defender_for_identity"] == DC
    assert "defender_for_identity" not in _report.row(REBOOT, dict(ASSESSMENT, defender_for_identity=None))
    assert "defender_for_identity" not in _report.row(REBOOT, ASSESSMENT)
    kept = _fleet({"a": row})["hosts"]["a"]["defender_for_identity"]
    assert kept == DC
    odd = _report.identity_section({"sensor": "v9", "running": "yes", "version": "2.250.18"})
    assert odd == {"domain_controller": True, "sensor": None, "version": "2.250.18", "running": True,
                   "ready": False, "reason": ""}
    # a row that failed (a rescue's ansible_failed_result) keeps the section of the assessment
    assert _report.row(PARTIAL, dict(ASSESSMENT, defender_for_identity=DC))["defender_for_identity"] == DC


def test_defender_for_cloud_section_from_the_fact():
    fact = [{"subscription_id": "bbbb", "plan": "P2", "mde_integration": True, "unified_solution": True,
             "linux": True, "vulnerability_assessment": "mdeTvm", "changed": True, "client_secret": "x"},
            {"subscription_id": "aaaa", "plan": "P1", "mde_integration": False, "unified_solution": False,
             "linux": False, "vulnerability_assessment": None, "changed": False, "failed": True,
             "msg": "the service principal may not\nread the subscription"}]
    report = _fleet({"a": _report.row(REBOOT, ASSESSMENT)}, cloud=copy.deepcopy(fact))
    section = report["defender_for_cloud"]
    assert [e["subscription_id"] for e in section] == ["aaaa", "bbbb"] and "client_secret" not in section[1]
    assert section[0]["msg"] == "the service principal may not read the subscription"
    assert report["summary"]["defender_for_cloud"] == {"subscriptions": 2, "changed": 1, "failed": 1}
    assert "defender_for_cloud" not in _fleet({"a": _report.row(REBOOT, ASSESSMENT)})
    for bad in ({"subscription_id": "x"}, ["x"], "P2"):
        with pytest.raises(_report.ReportError, match="one dict per subscription"):
            _fleet({}, ["a"], cloud=bad)


def test_the_html_shows_the_sections_in_their_own_column_only_when_a_host_has_one():
    plain = _html.render(_fleet({"a": _report.row(REBOOT, ASSESSMENT)}))
    assert "Arc / Identity" not in plain and plain.count("<col ") == len(_html.HOST_COLUMNS)
    hostile = dict(ARC, reason='<img src=x onerror="alert(1)">')
    rows = {"dc1": dict(_report.row(REBOOT, dict(ASSESSMENT, defender_for_identity=DC)), arc=hostile),
            "srv": _report.row(REBOOT, ASSESSMENT)}
    page = _html.render(_fleet(rows))
    assert "Arc / Identity" in page and page.count("<col ") == len(_html.HOST_COLUMNS_AZURE)
    assert sum(w for _h, w in _html.HOST_COLUMNS_AZURE) == 100
    body = page[page.index("<tbody>", page.index('id="hosts"')):page.index("</tbody>", page.index('id="hosts"'))]
    for line in body.splitlines()[1:]:
        assert line.count("<td") == len(_html.HOST_COLUMNS_AZURE), line       # every row has the column
    dc1 = next(line for line in body.splitlines() if 'data-host="dc1"' in line)
    assert "Arc: connected" in dc1 and "MDE.Windows Succeeded" in dc1 and ARC["resource_id"] in dc1
    assert "Identity: v3, running - SenseMachineId is not set yet" in dc1
    assert "<img" not in page and "&lt;img src=x" in dc1
    assert 'data-status="restart_required"' in dc1 and 'data-generation="unified"' in dc1   # the filters' keys
