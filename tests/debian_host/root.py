# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Debian 12 root file system: built once with debootstrap, cached as a tarball, extracted fresh per session."""

from __future__ import annotations

import fcntl
import glob
import os
import pathlib
import re
import shutil
import subprocess

INCLUDE = "python3,gpg,openssh-server,ca-certificates"
TOOLS = ("unshare", "nsenter", "debootstrap", "apt-ftparchive", "gpg", "gpg-agent", "ssh", "ssh-keygen", "dpkg-deb",
         "tar")


class Unavailable(Exception):
    """The machine cannot run the Debian host; str(exc) is the one sentence the tests skip with."""


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")


def check_machine(build: pathlib.Path) -> None:
    """Raise Unavailable with the reason when this machine cannot run the host."""
    if os.geteuid() != 0:
        raise Unavailable("the real Debian host needs root (namespaces, chroot, debootstrap); run the tests as root.")
    mark = build / "debian-host-unavailable"
    missing = [t for t in TOOLS if not _which(t)]
    if missing:
        why = mark.read_text().strip() if mark.exists() else "bash scripts/setup_debian_host.sh was not run"
        raise Unavailable(f"{', '.join(missing)} not found ({why}).")


def mirror() -> str | None:
    """The Debian mirror this machine's own apt uses (bookworm, not security), or None for debootstrap's default."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for stanza in pathlib.Path(path).read_text(errors="replace").split("\n\n"):
            fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.MULTILINE))
            if "bookworm" in fields.get("Suites", "").split() and "deb" in fields.get("Types", "").split():
                uri = fields.get("URIs", "").split()
                if uri:
                    return uri[0]
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        if os.path.exists(path):
            for line in pathlib.Path(path).read_text(errors="replace").splitlines():
                match = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", line)
                if match:
                    return match.group(1)
    return None


def cached_tarball(build: pathlib.Path, timeout: int = 900) -> pathlib.Path:
    """.build/debian12-root.tar, built by debootstrap the first time (one builder at a time)."""
    build.mkdir(parents=True, exist_ok=True)
    tarball = build / "debian12-root.tar"
    failed = build / "debian12-root.failed"
    with open(build / "debian12-root.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = build / "debian12-root.include"
        if tarball.exists() and stamp.exists() and stamp.read_text() == INCLUDE:
            return tarball
        work = build / "debian12-root.tmp"
        shutil.rmtree(work, ignore_errors=True)
        cmd = [_which("debootstrap"), "--variant=minbase", f"--include={INCLUDE}", "bookworm", str(work)]
        if mirror():
            cmd.append(mirror())
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            proc = None
        if proc is None or proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] if proc else [f"timed out after {timeout} s"]
            failed.write_text("\n".join(tail))
            shutil.rmtree(work, ignore_errors=True)
            raise Unavailable(f"debootstrap of Debian 12 failed (network?): {' '.join(tail)}")
        subprocess.run(["tar", "-C", str(work), "-cf", str(tarball) + ".part", "."], check=True, timeout=300)
        os.replace(str(tarball) + ".part", tarball)
        stamp.write_text(INCLUDE)
        shutil.rmtree(work, ignore_errors=True)
        failed.unlink(missing_ok=True)
        return tarball


def extract(tarball: pathlib.Path, target: pathlib.Path) -> pathlib.Path:
    target.mkdir(parents=True)
    subprocess.run(["tar", "-C", str(target), "-xpf", str(tarball)], check=True, timeout=300)
    return target


# What a login or the harness itself touches, left out of the file-tree comparison of check mode.
_UNTRACKED = ("proc", "dev", "sys", "run", "tmp", "root/.ansible", "var/log/counted", "var/log/wtmp", "var/log/btmp",
              "var/log/lastlog", "var/lib/mdatp-double")


def tree(root: pathlib.Path, skip=_UNTRACKED):
    """{path: (size, mode)} of every file and folder under root, without the ones a login or the harness touch."""
    skipped = {str(root / s) for s in skip}
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if os.path.join(folder, d) not in skipped]
        for name in dirs + files:
            path = os.path.join(folder, name)
            if path in skipped:
                continue
            st = os.lstat(path)
            found[os.path.relpath(path, root)] = (st.st_size if not os.path.isdir(path) else 0, st.st_mode)
    return found
