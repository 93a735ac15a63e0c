# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test-double mdatp .deb and signed apt repositories in Microsoft's layout, built at test time."""

from __future__ import annotations

import gzip
import os
import pathlib
import shutil
import subprocess
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
VERSION = "101.24082.0004"
KEYRING = "/usr/share/keyrings/microsoft-prod.gpg"


def _run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, timeout=120, **kw)


def arch() -> str:
    return _run(["dpkg", "--print-architecture"], text=True).stdout.strip()


def build_deb(out: pathlib.Path, version: str = VERSION) -> pathlib.Path:
    """mdatp_<version>_<arch>.deb: /usr/bin/mdatp (the double); postinst notes when the 'daemon' started."""
    work = pathlib.Path(tempfile.mkdtemp(prefix="mdatp-deb-"))
    try:
        (work / "DEBIAN").mkdir()
        (work / "usr/bin").mkdir(parents=True)
        # The interpreter line is added here: the source is not an executable of the project.
        script = "#!/usr/bin/python3\n" + (HERE / "mdatp_double.py").read_text().replace("@VERSION@", version)
        (work / "usr/bin/mdatp").write_text(script)
        os.chmod(work / "usr/bin/mdatp", 0o755)
        (work / "DEBIAN/control").write_text(
            f"Package: mdatp\nVersion: {version}\nArchitecture: {arch()}\nMaintainer: tests <tests@example.invalid>\n"
            "Depends: python3\nSection: misc\nPriority: optional\n"
            "Description: test double of Microsoft Defender for Endpoint\n")
        (work / "DEBIAN/postinst").write_text(
            "#!/bin/sh\nset -e\nmkdir -p /var/lib/mdatp-double /etc/opt/microsoft/mdatp/managed\n"
            "python3 -c 'import time; print(time.time())' > /var/lib/mdatp-double/started_at\n")
        (work / "DEBIAN/postrm").write_text(
            "#!/bin/sh\nset -e\nif [ \"$1\" = purge ]; then rm -f /var/lib/mdatp-double/started_at; fi\n")
        for name in ("postinst", "postrm"):
            os.chmod(work / "DEBIAN" / name, 0o755)
        out.mkdir(parents=True, exist_ok=True)
        deb = out / f"mdatp_{version}_{arch()}.deb"
        _run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(work), str(deb)])
        return deb
    finally:
        shutil.rmtree(work, ignore_errors=True)


class Keys:
    """Two throwaway signing keys in a private GNUPGHOME: 'good' (published as microsoft.asc) and 'other'."""

    def __init__(self):
        self.home = tempfile.mkdtemp(prefix="gpg-")      # short: gpg-agent's socket path is limited
        os.chmod(self.home, 0o700)
        self.env = dict(os.environ, GNUPGHOME=self.home)
        for name in ("good", "other"):
            _run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", f"{name} <{name}@example.invalid>",
                  "ed25519", "sign", "never"], env=self.env)

    def public(self, name: str) -> bytes:
        return _run(["gpg", "--armor", "--export", f"{name}@example.invalid"], env=self.env).stdout

    def sign(self, name: str, release: pathlib.Path):
        user = ["--local-user", f"{name}@example.invalid"]
        _run(["gpg", "--batch", "--yes", *user, "--clearsign", "-o", str(release.parent / "InRelease"), str(release)],
             env=self.env)
        _run(["gpg", "--batch", "--yes", *user, "-abs", "-o", str(release.parent / "Release.gpg"), str(release)],
             env=self.env)

    def close(self):
        subprocess.run(["gpgconf", "--kill", "all"], env=self.env, capture_output=True, timeout=30, check=False)
        shutil.rmtree(self.home, ignore_errors=True)


def build_repository(top: pathlib.Path, name: str, base_url: str, deb: pathlib.Path, keys: Keys, signer: str,
                     published: str = "good") -> str:
    """top/name/: keys/microsoft.asc, config/debian/12/prod.list, debian/12/prod/{dists,pool}; return its URL."""
    root = top / name
    url = f"{base_url}/{name}"
    (root / "keys").mkdir(parents=True)
    (root / "keys/microsoft.asc").write_bytes(keys.public(published))
    (root / "config/debian/12").mkdir(parents=True)
    (root / "config/debian/12/prod.list").write_text(
        f"deb [arch={arch()} signed-by={KEYRING}] {url}/debian/12/prod bookworm main\n")
    prod = root / "debian/12/prod"
    pool = prod / "pool/main/m/mdatp"
    pool.mkdir(parents=True)
    shutil.copy2(deb, pool / deb.name)
    binary = prod / f"dists/bookworm/main/binary-{arch()}"
    binary.mkdir(parents=True)
    packages = _run(["apt-ftparchive", "packages", "pool"], cwd=str(prod)).stdout
    (binary / "Packages").write_bytes(packages)
    (binary / "Packages.gz").write_bytes(gzip.compress(packages))
    release = _run(["apt-ftparchive", "-o", "APT::FTPArchive::Release::Suite=bookworm",
                    "-o", "APT::FTPArchive::Release::Codename=bookworm",
                    "-o", f"APT::FTPArchive::Release::Architectures={arch()}",
                    "-o", "APT::FTPArchive::Release::Components=main", "release", "dists/bookworm"],
                   cwd=str(prod)).stdout
    (prod / "dists/bookworm/Release").write_bytes(release)
    keys.sign(signer, prod / "dists/bookworm/Release")
    return url


def make_tls(folder: pathlib.Path) -> dict[str, pathlib.Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it (openssl)."""
    folder.mkdir(parents=True, exist_ok=True)
    p = {name: folder / name for name in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem", "san.cnf")}
    _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
          "-keyout", str(p["ca.key"]), "-out", str(p["ca.pem"]), "-days", "2", "-subj", "/CN=defender.endpoint test CA",
          "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    _run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
          "-keyout", str(p["server.key"]), "-out", str(p["server.csr"]), "-subj", "/CN=127.0.0.1"])
    p["san.cnf"].write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _run(["openssl", "x509", "-req", "-in", str(p["server.csr"]), "-CA", str(p["ca.pem"]), "-CAkey", str(p["ca.key"]),
          "-CAcreateserial", "-out", str(p["server.pem"]), "-days", "2", "-extfile", str(p["san.cnf"])])
    return p
