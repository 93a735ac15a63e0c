"""Install a stand-in for the get-pip script that ansible-test downloads for each virtual env.

ansible-test fetches ``get_pip_<version>.py`` from the network the first time it creates a
virtual environment.  Where that host cannot be reached, the stand-in written here bootstraps
pip with ``ensurepip`` and then installs, from the package index, the packages ansible-test
asked for.
"""

from __future__ import annotations

import pathlib
import re

import ansible_test

STAND_IN = '''\
import subprocess
import sys

subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade"], check=True, stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.run([sys.executable, "-m", "pip", "install", *args], check=True)
'''


def pip_versions() -> set[str]:
    source = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    return set(re.findall(r"pip='([0-9.]+)'", source.read_text())) or {"25.2"}


def main() -> None:
    cache = pathlib.Path.home() / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for version in pip_versions():
        target = cache / f"get_pip_{version.replace('.', '_')}.py"
        if not target.exists() or target.read_text() != STAND_IN:
            target.write_text(STAND_IN)


if __name__ == "__main__":
    main()
