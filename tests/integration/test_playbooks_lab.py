"""The top-level playbooks on the whole lab fleet, and the fleet report (issue: roles, playbooks and report;
R-02, R-50..R-53, R-60, R-70)."""

from __future__ import annotations

import csv
import shutil
import subprocess
import io
import json
import re

import pytest

from conftest import LAB, ROOT, Lab
from windows_lab import fleet_files, inventory, play_recap, secrets

import package_factory

PLAYBOOKS = ROOT / "playbooks"
INVENTORY = LAB / "inventory.yml"
UNSUPPORTED = {"srv2012", "srv2008r2-nosp", "win10"}
FAILING = {"srv2012r2-unpatched", "srv2016-unsigned"}
UNREACHABLE = {"srv2022-down"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    base = tmp_path_factory.mktemp("fleet")
    packages, fleet_vars = fleet_files(base)
    lab = Lab(base / "state")
    runs = {}

    def run(name, playbook, *args):
        report = base / "reports" / name
        proc = lab.playbook(PLAYBOOKS / f"{playbook}.yml", "-e", f"@{fleet_vars}", *args, inventory=INVENTORY,
                            MDE_REPORT_DIR=str(report))
        data = json.loads((report / "report.json").read_text()) if (report / "report.json").exists() else None
        hosts = [p.name for p in (base / "state").iterdir() if p.is_dir()]
        runs[name] = {"proc": proc, "report": data, "dir": report,
                      "states": {h: lab.state_bytes(h) for h in hosts},
                      "operations": {h: [c["operation"] for c in lab.executions(h)] for h in hosts}}

    run("verify_fresh", "verify")
    run("check", "onboard", "--check", "--diff")
    run("onboard", "onboard")
    run("onboard_again", "onboard")
    run("verify", "verify")
    run("migrate", "migrate", "-e", "mde_hosts=srv2016-mma,srv2019")
    run("offboard", "offboard")
    run("onboard_back", "onboard")
    return lab, runs


def _statuses(report):
    return {h: r["status"] for h, r in report["hosts"].items()}


def test_onboard_takes_every_supported_host_to_onboarded(fleet):
    _lab, runs = fleet
    run = runs["onboard"]
    statuses = _statuses(run["report"])
    supported = set(statuses) - UNSUPPORTED - FAILING - UNREACHABLE
    assert len(supported) == 16
    assert {statuses[h] for h in supported} == {"onboarded"}
    assert {statuses[h] for h in UNSUPPORTED} == {"unsupported"}
    assert {statuses[h] for h in FAILING} == {"failed"} and statuses["srv2022-down"] == "unreachable"
    assert "KB2999226" in run["report"]["hosts"]["srv2012r2-unpatched"]["reason"]
    assert "Authenticode" in run["report"]["hosts"]["srv2016-unsigned"]["reason"]
    assert run["report"]["hosts"]["srv2016-thirdparty-av"]["av_running_mode"] == "passive"
    assert run["proc"].returncode == 4               # failed hosts (2) and an unreachable one (4): ansible says 4
    recap = play_recap(run["proc"].stdout)
    assert recap["srv2016-unsigned"]["failed"] == 1 and recap["srv2012"]["failed"] == 0
    assert recap["srv2019"]["failed"] == 0 and recap["win7-sp1"]["failed"] == 0
    assert "report: " in run["proc"].stdout and "report.html" in run["proc"].stdout


def test_second_run_changes_nothing_across_the_fleet(fleet):
    lab, runs = fleet
    recap = play_recap(runs["onboard_again"]["proc"].stdout)
    assert recap and all(r["changed"] == 0 for r in recap.values()), recap
    assert runs["onboard_again"]["states"] == runs["onboard"]["states"]
    # One probe per converged host: mde_onboard plans from mde_info's read (assessment); no apply, except the
    # host whose unsigned installer is refused again on the host (a failed step changes nothing); srv2022-down
    # never answers.
    expect = {"srv2022-down": [], "srv2012r2-unpatched": ["probe"], "srv2016-unsigned": ["probe", "apply"]}
    assert runs["onboard_again"]["report"]["summary"]["changed"] == 0
    for host, operations in runs["onboard_again"]["operations"].items():
        new = operations[len(runs["onboard"]["operations"][host]):]
        expected = expect.get(host, ["probe"])
        assert new == expected, (host, new)


def test_check_mode_changes_nothing_and_reports_a_dry_run(fleet):
    _lab, runs = fleet
    check = runs["check"]
    assert check["states"] == runs["verify_fresh"]["states"]
    assert check["report"]["dry_run"] is True
    row = check["report"]["hosts"]["srv2016"]
    assert row["status"] == "skipped" and "msiexec /i md4ws.msi" in row["reason"] and row["changed"] is False
    assert check["report"]["hosts"]["srv2019-onboarded"]["status"] == "onboarded"
    assert "Dry run" in (check["dir"] / "report.html").read_text()


def test_verify_is_read_only_and_reports_who_is_protected(fleet):
    _lab, runs = fleet
    fresh, after = runs["verify_fresh"], runs["verify"]
    assert _statuses(fresh["report"])["srv2019"] == "failed"
    assert _statuses(fresh["report"])["srv2019-onboarded"] == "onboarded"
    assert fresh["report"]["hosts"]["srv2019"]["next_action"] == "run playbooks/onboard.yml"
    assert after["states"] == runs["onboard_again"]["states"]
    assert _statuses(after["report"])["srv2019"] == "onboarded"


def test_migrate_moves_the_mma_based_host_and_skips_the_others(fleet):
    lab, runs = fleet
    report = runs["migrate"]["report"]
    assert set(report["hosts"]) == {"srv2016-mma", "srv2019"}
    assert report["hosts"]["srv2016-mma"]["status"] == "onboarded"
    assert report["hosts"]["srv2019"]["status"] == "skipped"
    assert lab.state("srv2016-mma")["mma"]["workspaces"] == []


def test_offboard_then_onboard_round_trips_the_fleet(fleet):
    _lab, runs = fleet
    off = _statuses(runs["offboard"]["report"])
    back = _statuses(runs["onboard_back"]["report"])
    onboarded = {h for h, s in _statuses(runs["onboard"]["report"]).items() if s == "onboarded"}
    downlevel = {"win7-sp1", "win81", "srv2008r2"}           # no mde_workspace_id removal asked: see below
    assert {off[h] for h in onboarded} == {"offboarded"}, off
    assert {back[h] for h in onboarded} == {"onboarded"}, back
    assert downlevel <= onboarded


def test_report_files_agree_and_hold_no_secret(fleet):
    _lab, runs = fleet
    folder = runs["onboard"]["dir"]
    report = runs["onboard"]["report"]
    rows = list(csv.DictReader(io.StringIO((folder / "report.csv").read_text())))
    assert {r["host"]: r["status"] for r in rows} == _statuses(report)
    assert report["summary"]["by_status"]["onboarded"] == 16 and report["summary"]["total"] == 22
    assert report["summary"]["by_generation"]["unified"]["failed"] == 2
    every = "".join((runs[n]["dir"] / f).read_text() for n in runs for f in ("report.json", "report.csv", "report.html")
                    if (runs[n]["dir"] / f).exists())
    every += "".join(runs[n]["proc"].stdout for n in runs)
    for secret in secrets() + [package_factory.fake_signature(package_factory.FAKE_ORG + "linux")]:
        assert secret not in every


def test_html_report_is_self_contained_and_wraps(fleet):
    _lab, runs = fleet
    html = (runs["onboard"]["dir"] / "report.html").read_text()
    # Self-contained: inline script and style only, nothing fetched from anywhere.
    assert not re.search(r"<script[^>]*\bsrc=", html) and "http://" not in html
    assert "https://" not in html.split("<body>")[0]
    assert "table-layout:fixed" in html and "overflow-wrap:anywhere" in html
    assert len(re.findall(r"<tr[ >]", html)) == 23           # header + 22 hosts
    assert html.index("srv2012r2-unpatched") < html.index("srv2019-core")   # failed rows first
    assert "width=device-width" in html


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(not CHROMIUM, reason="Chromium is not installed here (Debian: apt-get install chromium)")
@pytest.mark.parametrize("width", [1024, 1366])
def test_html_report_needs_no_sideways_scrolling_in_chromium(fleet, width, tmp_path):
    """Headless Chromium lays the page out at a laptop width: the page is never wider than the window."""
    _lab, runs = fleet
    html = (runs["onboard"]["dir"] / "report.html").read_text()
    probe = tmp_path / "probe.html"
    measure = "<script>document.title='W'+document.documentElement.scrollWidth+'x'+window.innerWidth;</script>"
    probe.write_text(html.replace("</body>", measure + "</body>"))
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},900"]
    dom = subprocess.run(args + ["--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120,
                         check=False).stdout
    scroll, inner = map(int, re.search(r"<title>W(\d+)x(\d+)", dom).groups())
    assert scroll <= inner, f"the page is {scroll}px wide in a {inner}px window"
    shot = tmp_path / f"report-{width}.png"
    subprocess.run(args + [f"--screenshot={shot}", (runs["onboard"]["dir"] / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=False)
    assert shot.stat().st_size > 10000


LINUX = {"ubuntu2204", "debian12", "rhel9", "rhel9-fanotify"}


def _custom_stats(stdout: str) -> dict:
    """What set_stats published (ANSIBLE_SHOW_CUSTOM_STATS): the JSON after 'RUN:' in the recap."""
    start = stdout.index("RUN:", stdout.index("CUSTOM STATS")) + len("RUN:")
    return json.JSONDecoder().raw_decode(stdout[start:].lstrip())[0]


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory):
    """Runs on parts of the lab fleet: --limit to a group and to one host, and runs where every targeted host
    fails at the first step (the host is down): each must still write the report and publish the summary."""
    base = tmp_path_factory.mktemp("small")
    packages, fleet_vars = fleet_files(base)
    lab = Lab(base / "state")

    def run(name, playbook, *args):
        report = base / "reports" / name
        proc = lab.playbook(PLAYBOOKS / f"{playbook}.yml", "-e", f"@{fleet_vars}", *args, inventory=INVENTORY,
                            MDE_REPORT_DIR=str(report), ANSIBLE_SHOW_CUSTOM_STATS="True")
        path = report / "report.json"
        return {"proc": proc, "report": json.loads(path.read_text()) if path.exists() else None,
                "stats": _custom_stats(proc.stdout) if "CUSTOM STATS" in proc.stdout else None}

    return {
        "group": run("group", "onboard", "-l", "lab_linux"),
        "one": run("one", "verify", "-l", "debian12"),
        "down": run("down", "onboard", "-e", "mde_hosts=srv2022-down"),
        "down_limit": run("down_limit", "onboard", "-l", "srv2022-down"),
        "down_verify": run("down_verify", "verify", "-e", "mde_hosts=srv2022-down"),
        "down_offboard": run("down_offboard", "offboard", "-l", "srv2022-down"),
    }


def test_report_and_summary_survive_limit_to_a_group(small_runs):
    run = small_runs["group"]
    assert run["proc"].returncode == 0, run["proc"].stdout[-3000:]
    assert set(run["report"]["hosts"]) == LINUX                 # the limited hosts, nothing else
    assert set(_statuses(run["report"]).values()) == {"onboarded"}
    assert run["stats"]["mde_summary"] == run["report"]["summary"] and run["stats"]["mde_dry_run"] is False
    assert set(play_recap(run["proc"].stdout)) == LINUX              # localhost is not needed for the report


def test_report_and_summary_survive_limit_to_one_host(small_runs):
    run = small_runs["one"]
    assert run["proc"].returncode == 0, run["proc"].stdout[-3000:]
    assert _statuses(run["report"]) == {"debian12": "onboarded"}  # onboarded by the group run before
    assert run["stats"]["mde_summary"]["total"] == 1 and run["stats"]["mde_summary"] == run["report"]["summary"]


@pytest.mark.parametrize("name", ["down", "down_limit", "down_verify", "down_offboard"])
def test_report_is_written_when_every_targeted_host_fails_at_the_first_step(small_runs, name):
    run = small_runs[name]
    assert run["report"] is not None, run["proc"].stdout[-3000:]
    row = run["report"]["hosts"]["srv2022-down"]
    assert set(run["report"]["hosts"]) == {"srv2022-down"}
    assert row["status"] == "unreachable" and "did not answer" in row["reason"]   # the host's own message
    assert run["stats"]["mde_summary"] == run["report"]["summary"]
    assert run["proc"].returncode != 0                            # and the run still fails
    assert play_recap(run["proc"].stdout)["srv2022-down"]["failed"] == 1


def test_unreachable_hosts_stay_unreachable_for_ansible_beside_others(tmp_path, packages):
    """Only the host that carries the report stays in the play when it cannot be reached; any other
    unreachable host leaves the play as ansible-playbook does (recap unreachable, exit code 4)."""
    lab = Lab(tmp_path / "state")
    hosts = {"a-first": {"profile": "windows_server_2019"},
             "b-down": {"profile": "windows_server_2022", "faults": ["unreachable"]},
             "c-down": {"profile": "debian_12", "faults": ["unreachable"]}}
    report = tmp_path / "report"
    proc = lab.playbook(PLAYBOOKS / "onboard.yml", "-e", json.dumps(package_factory.fleet_vars(packages)),
                        inventory=inventory(tmp_path, hosts), MDE_REPORT_DIR=str(report))
    data = json.loads((report / "report.json").read_text())
    assert _statuses(data) == {"a-first": "onboarded", "b-down": "unreachable", "c-down": "unreachable"}
    assert "did not answer" in data["hosts"]["c-down"]["reason"]
    recap = play_recap(proc.stdout)
    assert recap["b-down"]["unreachable"] == 1 and recap["c-down"]["unreachable"] == 1
    assert proc.returncode == 4


def test_a_host_that_must_restart_fails_the_run_after_the_report(tmp_path, packages):
    lab = Lab(tmp_path / "state")
    hosts = {"srv": {"profile": "windows_server_2016", "faults": ["msi_reboot_required"]},
             "ok": {"profile": "windows_server_2019"}}
    inv = inventory(tmp_path, hosts)
    fleet = json.dumps(package_factory.fleet_vars(packages))
    report = tmp_path / "report"
    proc = lab.playbook(PLAYBOOKS / "onboard.yml", "-e", fleet, inventory=inv, MDE_REPORT_DIR=str(report))
    data = json.loads((report / "report.json").read_text())
    assert _statuses(data) == {"srv": "restart_required", "ok": "onboarded"}
    assert data["summary"]["needs_attention"] is True
    recap = play_recap(proc.stdout)
    assert proc.returncode == 2 and recap["srv"]["failed"] == 1 and recap["ok"]["failed"] == 0
    lab.reboot("srv")
    proc = lab.playbook(PLAYBOOKS / "onboard.yml", "-e", fleet, inventory=inv, MDE_REPORT_DIR=str(report))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert _statuses(json.loads((report / "report.json").read_text())) == {"srv": "onboarded", "ok": "onboarded"}


def test_a_probe_failure_on_every_host_is_reported_with_its_message(tmp_path, packages):
    lab = Lab(tmp_path / "state")
    hosts = {"w": {"profile": "windows_server_2019", "faults": ["probe_error"]},
             "l": {"profile": "rhel_9", "faults": ["probe_error"]}}
    report = tmp_path / "report"
    proc = lab.playbook(PLAYBOOKS / "onboard.yml", "-e", json.dumps(package_factory.fleet_vars(packages)),
                        inventory=inventory(tmp_path, hosts), MDE_REPORT_DIR=str(report))
    data = json.loads((report / "report.json").read_text())
    assert set(data["hosts"]) == {"w", "l"}
    assert {r["status"] for r in data["hosts"].values()} <= {"probe_failed", "failed"}
    assert all(r["reason"] and "did not answer" not in r["reason"] for r in data["hosts"].values())
    assert proc.returncode == 2 and all(r["failed"] == 1 for r in play_recap(proc.stdout).values())
    assert [c["operation"] for c in lab.executions("w")] == ["probe"]        # nothing after the failed read
