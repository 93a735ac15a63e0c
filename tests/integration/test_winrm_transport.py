# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""End to end through Ansible's real ``winrm`` connection and pywinrm, answered by a WS-Management test double
(tests/winrm_double) that hands each decoded module call to the lab model; on ansible-core 2.19 and the latest,
with an inventory as a user writes it (no ansible_shell_type). Issue 9, part 3."""

from __future__ import annotations

import base64
import json
import pathlib
import subprocess
import sys
import time

import pytest

from conftest import ROOT, Lab
from windows_lab import ONBOARD, secrets

PLAYBOOKS = ROOT / "tests" / "integration" / "playbooks"
SERVER = ROOT / "tests" / "winrm_double" / "server.py"
USER, PASSWORD = "ansible-winrm", "Pa55-w0rd-not-for-logs!"
VENVS = {"ansible-core-2.19": ROOT / ".venv-ansible219", "ansible-core-latest": ROOT / ".venv"}
TIMINGS: list[tuple[str, float, int]] = []     # (test, seconds, remote executions)


def _python(venv: pathlib.Path) -> pathlib.Path:
    return venv / "bin" / "python"


@pytest.fixture(params=sorted(VENVS), scope="module")
def venv(request):
    path = VENVS[request.param]
    if not (path / "bin" / "ansible-playbook").exists():
        pytest.skip(f"{path.name} is missing: run scripts/setup.sh")
    probe = subprocess.run([str(_python(path)), "-c", "import winrm, xmltodict"], capture_output=True, check=False)
    if probe.returncode:
        pytest.skip(f"pywinrm is not installed in {path.name}: run scripts/setup.sh")
    return path


class WinRMHosts:
    """The double running for some hosts, and the user's WinRM inventory that points at it."""

    def __init__(self, tmp: pathlib.Path, hosts: dict, venv: pathlib.Path):
        self.tmp, self.lab = tmp, Lab(tmp / "lab-state", venv=venv)
        self.log = tmp / "double.jsonl"
        config = tmp / "double.json"
        config.write_text(json.dumps({"user": USER, "password": PASSWORD, "hosts": hosts}))
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, str(SERVER), "--config", str(config), "--log", str(self.log), "--lifetime", "600"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=self.lab.env())
        line = self.proc.stdout.readline()     # printed once every port listens
        if not line:
            self.stop()
            raise RuntimeError(f"the WinRM double did not start: {self.proc.stderr.read()[-2000:]}")
        self.ports = json.loads(line)["ports"]

    def inventory(self, hostvars: dict | None = None) -> pathlib.Path:
        hosts = {name: {"ansible_host": "127.0.0.1", "ansible_port": port, **(hostvars or {}).get(name, {})}
                 for name, port in self.ports.items()}
        inventory = {"all": {"vars": {"ansible_connection": "winrm", "ansible_winrm_scheme": "http",
                                      "ansible_winrm_transport": "basic", "ansible_user": USER,
                                      "ansible_password": PASSWORD}, "hosts": hosts}}
        path = self.tmp / "winrm-inventory.json"
        path.write_text(json.dumps(inventory))
        return path

    def run(self, playbook, out: str, *args, hostvars=None):
        started = time.monotonic()
        proc, results = self.lab.run(playbook, self.inventory(hostvars), self.tmp / out, *args)
        return proc, results, time.monotonic() - started

    def commands(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()        # the double stops when its stdin closes
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


@pytest.fixture
def winrm_hosts(tmp_path, venv):
    started = []

    def start(hosts: dict) -> WinRMHosts:
        started.append(WinRMHosts(tmp_path, hosts, venv))
        return started[-1]

    yield start
    for double in started:
        double.stop()
        assert double.proc.returncode == 0, "the WinRM double did not stop cleanly"


def _record(name: str, seconds: float, double: WinRMHosts):
    """Print the playbook's wall time and, per WinRM command, the time from Command to its last Receive."""
    done = [c["seconds"] for c in double.commands() if c.get("action") == "Done"]
    TIMINGS.append((name, seconds, len(done)))
    print(f"\n[winrm timing] {name}: playbook {seconds:.2f} s; {len(done)} WinRM commands so far on the double, "
          f"{sum(done) / max(len(done), 1):.3f} s each on average (max {max(done, default=0):.3f} s)")


def _no_leak(proc, double: WinRMHosts):
    text = proc.stdout + proc.stderr + (double.log.read_text() if double.log.exists() else "")
    assert PASSWORD not in text
    for secret in secrets():
        assert secret not in text


def test_mde_info_through_winrm(winrm_hosts, venv, request):
    double = winrm_hosts({"srv2016": {"profile": "windows_server_2016"}})
    proc, results, seconds = double.run(PLAYBOOKS / "info.yml", "info")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert results["srv2016"]["generation"] == "unified"
    assert results["srv2016"]["os"]["build"] == 14393
    executions = double.lab.executions("srv2016")
    assert [c["operation"] for c in executions] == ["probe"]
    # Every WS-Management command was a PowerShell -EncodedCommand, never a Python interpreter discovery.
    commands = [c for c in double.commands() if c["action"] == "Command"]
    assert commands and all("-EncodedCommand" in c["command"] + sum(c["arguments"], []) for c in commands)
    _record(request.node.name, seconds, double)


def test_onboard_2016_with_installer_and_group_policy_script(winrm_hosts, packages, venv, request):
    double = winrm_hosts({"srv2016": {"profile": "windows_server_2016"}})
    script = pathlib.Path(packages["win_onboard_cmd"]).read_text()
    assert "Set /P errorMsg=<" in script            # shaped like Microsoft's Group Policy script
    args = {"mde_test_args": {"onboarding_package": packages["win_onboard_cmd"], "installer": packages["md4ws_msi"]}}
    proc, results, seconds = double.run(ONBOARD, "first", "-vvv", hostvars={"srv2016": args})
    first = results["srv2016"]
    assert first["changed"] is True and not first.get("failed"), first.get("msg")
    assert first["verified"] is True and first["md4ws_version"] == "10.8760.26100.1000"
    transfers = [c for c in double.lab.calls("srv2016") if "transfer" in c]
    msi_size = pathlib.Path(packages["md4ws_msi"]).stat().st_size
    assert [t["size"] for t in transfers] == [msi_size]          # the real put_file, whole
    assert list((double.lab.state_dir / "srv2016" / "staged").iterdir()) == []
    count_first = len(double.lab.executions("srv2016"))
    assert count_first == 2                                      # probe + apply
    _no_leak(proc, double)
    _record(request.node.name + "[first]", seconds, double)

    proc, results, seconds = double.run(ONBOARD, "second", hostvars={"srv2016": args})
    second = results["srv2016"]
    assert second["changed"] is False and not second.get("failed"), second.get("msg")
    assert second["verified"] is True
    assert len(double.lab.executions("srv2016")) - count_first == 1
    assert len([c for c in double.lab.calls("srv2016") if "transfer" in c]) == 1   # not sent again
    _record(request.node.name + "[second]", seconds, double)


def test_unsigned_installer_fails_clearly_and_changes_nothing(winrm_hosts, packages, venv, request):
    double = winrm_hosts({"srv2016-unsigned": {"profile": "windows_server_2016", "faults": ["installer_unsigned"]}})
    args = {"srv2016-unsigned": {"mde_test_args": {"onboarding_package": packages["win_onboard_cmd"],
                                                   "installer": packages["md4ws_msi"]}}}
    double.run(ONBOARD, "probe", "--check", hostvars=args)
    fresh = double.lab.state("srv2016-unsigned")
    proc, results, seconds = double.run(ONBOARD, "unsigned", hostvars=args)
    result = results["srv2016-unsigned"]
    assert result["failed"] and result["failed_step"] == "install_msi", result
    assert "Authenticode" in result["msg"] and "HashMismatch" in result["msg"]
    after = double.lab.state("srv2016-unsigned")
    assert after["md4ws"] == fresh["md4ws"] and after.get("onboarded_org") == fresh.get("onboarded_org")
    _no_leak(proc, double)
    _record(request.node.name, seconds, double)


def test_wrong_password_is_refused(winrm_hosts, venv):
    double = winrm_hosts({"srv2016": {"profile": "windows_server_2016"}})
    inventory = double.inventory({"srv2016": {"ansible_password": "not-the-password"}})
    proc = double.lab.playbook(PLAYBOOKS / "info.yml", inventory=inventory, MDE_TEST_OUT=str(double.tmp))
    assert proc.returncode != 0
    assert "unreachable=1" in proc.stdout, proc.stdout[-2000:]
    assert "the specified credentials were rejected by the server" in proc.stdout, proc.stdout[-2000:]
    assert double.lab.executions("srv2016") == []
    assert any(c.get("action") == "auth" for c in double.commands())


@pytest.mark.parametrize("command, args", [
    ("powershell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand {b64}", []),   # 2.21 cmd
    ("PowerShell", ["-NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand {b64}"]),  # 2.19
    ("cmd", ["/c powershell -NoProfile -EncodedCommand {b64}"]),
])
def test_the_double_reads_each_command_line_shape(command, args):
    sys.path.insert(0, str(SERVER.parent))
    import server  # pylint: disable=import-outside-toplevel

    b64 = base64.b64encode("param([string]$InputFile)\n$inputData = $input".encode("utf-16-le")).decode()
    script = server.encoded_script(command.format(b64=b64), [a.format(b64=b64) for a in args])
    assert script.startswith("param([string]$InputFile)")
    assert server.encoded_script("dir", ["C:\\"]) is None
