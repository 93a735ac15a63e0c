# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The running host: the root's sshd in private namespaces, the repository server and ansible-playbook, both in
the same network namespace (nsenter --net), so everything talks over that namespace's own 127.0.0.1."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

from debian_host import repo, root

PROJECT = pathlib.Path(__file__).resolve().parents[2]
BUILD = PROJECT / ".build"
REPO_PORT, CLOSED_PORT, SSH_PORT = 8080, 8081, 22
COUNTER = "/usr/local/bin/python3-counted"
COUNT_LOG = "/var/log/counted/python3.log"

HOLDER = r"""set -e
ip link set lo up
mount -t proc proc "$ROOT/proc"
mount --rbind /dev "$ROOT/dev"
mkdir -p "$ROOT/run/sshd"
chroot "$ROOT" /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config.test &
wait
"""

SSHD_CONFIG = """Port 22
ListenAddress 127.0.0.1
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
Subsystem sftp /usr/lib/openssh/sftp-server
"""


class DebianHost:
    """One session's host: a fresh root, sshd, two repositories (right key, other key) on 127.0.0.1."""

    def __init__(self, work: pathlib.Path):
        self.work = work
        self.root = work / "root"
        self.procs: list[subprocess.Popen] = []
        self.keys = None
        self.holder = None

    # ---- set-up ----
    def start(self, tarball: pathlib.Path):
        root.extract(tarball, self.root)
        self._configure_root()
        self._build_repositories()
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private",
             "bash", "-c", HOLDER], env=dict(os.environ, ROOT=str(self.root)),
            stdout=open(self.work / "sshd.log", "wb"), stderr=subprocess.STDOUT)
        self.procs.append(self.holder)
        self._wait_port(SSH_PORT, "sshd")
        tls = self.tls
        server = [sys.executable, str(pathlib.Path(__file__).with_name("serve.py")), str(self.work / "srv"),
                  str(REPO_PORT), str(tls["server.pem"]), str(tls["server.key"])]
        self.procs.append(subprocess.Popen(self.nsenter(server), stdout=open(self.work / "http.log", "wb"),
                                           stderr=subprocess.STDOUT))
        self._wait_port(REPO_PORT, "the repository server")
        return self

    def _configure_root(self):
        r = self.root
        (r / "etc/ssh/sshd_config.test").write_text(SSHD_CONFIG)
        subprocess.run(["chroot", str(r), "ssh-keygen", "-A"], check=True, capture_output=True, timeout=60)
        key = self.work / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=60)
        (r / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
        (r / "root/.ssh/authorized_keys").write_text((self.work / "id_ed25519.pub").read_text())
        os.chmod(r / "root/.ssh/authorized_keys", 0o600)
        # Counts every remote Python run (each module execution) before handing over to the real python3.
        (r / "var/log/counted").mkdir(parents=True, exist_ok=True)
        (r / COUNTER.lstrip("/")).write_text(f'#!/bin/sh\necho "$*" >> {COUNT_LOG}\nexec /usr/bin/python3 "$@"\n')
        os.chmod(r / COUNTER.lstrip("/"), 0o755)
        self.set_daemon(start_delay=2, definitions_delay=4)
        # The mirror's CA in the root's trust store, as a user with an internal mirror does.
        self.tls = repo.make_tls(self.work / "tls")
        shutil.copy(self.tls["ca.pem"], r / "usr/local/share/ca-certificates/defender-endpoint-test-ca.crt")
        subprocess.run(["chroot", str(r), "update-ca-certificates"], check=True, capture_output=True, timeout=60)

    def _build_repositories(self):
        self.keys = repo.Keys()
        deb = repo.build_deb(self.work / "debs")
        base = f"https://127.0.0.1:{REPO_PORT}"
        srv = self.work / "srv"
        self.repo_url = repo.build_repository(srv, "mirror", base, deb, self.keys, signer="good")
        self.other_key_url = repo.build_repository(srv, "otherkey", base, deb, self.keys, signer="other")
        self.unreachable_url = f"https://127.0.0.1:{CLOSED_PORT}/mirror"

    def nsenter(self, cmd: list[str]) -> list[str]:
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--", *cmd]

    def _wait_port(self, port: int, what: str, timeout: float = 20):
        probe = [sys.executable, "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}), 1)"]
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.holder.poll() is not None:
                break
            if subprocess.run(self.nsenter(probe), capture_output=True, timeout=10, check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise root.Unavailable(f"{what} did not listen on 127.0.0.1:{port} in the namespace within {timeout} s: "
                               + (self.work / "sshd.log").read_text(errors="replace")[-400:])

    def stop(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        if self.keys:
            self.keys.close()
        shutil.rmtree(self.work / "cp", ignore_errors=True)

    # ---- what the tests read and set ----
    def set_daemon(self, **control):
        """The double daemon's timing: start_delay, definitions_delay (seconds), never_healthy."""
        folder = self.root / "var/lib/mdatp-double"
        folder.mkdir(parents=True, exist_ok=True)
        # MDE_DEBIAN_HEALTH_JSON=snake: the shape the executor reads today, not the product's (README.md).
        control.setdefault("health_json", os.environ.get("MDE_DEBIAN_HEALTH_JSON", "product"))
        (folder / "control.json").write_text(json.dumps(control))

    def module_runs(self, module: str = "mde_host_linux") -> int:
        log = self.root / COUNT_LOG.lstrip("/")
        """Remote runs of that module (every remote Python run with module="")."""
        lines = log.read_text().splitlines() if log.exists() else []
        return sum(f"AnsiballZ_{module}.py" in line if module else bool(line.strip()) for line in lines)

    def chroot(self, *cmd: str, check: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run(["chroot", str(self.root), *cmd], capture_output=True, text=True, timeout=60,
                              check=check)

    def file(self, path: str) -> pathlib.Path:
        return self.root / path.lstrip("/")

    def inventory(self, args: dict, tty: bool = False) -> pathlib.Path:
        path = self.work / "inventory.json"
        path.write_text(json.dumps({"all": {"hosts": {"debian12": {
            "ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": SSH_PORT,
            "ansible_user": "root", "ansible_ssh_private_key_file": str(self.work / "id_ed25519"),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            # ansible's default is -tt; only the tty test keeps it (README.md, 'The tty').
            "ansible_ssh_use_tty": tty, "ansible_python_interpreter": COUNTER, "mde_test_args": args}}}}))
        return path

    def playbook(self, playbook: pathlib.Path, args: dict, *extra: str, timeout: int = 240, tty: bool = False):
        """Run a test playbook (it saves its result to MDE_TEST_OUT/<host>.json); return (proc, result)."""
        out = self.work / "out"
        out.mkdir(exist_ok=True)
        for old in out.glob("*.json"):
            old.unlink()
        venv = PROJECT / ".venv" / "bin"
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(BUILD / "collections"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_HOST_KEY_CHECKING="False",
                   ANSIBLE_SSH_CONTROL_PATH_DIR=str(self.work / "cp"), MDE_TEST_OUT=str(out),
                   PATH=f"{venv}:{os.environ.get('PATH', '')}")
        inventory = self.inventory(args, tty)
        cmd = self.nsenter([str(venv / "ansible-playbook"), "-i", str(inventory), str(playbook), *extra])
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(PROJECT), timeout=timeout,
                              check=False)
        result = out / "debian12.json"
        return proc, (json.loads(result.read_text()) if result.exists() else None)
