"""The fleet report on the lab, from real results: a status for each fault (probe error, partial apply, pending
restart, dropped connection, unreachable), counts that match ansible's recap, the run id and time in every file,
one folder per run with an atomic 'latest', concurrent runs that keep their own report, the Defender for Cloud
section, the number of runs kept, and a killed run that the next report lists as interrupted."""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import ROOT, Lab, write_inventory
from windows_lab import fleet_files, play_recap, secrets

import package_factory

PLAYBOOKS = ROOT / "tests" / "integration" / "playbooks"
FLEET = {
    "ok2019": {"profile": "windows_server_2019"},
    "done2019": {"profile": "windows_server_2019", "state": {"onboarded_org": package_factory.FAKE_ORG}},
    "drop": {"profile": "windows_server_2019", "faults": ["connection_drop_during_apply"]},
    "reboot": {"profile": "windows_server_2016", "faults": ["msi_reboot_required"]},
    "wmi": {"profile": "windows_server_2019", "faults": ["probe_error"]},
    "partial": {"profile": "windows_server_2016", "faults": ["sense_start_timeout"]},
    "down": {"profile": "windows_server_2019", "faults": ["unreachable"]},
    "old2012": {"profile": "windows_server_2012"},
    "deb12": {"profile": "debian_12"},
}


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    packages, fleet_vars = fleet_files(base)
    inventory = write_inventory(base / "inventory.json", FLEET)
    runs = {}
    for name, args in (("check", ["--check"]), ("apply", [])):
        lab = Lab(base / f"state-{name}")
        started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        proc = lab.playbook(PLAYBOOKS / "report_flow.yml", "-e", f"@{fleet_vars}", *args, inventory=inventory,
                            MDE_REPORT_DIR=str(base / name))
        runs[name] = {"proc": proc, "dir": base / name, "report": json.loads((base / name / "report.json").read_text()),
                      "recap": play_recap(proc.stdout), "started": started, "lab": lab}
    return runs


def test_each_fault_gets_a_status_that_tells_what_happened(flow):
    hosts = flow["apply"]["report"]["hosts"]
    assert {h: r["status"] for h, r in hosts.items()} == {
        "ok2019": "onboarded", "done2019": "onboarded", "deb12": "onboarded", "old2012": "unsupported",
        "drop": "unreachable", "down": "unreachable", "wmi": "probe_failed", "partial": "failed",
        "reboot": "restart_required"}
    assert 'Invalid class "Win32_OperatingSystem' in hosts["wmi"]["reason"]
    assert "check the connection" not in hosts["wmi"]["next_action"]
    assert hosts["partial"]["changed"] is True and hosts["partial"]["applied"] == ["install_msi"]
    assert hosts["partial"]["reason"].startswith("install_msi ran, then step 'run the onboarding script")
    assert hosts["reboot"]["changed"] is True and "waiting: run_script" in hosts["reboot"]["reason"]
    assert "connection_drop_during_apply" in hosts["drop"]["reason"] and hosts["drop"]["changed"] is None
    assert "did not answer (fault 'unreachable')" in hosts["down"]["reason"] and hosts["down"]["changed"] is False
    assert hosts["ok2019"]["changed"] is True and hosts["done2019"]["changed"] is False
    assert flow["apply"]["proc"].returncode == 2


def test_the_counts_match_the_recap(flow):
    for name in ("apply", "check"):
        run = flow[name]
        report, recap = run["report"], {h: r for h, r in run["recap"].items() if h != "localhost"}
        summary = report["summary"]
        assert summary["total"] == len(recap) == sum(summary["by_status"].values())
        failed = {h for h, r in recap.items() if r["failed"] or r["unreachable"]}
        assert failed == {h for h, r in report["hosts"].items() if r["needs_attention"]}
        assert summary["attention"] == len(failed) and summary["needs_attention"] is bool(failed)
        changed = {h for h, r in recap.items() if r["changed"] and not r["failed"]}
        key = "planned" if name == "check" else "changed"
        assert changed == {h for h, r in report["hosts"].items() if r[key] and not r["needs_attention"]}, name
    would = {h for h, r in flow["check"]["report"]["hosts"].items() if r["planned"]}
    assert would == {"ok2019", "drop", "reboot", "partial", "deb12"}           # the faults strike at apply time
    assert flow["check"]["report"]["summary"]["would_change"] == len(would)
    assert flow["apply"]["report"]["summary"]["changed"] == 4


def test_a_dry_run_changes_nothing_and_says_so(flow):
    run = flow["check"]
    for host in FLEET:
        calls = run["lab"].calls(host)
        assert not [c for c in calls if c.get("operation") == "apply" or "transfer" in c], (host, calls)
        assert all(c.get("check_mode") for c in calls if "module" in c), (host, calls)
    report = run["report"]
    assert report["dry_run"] is True and report["summary"]["changed"] == 0
    assert {r["status"] for h, r in report["hosts"].items() if r["planned"]} == {"skipped"}
    assert report["hosts"]["wmi"]["status"] == "probe_failed"


def test_run_id_and_time_in_every_file_and_one_folder_per_run(flow):
    run = flow["apply"]
    folder, report = run["dir"], run["report"]
    run_id = report["run_id"]
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", run_id)
    generated = datetime.datetime.strptime(report["generated"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    assert run["started"] <= generated <= datetime.datetime.now(datetime.timezone.utc)
    assert (folder / "latest").is_symlink() and str((folder / "latest").readlink()) == f"runs/{run_id}"
    for name in ("report.json", "report.csv", "report.html"):
        assert (folder / name).is_symlink() and (folder / name).resolve() == folder / "runs" / run_id / name
    rows = list(csv.DictReader(io.StringIO((folder / "report.csv").read_text())))
    assert {(r["run_id"], r["generated"]) for r in rows} == {(run_id, report["generated"])}
    html = (folder / "report.html").read_text()
    assert f'<code id="run-id">{run_id}</code>' in html and f'<time id="generated">{report["generated"]}' in html
    assert sorted(p.name for p in folder.iterdir()) == ["latest", "report.csv", "report.html", "report.json", "runs"]
    every = "".join((folder / f).read_text() for f in ("report.json", "report.csv", "report.html")) + run["proc"].stdout
    for secret in secrets() + [package_factory.fake_signature(package_factory.FAKE_ORG + "linux")]:
        assert secret not in every
    assert f"run {run_id}: 9 hosts" in run["proc"].stdout and f"runs/{run_id}/report.html" in run["proc"].stdout


def _rows_inventory(path, rows: dict, prefix: str):
    hosts = {f"{prefix}-{name}": {"mde_host_report": row} for name, row in rows.items()}
    path.write_text(json.dumps({"all": {"hosts": hosts}}))
    return path


def _report_only(lab, inventory, report_dir, *args):
    return lab.playbook(PLAYBOOKS / "report_only.yml", *args, inventory=inventory, MDE_REPORT_DIR=str(report_dir))


def test_concurrent_runs_each_keep_their_own_report(flow, tmp_path):
    rows = flow["apply"]["report"]["hosts"]
    lab = Lab(tmp_path / "state")
    report_dir = tmp_path / "shared"
    cmds = []
    for n in range(4):
        inventory = _rows_inventory(tmp_path / f"inv{n}.json", rows, f"run{n}")
        cmds.append([str(lab.venv / "bin" / "ansible-playbook"), "-i", str(inventory),
                     str(PLAYBOOKS / "report_only.yml")])
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(ROOT),
                              env=lab.env(MDE_REPORT_DIR=str(report_dir))) for c in cmds]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    folders = sorted((report_dir / "runs").iterdir())
    assert len(folders) == 4
    seen = set()
    for folder in folders:
        data = json.loads((folder / "report.json").read_text())
        prefixes = {h.split("-")[0] for h in data["hosts"]}
        assert len(prefixes) == 1 and data["run_id"] == folder.name and data["summary"]["total"] == 9
        assert {r["run_id"] for r in csv.DictReader(io.StringIO((folder / "report.csv").read_text()))} == {folder.name}
        assert folder.name in (folder / "report.html").read_text()
        seen |= prefixes
    assert seen == {"run0", "run1", "run2", "run3"}
    latest = (report_dir / "latest").resolve()
    assert latest in folders
    top = {json.loads((report_dir / "report.json").read_text())["run_id"],
           next(csv.DictReader(io.StringIO((report_dir / "report.csv").read_text())))["run_id"]}
    assert top == {latest.name} and latest.name in (report_dir / "report.html").read_text()
    assert not [p for p in report_dir.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")]


def test_old_runs_are_removed_beyond_report_keep_runs(flow, tmp_path):
    rows = flow["apply"]["report"]["hosts"]
    lab = Lab(tmp_path / "state")
    inventory = _rows_inventory(tmp_path / "inv.json", rows, "h")
    ids = []
    while len(ids) < 3:
        proc = _report_only(lab, inventory, tmp_path / "r", "-e", "report_keep_runs=2")
        assert proc.returncode == 0, proc.stdout[-3000:]
        ids.append(json.loads((tmp_path / "r" / "report.json").read_text())["run_id"])
    assert len(set(ids)) == 3
    assert sorted(p.name for p in (tmp_path / "r" / "runs").iterdir()) == sorted(ids[1:])
    assert (tmp_path / "r" / "latest").resolve().name == ids[2]


def test_defender_for_cloud_section_and_run_id_from_awx(flow, tmp_path):
    rows = flow["apply"]["report"]["hosts"]
    lab = Lab(tmp_path / "state")
    inventory = _rows_inventory(tmp_path / "inv.json", rows, "h")
    cloud = [{"subscription_id": "11111111-0000-4000-8000-000000000001", "plan": "P2", "mde_integration": True,
              "unified_solution": True, "linux": True, "vulnerability_assessment": "mdeTvm", "changed": True}]
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"report_test_cloud": cloud, "awx_job_id": 4242}))
    proc = _report_only(lab, inventory, tmp_path / "r", "-e", f"@{extra}")
    assert proc.returncode == 0, proc.stdout[-3000:]
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert data["defender_for_cloud"] == cloud and data["run_id"].endswith("-awx4242")
    assert data["summary"]["defender_for_cloud"] == {"subscriptions": 1, "changed": 1, "failed": 0}
    html = (tmp_path / "r" / "report.html").read_text()
    assert "<h2>Defender for Cloud</h2>" in html and "11111111-0000-4000-8000-000000000001" in html
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"report_test_cloud": "P2"}))
    proc = _report_only(lab, inventory, tmp_path / "bad", "-e", f"@{bad}")
    # refused by the role's argument spec, before any file is written
    assert proc.returncode == 2 and "option 'report_defender_for_cloud' is of type str" in proc.stdout
    assert not (tmp_path / "bad").exists()


def _hanging_listener():
    """A TCP port that accepts and never answers: an SSH host there hangs the run while it is being read."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    return server


def _wait_for(folder, pattern, proc, seconds=120.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = sorted(folder.glob(pattern)) if folder.is_dir() else []
        if found:
            return found[0]
        assert proc.poll() is None, "the run ended before its start marker was written"
        time.sleep(0.05)
    raise AssertionError(f"no {folder}/{pattern} after {seconds} s")


def test_a_killed_run_is_marked_and_the_next_report_lists_it(tmp_path):
    packages, fleet_vars = fleet_files(tmp_path)
    listener = _hanging_listener()
    port = listener.getsockname()[1]
    stuck = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": port,
             "ansible_user": "nobody", "ansible_ssh_timeout": 300}
    inventory = write_inventory(tmp_path / "inventory.json", {
        "ok2019": {"profile": "windows_server_2019"}, "stuck": {"profile": "debian_12", "vars": stuck}})
    lab = Lab(tmp_path / "state")
    report_dir = tmp_path / "reports"
    cmd = [str(lab.venv / "bin" / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / "onboard.yml"),
           "-e", f"@{fleet_vars}"]
    killed = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(ROOT),
                              env=lab.env(MDE_REPORT_DIR=str(report_dir)), start_new_session=True)
    try:
        marker = _wait_for(report_dir, "runs/*/started.json", killed)
        _wait_for(report_dir, "in_progress.json", killed)
        time.sleep(1.0)                                   # the run is reading the hosts: stuck waits on its port
        assert killed.poll() is None
    finally:
        os.killpg(killed.pid, signal.SIGKILL)             # as a killed AWX job or a lost controller: no cleanup
        killed.wait(timeout=60)
        listener.close()
    killed_id = marker.parent.name
    started = json.loads(marker.read_text())
    assert started["run_id"] == killed_id and started["playbook"] == "onboard" and started["check_mode"] is False
    assert started["hosts"] == ["ok2019", "stuck"] and re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", killed_id)
    in_progress = json.loads((report_dir / "in_progress.json").read_text())
    assert in_progress["run_id"] == killed_id and in_progress["hosts"] == 2
    assert in_progress["started_json"] == f"runs/{killed_id}/started.json"
    assert not (report_dir / "report.json").exists() and not (marker.parent / "report.json").exists()

    # the next full run: its own marker under the same id as its report, the killed run named in its summary
    proc = lab.playbook(ROOT / "playbooks" / "onboard.yml", "-e", f"@{fleet_vars}", "--limit", "ok2019",
                        inventory=inventory, MDE_REPORT_DIR=str(report_dir))
    assert proc.returncode == 0, proc.stdout[-3000:]
    report = json.loads((report_dir / "report.json").read_text())
    assert report["run_id"] != killed_id
    assert json.loads((report_dir / "runs" / report["run_id"] / "started.json").read_text())["run_id"] == \
        report["run_id"]
    assert report["summary"]["interrupted_runs"] == [
        {"run_id": killed_id, "playbook": "onboard", "started": started["started"]}]
    assert not (report_dir / "in_progress.json").exists()              # it named this run: removed at the end
    html = (report_dir / "report.html").read_text()
    assert 'id="interrupted"' in html and f"<code>{killed_id}</code>" in html
    assert f"1 earlier run(s) started and wrote no report (interrupted, or still running): {killed_id}" in proc.stdout

    # a report while another run is marked in progress leaves that run's marker in place
    other = {"run_id": "20991231T000000Z-later1", "playbook": "verify", "started": "2099-12-31T00:00:00Z"}
    (report_dir / "in_progress.json").write_text(json.dumps(other))
    rows = _rows_inventory(tmp_path / "rows.json", {"ok2019": report["hosts"]["ok2019"]}, "h")
    again = _report_only(lab, rows, report_dir)
    assert again.returncode == 0, again.stdout[-3000:]
    assert json.loads((report_dir / "in_progress.json").read_text()) == other
    assert killed_id in {r["run_id"] for r in json.loads((report_dir / "report.json").read_text())["summary"][
        "interrupted_runs"]}
    every = "".join(p.read_text() for p in report_dir.rglob("*.json")) + html
    for secret in secrets():
        assert secret not in every
