"""A run that started and wrote no report is visible: the start marker and the run id the report reuses, the
interrupted runs the next report finds in the report folder (newest first, this run never), in_progress.json read
safely, and the HTML banner shown exactly when there are interrupted runs."""

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.defender.endpoint.plugins.filter import report as _filters
from ansible_collections.defender.endpoint.plugins.plugin_utils.report import fleet as _report
from ansible_collections.defender.endpoint.plugins.plugin_utils.report import html as _html

NOW = datetime.datetime(2026, 12, 2, 4, 5, 6, tzinfo=datetime.timezone.utc)
ROW = {"generation": "modern", "os": "Windows Server 2019", "status": "onboarded", "org_id": None,
       "av_running_mode": "normal", "changed": False, "reason": "onboarded and verified", "next_action": "",
       "needs_attention": False, "failed_step": None, "applied": [], "planned": []}


def _run(root, run_id, started=None, files=("started.json",), playbook="onboard"):
    folder = root / "runs" / run_id
    folder.mkdir(parents=True)
    for name in files:
        content = {"run_id": run_id}
        if name == "started.json":
            content = {"run_id": run_id, "playbook": playbook, "started": started, "hosts": ["a"],
                       "check_mode": False}
        (folder / name).write_text(json.dumps(content))
    return folder


def test_the_start_marker_chooses_the_run_id_the_report_reuses():
    marker = _report.start_marker("onboard", ["a", "b"], False, job_id="4242", now=NOW)
    assert marker == {"run_id": "20261202T040506Z-awx4242", "playbook": "onboard", "started": "2026-12-02T04:05:06Z",
                      "hosts": ["a", "b"], "check_mode": False}
    generated = _report.start_marker("verify", [], True, now=NOW)
    assert generated["run_id"].startswith("20261202T040506Z-") and len(generated["run_id"]) == 23
    assert generated["check_mode"] is True
    assert _report.start_marker("onboard", ["a"], False, run="given-1", job_id="9", now=NOW)["run_id"] == "given-1"
    # the report at the end is made under the same id
    report = _report.fleet({"a": ROW}, ["a"], False, "onboard", run=marker["run_id"], now=NOW)
    assert report["run_id"] == marker["run_id"] == report["summary"]["run_id"]
    with pytest.raises(_report.ReportError, match="cannot name a folder"):
        _report.start_marker("onboard", ["a"], False, run="../up", now=NOW)


def test_the_start_filter_refuses_a_bad_run_id_in_one_sentence():
    from ansible.errors import AnsibleFilterError   # pylint: disable=import-outside-toplevel

    assert _filters.mde_report_start("onboard", ["a"], run_id="r-1")["hosts"] == ["a"]
    with pytest.raises(AnsibleFilterError, match="cannot name a folder"):
        _filters.mde_report_start("onboard", ["a"], run_id="a b")


def test_a_started_run_without_a_report_is_interrupted(tmp_path):
    _run(tmp_path, "20261201T100000Z-aaaaaa", "2026-12-01T10:00:00Z")                         # interrupted
    _run(tmp_path, "20261201T110000Z-bbbbbb", "2026-12-01T11:00:00Z", ("started.json", "report.json"))
    _run(tmp_path, "20261201T120000Z-cccccc", "2026-12-01T12:00:00Z", ("started.json", "finished.json"))
    _run(tmp_path, "20261201T090000Z-dddddd", None, ("report.json",))                  # a report without a start
    _run(tmp_path, "20261202T040506Z-eeeeee", "2026-12-02T04:05:06Z")                          # this run
    found = _report.interrupted_runs(str(tmp_path), exclude="20261202T040506Z-eeeeee")
    assert found == [{"run_id": "20261201T100000Z-aaaaaa", "playbook": "onboard", "started": "2026-12-01T10:00:00Z"}]
    assert [r["run_id"] for r in _report.interrupted_runs(str(tmp_path))] == [
        "20261202T040506Z-eeeeee", "20261201T100000Z-aaaaaa"]


def test_only_the_newest_five_are_listed_and_unreadable_markers_still_count(tmp_path):
    for hour in range(10, 17):
        _run(tmp_path, f"20261201T{hour}0000Z-aaaaaa", f"2026-12-01T{hour}:00:00Z")
    broken = tmp_path / "runs" / "20261201T170000Z-broken"
    broken.mkdir()
    (broken / "started.json").write_text("{not json")
    (tmp_path / "runs" / "not a run id").mkdir()
    (tmp_path / "runs" / "not a run id" / "started.json").write_text("{}")
    found = _report.interrupted_runs(str(tmp_path))
    assert len(found) == _report.INTERRUPTED_SHOWN == 5
    assert [r["run_id"] for r in found] == [f"20261201T{h}0000Z-aaaaaa" for h in (16, 15, 14, 13, 12)]
    assert _report.interrupted_runs(str(tmp_path / "missing")) == []
    # a marker that cannot be read still names its run by the folder, with nothing else known
    only_broken = tmp_path / "other"
    (only_broken / "runs").mkdir(parents=True)
    broken.rename(only_broken / "runs" / broken.name)
    assert _report.interrupted_runs(str(only_broken)) == [
        {"run_id": "20261201T170000Z-broken", "playbook": None, "started": None}]


def test_a_marker_names_its_run_by_its_folder_only(tmp_path):
    folder = _run(tmp_path, "20261201T100000Z-aaaaaa", "2026-12-01T10:00:00Z")
    (folder / "started.json").write_text(json.dumps({"run_id": "../../etc", "playbook": "=cmd\nx" * 40,
                                                     "started": "2026-12-01T10:00:00Z", "secret": "s3cret"}))
    found = _report.interrupted_runs(str(tmp_path))
    assert found[0]["run_id"] == "20261201T100000Z-aaaaaa" and set(found[0]) == {"run_id", "playbook", "started"}
    assert "\n" not in found[0]["playbook"] and len(found[0]["playbook"]) <= 64


def test_the_summary_carries_the_interrupted_runs_without_this_run():
    runs = [{"run_id": "r-old", "playbook": "onboard", "started": "2026-12-01T10:00:00Z", "hosts": ["x"]},
            {"run_id": "r-new", "playbook": "verify", "started": "2026-12-01T11:00:00Z"},
            {"run_id": "this", "playbook": "onboard", "started": "2026-12-02T04:05:06Z"}]
    summary = _report.fleet({"a": ROW}, ["a"], False, "onboard", run="this", interrupted=runs, now=NOW)["summary"]
    assert summary["interrupted_runs"] == [
        {"run_id": "r-new", "playbook": "verify", "started": "2026-12-01T11:00:00Z"},
        {"run_id": "r-old", "playbook": "onboard", "started": "2026-12-01T10:00:00Z"}]
    assert _report.fleet({"a": ROW}, ["a"], False, "onboard", now=NOW)["summary"]["interrupted_runs"] == []
    with pytest.raises(_report.ReportError, match="interrupted runs must be a list"):
        _report.fleet({"a": ROW}, ["a"], False, "onboard", interrupted="r-old", now=NOW)


def test_in_progress_names_a_run_or_nothing(tmp_path):
    assert _report.in_progress_run(str(tmp_path)) == ""
    (tmp_path / "in_progress.json").write_text(json.dumps({"run_id": "r-1", "playbook": "onboard"}))
    assert _report.in_progress_run(str(tmp_path)) == "r-1" == _filters.mde_report_in_progress(str(tmp_path))
    (tmp_path / "in_progress.json").write_text("half a fi")
    assert _report.in_progress_run(str(tmp_path)) == ""
    (tmp_path / "in_progress.json").write_text("[1, 2]")
    assert _report.in_progress_run(str(tmp_path)) == ""


def test_the_html_banner_is_there_exactly_when_runs_were_interrupted():
    calm = _html.render(_report.fleet({"a": ROW}, ["a"], False, "onboard", run="this", now=NOW))
    assert 'id="interrupted"' not in calm and "wrote no report" not in calm
    hostile = [{"run_id": "r-1", "playbook": '<script>alert(1)</script>', "started": "2026-12-01T10:00:00Z"},
               {"run_id": "r-2", "playbook": "verify", "started": None}]
    page = _html.render(_report.fleet({"a": ROW}, ["a"], False, "onboard", run="this", interrupted=hostile,
                                      now=NOW))
    banner = page[page.index('id="interrupted"'):page.index("</div>", page.index('id="interrupted"'))]
    assert "2 earlier run(s) started and wrote no report" in banner and "<code>r-1</code>" in banner
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in banner and "<script>alert" not in page
    assert "started 2026-12-01T10:00:00Z (UTC)" in banner and "(verify), start time unknown" in banner
    assert "docs/report.md" in banner
