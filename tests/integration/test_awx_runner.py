"""playbooks/onboard.yml run as AWX runs it: ansible-runner on a private data dir laid out as AWX's job code lays it
out, with the collection's credential types injected as AWX injects them (issue 15 item 3).

The job: project/ (a copy of this checkout), inventory/hosts (an inventory script), env/envvars, env/extravars (the
survey answers, every string !unsafe), env/passwords, env/cmdline (-e @env/tmpXXXX per credential, --forks, --check,
--limit) and env/tmpXXXX files (no extension) for the packages credential.  Run once with `ansible-runner run`, once
through `ansible-runner transmit | ansible-runner worker | ansible-runner process` with the directory moved, as an
execution node receives it.  The collection comes from this checkout's collection path, standing in for the EE's.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import COLLECTIONS, LAB, ROOT

import awx_job
import package_factory

RUNNER = ROOT / ".venv" / "bin" / "ansible-runner"
ASSETS = ROOT / "awx" / "assets.yml"
SECRETS = (package_factory.FAKE_WORKSPACE_KEY, package_factory.fake_signature(package_factory.FAKE_ORG),
           package_factory.fake_signature(package_factory.FAKE_ORG + "linux"))


def _credential_type(name: str) -> dict:
    assets = yaml.safe_load(ASSETS.read_text())
    return next(t for t in assets["credential_types"] if t["name"] == name)


def _inventory(with_localhost: bool = False) -> dict:
    """tests/lab/inventory.yml as an inventory script's --list output (what AWX gives ansible-playbook); with
    localhost as a host of its own, as many AWX inventories hold it (then --limit can leave it out)."""
    source = yaml.safe_load((LAB / "inventory.yml").read_text())["all"]["children"]
    data = {"_meta": {"hostvars": {}}, "all": {"children": sorted(source) + ["ungrouped"]}, "ungrouped": {"hosts": []}}
    if with_localhost:
        data["ungrouped"]["hosts"] = ["localhost"]
        data["_meta"]["hostvars"]["localhost"] = {"ansible_connection": "local",
                                                  "ansible_python_interpreter": sys.executable}
    for group, spec in source.items():
        data[group] = {"hosts": sorted(spec["hosts"]), "vars": spec.get("vars", {})}
        for host, hostvars in spec["hosts"].items():
            data["_meta"]["hostvars"][host] = hostvars or {}
    return data


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """Build and run AWX-shaped jobs; returns a function name -> result."""
    base = tmp_path_factory.mktemp("awx")
    packages = package_factory.write_set(str(base / "packages"))
    state = base / "lab-state"

    def launch(name: str, *, check: bool = False, limit: str | None = None, moved: bool = False,
               with_localhost: bool = False) -> dict:
        pdd = base / name / "job"
        env = {"ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
               "ANSIBLE_CONNECTION_PLUGINS": str(LAB / "connection_plugins"), "MDE_LAB_STATE_DIR": str(state),
               "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_RETRY_FILES_ENABLED": "False", "ANSIBLE_HOST_KEY_CHECKING": "False",
               "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"}
        args: list[str] = []
        pdd.mkdir(parents=True)
        (pdd / "env").mkdir()
        awx_job.inject_credential(_credential_type("Defender for Endpoint packages"), {
            "windows_onboarding": open(packages["win_onboard_cmd"], newline="", encoding="utf-8").read(),
            "linux_onboarding": pathlib.Path(packages["linux_onboard_py"]).read_text(),
        }, env, args, str(pdd))
        awx_job.inject_credential(_credential_type("Defender for Endpoint workspace (MMA)"), {
            "workspace_id": package_factory.MDE_WORKSPACE_ID, "workspace_key": package_factory.FAKE_WORKSPACE_KEY,
        }, env, args, str(pdd))
        survey = {"mde_report_dir": str(base / name / "report"), "mde_md4ws_installer": packages["md4ws_msi"],
                  "mde_mma_installer": packages["mma_setup"]}
        cmdline = [*args, "--forks", "25"] + (["--check", "--diff"] if check else [])
        cmdline += ["--limit", limit] if limit else []
        awx_job.write_private_data_dir(str(pdd), str(ROOT), _inventory(with_localhost), survey, env, cmdline)
        if moved:
            result = _transmit_worker_process(base / name, pdd)
        else:
            proc = subprocess.run([str(RUNNER), "run", str(pdd), "-p", "playbooks/onboard.yml", "--ident", "1"],
                                  capture_output=True, text=True, timeout=300, check=False)
            result = {"proc": proc, "artifacts": pdd / "artifacts" / "1"}
        report = base / name / "report" / "report.json"
        result["report"] = json.loads(report.read_text()) if report.exists() else None
        result["pdd"] = pdd
        result["inputs"] = {"survey": survey, "cmdline": cmdline}
        return result

    return launch


def _transmit_worker_process(folder: pathlib.Path, pdd: pathlib.Path) -> dict:
    """The hand-off of a job to an execution node: the job's files are streamed, the directory that built them is
    gone, the worker recreates it where the job's paths point (AWX: /runner in the EE), process reads the stream."""
    staging = folder / "staging"
    pdd.rename(staging)
    transmit = subprocess.run([str(RUNNER), "transmit", str(staging), "-p", "playbooks/onboard.yml", "--ident", "1"],
                              capture_output=True, timeout=120, check=False)
    assert transmit.returncode == 0, transmit.stderr.decode()
    shutil.rmtree(staging)
    # The worker exits with the job's rc; what it streams back is judged through process, below.
    worker = subprocess.run([str(RUNNER), "worker", "--private-data-dir", str(pdd)], input=transmit.stdout,
                            capture_output=True, timeout=300, check=False)
    assert worker.stdout.rstrip().endswith(b'{"eof": true}'), worker.stderr.decode()[-4000:]
    processed = folder / "processed"
    processed.mkdir()
    proc = subprocess.run([str(RUNNER), "process", str(processed), "--ident", "1"], input=worker.stdout,
                          capture_output=True, timeout=120, check=False)
    proc = subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    return {"proc": proc, "artifacts": processed / "artifacts" / "1"}


def _events(artifacts: pathlib.Path) -> list[dict]:
    files = sorted((artifacts / "job_events").glob("*.json"), key=lambda p: int(p.name.split("-", 1)[0]))
    return [json.loads(p.read_text()) for p in files]


def _stats(events: list[dict]) -> dict:
    return next(e["event_data"] for e in events if e["event"] == "playbook_on_stats")


def _assert_no_secret(result: dict) -> None:
    artifacts = result["artifacts"]
    texts = [result["proc"].stdout, result["proc"].stderr]
    texts += [p.read_text() for p in (artifacts / "stdout", artifacts / "stderr") if p.exists()]
    texts += [p.read_text() for p in (artifacts / "job_events").glob("*.json")]
    for secret in SECRETS:
        assert not any(secret in text for text in texts), "a secret reached the job's output or events"


def _hosts_with_events(events: list[dict]) -> set[str]:
    return {e["event_data"]["host"] for e in events
            if e["event"] in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_on_skipped")
            and e["event_data"].get("host") and e["event_data"]["host"] != "localhost"}


def test_check_mode_job_through_transmit_worker_process_in_a_moved_directory(job):
    """The dry run, handed to an execution node: transmit | worker (elsewhere) | process."""
    result = job("check", check=True, moved=True)
    assert result["proc"].returncode == 0, result["proc"].stderr[-3000:]     # process read the whole stream
    artifacts = result["artifacts"]
    assert (artifacts / "status").read_text() == "failed"          # the hosts that cannot be onboarded fail
    assert (artifacts / "rc").read_text() == "4"
    events = _events(artifacts)
    stats = _stats(events)
    report = result["report"]
    assert report is not None and report["dry_run"] is True
    assert stats["artifact_data"]["mde_dry_run"] is True
    assert stats["artifact_data"]["mde_summary"] == report["summary"]
    inventory_hosts = set(_inventory()["_meta"]["hostvars"])
    assert _hosts_with_events(events) == inventory_hosts
    assert set(report["hosts"]) == inventory_hosts
    # In check mode the unsigned installer is not run, so only these two fail.
    assert set(stats["failures"]) | set(stats["dark"]) == {"srv2012r2-unpatched", "srv2022-down"}
    _assert_no_secret(result)


def test_onboard_job_reads_the_injected_packages_and_reports(job):
    result = job("onboard")
    artifacts = result["artifacts"]
    assert (artifacts / "status").read_text() == "failed" and (artifacts / "rc").read_text() == "4"
    report = result["report"]
    statuses = {h: r["status"] for h, r in report["hosts"].items()}
    # The extension-less env/tmpXXXX packages were read: Windows and Linux hosts are onboarded with them.
    assert statuses["srv2019"] == statuses["rhel9"] == statuses["win7-sp1"] == "onboarded", statuses
    assert report["summary"]["by_status"]["onboarded"] == 16
    stats = _stats(_events(artifacts))
    assert stats["artifact_data"]["mde_summary"] == report["summary"]
    assert stats["artifact_data"]["mde_dry_run"] is False
    cmdline = (result["pdd"] / "env" / "cmdline").read_text()
    injected = [pathlib.Path(a[1:]) for a in cmdline.split() if a.startswith("@")]
    assert len(injected) == 2 and all("." not in p.name for p in injected)
    assert "!unsafe" in (result["pdd"] / "env" / "extravars").read_text()
    # What docs/awx.md says of AWX's fact storage: ansible-core 2.21 names its cache files s1_<host>, AWX reads
    # fact_cache/<host>, so no host fact reaches AWX; the job's artifacts (set_stats) do.
    cached = {p.name for p in (artifacts / "fact_cache").iterdir()}
    assert cached and all(name.startswith("s1_") for name in cached) and not cached & set(report["hosts"])
    _assert_no_secret(result)


@pytest.mark.parametrize("limit, hosts, with_localhost", [
    ("lab_linux", {"ubuntu2204", "debian12", "rhel9", "rhel9-fanotify"}, False),
    ("srv2019", {"srv2019"}, False),
    ("lab_linux", {"ubuntu2204", "debian12", "rhel9", "rhel9-fanotify"}, True),
])
def test_limit_keeps_the_report_and_the_summary(job, limit, hosts, with_localhost):
    """AWX's Limit field becomes --limit: the report (and set_stats) must cover the limited hosts, also when the
    inventory holds localhost itself (the limit then leaves it out)."""
    result = job(f"limit-{limit}-{with_localhost}", check=True, limit=limit, with_localhost=with_localhost)
    events = _events(result["artifacts"])
    assert _hosts_with_events(events) == hosts
    report = result["report"]
    assert report is not None, "no report was written under --limit " + limit
    assert set(report["hosts"]) == hosts
    stats = _stats(events)
    assert stats["artifact_data"].get("mde_summary") == report["summary"], "set_stats lost under --limit " + limit
    _assert_no_secret(result)


def test_inventory_script_is_what_ansible_reads():
    """The inventory script in the private data dir gives the lab fleet (a check of the test's own AWX layout)."""
    data = _inventory()
    assert len(data["_meta"]["hostvars"]) == 22 and data["lab_linux"]["vars"]["ansible_connection"] == "mde_lab"
