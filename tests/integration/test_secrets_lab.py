"""No secret the tests use appears in any output: the workspace key, the MMA proxy password, the Linux proxy's
user and password, and the onboarding and offboarding blobs' signatures, grepped in stdout and stderr at -vvv and
-vvvvv, in --diff, in Ansible's log file, in every report file (report.json, report.csv, report.html), in the lab's
calls.jsonl and in its state (ANSIBLE_DEBUG, which ansible-core documents as printing everything, is not set).

The lab is the host: its state may hold what a host holds, so the Linux proxy URL is allowed in exactly one place,
the host's mdatp_managed.json (mode 0600); nowhere else, and never in calls.jsonl."""

from __future__ import annotations

import json

import package_factory
from conftest import ROOT, Lab, write_inventory
from windows_lab import secrets

PLAYBOOKS = ROOT / "playbooks"
PER_HOST = ROOT / "tests" / "integration" / "playbooks" / "module_per_host.yml"
MANAGED_JSON = "/etc/opt/microsoft/mdatp/managed/mdatp_managed.json"
PROXY_USER, PROXY_PASSWORD = "svc-mde-proxy", "Pr0xy-Pa55-7c1e"
PROXY = f"http://{PROXY_USER}:{PROXY_PASSWORD}@proxy.example:3128/"
MMA_PROXY_PASSWORD = "Mma-Pr0xy-Pa55-41d9"
WS = package_factory.MDE_WORKSPACE_ID


def _secrets() -> list[str]:
    linux = [package_factory.fake_signature(package_factory.FAKE_ORG + suffix) for suffix in ("linux", "linuxoff")]
    return secrets() + linux + [PROXY_PASSWORD, PROXY_USER, MMA_PROXY_PASSWORD]


def _hits(text: str, where: str) -> list[str]:
    found = []
    for secret in _secrets():
        at = text.find(secret)
        if at >= 0:
            found.append(f"{where}: {secret[:6]}... near {text[max(0, at - 120):at]!r}")
    return found


def test_no_secret_in_any_output(tmp_path):
    packages = package_factory.write_set(str(tmp_path / "packages"))
    fleet = dict(package_factory.fleet_vars(packages), mde_proxy=PROXY)
    (tmp_path / "fleet.json").write_text(json.dumps(fleet))
    mma = {"mma": {"installed": True, "version": "10.20.18067.0", "workspaces": []}}
    hosts = {"win7": {"profile": "windows_7_sp1"}, "srv2016": {"profile": "windows_server_2016"},
             "srv2019": {"profile": "windows_server_2019"}, "debian12": {"profile": "debian_12"},
             "srv2016-unsigned": {"profile": "windows_server_2016", "faults": ["installer_unsigned"]},
             "deb-down": {"profile": "debian_12", "faults": ["repo_unreachable"]}}
    inventory = write_inventory(tmp_path / "inventory.json", hosts)
    lab = Lab(tmp_path / "state")
    log = tmp_path / "ansible.log"
    outputs = []

    def playbook(name, *args, inv=inventory, **env):
        proc = lab.playbook(PLAYBOOKS / f"{name}.yml", "-e", f"@{tmp_path / 'fleet.json'}", *args, inventory=inv,
                            MDE_REPORT_DIR=str(tmp_path / "reports" / name), ANSIBLE_LOG_PATH=str(log), **env)
        outputs.append((f"{name} {' '.join(args)}", proc.stdout + proc.stderr))
        return proc

    playbook("onboard", "--check", "--diff", "-vvv")
    playbook("onboard", "--diff", "-vvv")
    playbook("onboard", "-vvvvv")
    playbook("verify", "-vvv")
    # The MMA's proxy password (mma_workspace) and mde_info on every host, at -vvvvv with --diff.
    per_host = {name: dict(spec, vars={"mde_test_module": "mde_info", "mde_test_args": {}})
                for name, spec in hosts.items()}
    per_host["mma"] = {"profile": "windows_server_2008_r2_sp1", "state": mma, "vars": {
        "mde_test_module": "mma_workspace", "mde_test_args": {
            "workspace_id": WS, "workspace_key": package_factory.FAKE_WORKSPACE_KEY, "proxy_url": "proxy.example:3128",
            "proxy_username": "mma-proxy", "proxy_password": MMA_PROXY_PASSWORD}}}
    (tmp_path / "out").mkdir()
    proc = lab.playbook(PER_HOST, "-vvvvv", "--diff", inventory=write_inventory(tmp_path / "per_host.json", per_host),
                        MDE_TEST_OUT=str(tmp_path / "out"), ANSIBLE_LOG_PATH=str(log))
    outputs.append(("module_per_host -vvvvv --diff", proc.stdout + proc.stderr))
    playbook("offboard", "--diff", "-vvv")

    info = json.loads((tmp_path / "out" / "debian12.json").read_text())
    assert info["host_facts"]["managed_config"]["cloudService"]["proxy"] == "http://********@proxy.example:3128/"
    assert json.loads((tmp_path / "out" / "mma.json").read_text())["changed"] is True
    assert not [name for name, text in outputs if "Traceback" in text]
    assert "********" in "".join(text for _name, text in outputs)          # the masked proxy was shown, masked
    hits = []
    for name, text in outputs:
        hits += _hits(text, name)
    hits += _hits(log.read_text(), "ansible.log")
    reports = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    assert any(p.name == "report.json" for p in reports) and any(p.name == "report.html" for p in reports)
    for path in reports:
        hits += _hits(path.read_text(errors="replace"), str(path.relative_to(tmp_path)))
    for path in (tmp_path / "out").glob("*.json"):
        hits += _hits(path.read_text(), str(path.relative_to(tmp_path)))
    for host in list(hosts) + ["mma"]:
        folder = lab.state_dir / host
        hits += _hits((folder / "calls.jsonl").read_text(), f"{host}/calls.jsonl")
        state = json.loads((folder / "state.json").read_text())
        if host == "debian12":
            managed = state["managed_config"]
            assert managed["cloudService"]["proxy"] == PROXY, managed     # it was applied, on the host only
            assert state["files"][MANAGED_JSON] == "0600"
            state["managed_config"] = None                    # the host's own 0600 file may hold it
        hits += _hits(json.dumps(state), f"{host}/state.json")
    assert not hits, f"{len(hits)} secret(s) in the output:\n" + "\n".join(hits[:20])
