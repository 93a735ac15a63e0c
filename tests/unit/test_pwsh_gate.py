"""The PowerShell syntax gate catches broken scripts and passes the collection's own."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

GATE = [sys.executable, str(ROOT / "scripts" / "pwsh_syntax.py")]


def test_collection_powershell_parses():
    proc = subprocess.run(GATE, capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout
    assert "0 problem(s)" in proc.stdout and "plugins/modules/mde_host.ps1" not in proc.stdout


def test_broken_powershell_is_caught(tmp_path):
    broken = tmp_path / "broken.ps1"
    broken.write_text("Function Get-X {\n    if ($a -eq 1 {\n        'x'\n    }\n")
    proc = subprocess.run([*GATE, str(broken)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 1 and "broken.ps1:" in proc.stdout
