"""ansible-doc is complete for every module and every role: descriptions, examples and return values for
modules, an argument spec for every role's entry points, and a description and a type for every option. A role
whose meta/main.yml calls it internal (tasks the other roles share) is not a user's entry point and is left out."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / ".venv" / "bin" / "ansible-doc"


def _doc(kind: str, names: list[str]) -> dict:
    if not DOC.exists():
        pytest.skip("ansible-doc is not installed in .venv (run scripts/setup.sh)")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(DOC), "-t", kind, "--json", *[f"defender.endpoint.{n}" for n in names]],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def _options_without(options: dict, where: str) -> list[str]:
    """Options (and sub-options) without a description or a type."""
    bad = []
    for name, spec in (options or {}).items():
        if not spec.get("description") or not spec.get("type"):
            bad.append(f"{where}.{name}")
        bad += _options_without(spec.get("suboptions") or spec.get("options"), f"{where}.{name}")
    return bad


def _internal(role: pathlib.Path) -> bool:
    """A role whose meta/main.yml describes it as internal (shared tasks the other roles include)."""
    meta = role / "meta" / "main.yml"
    if not meta.exists():
        return False
    description = ((yaml.safe_load(meta.read_text(encoding="utf-8")) or {}).get("galaxy_info") or {}).get("description")
    return str(description or "").startswith("Internal")


def test_every_module_is_documented():
    names = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
    docs = _doc("module", names)
    assert set(docs) == {f"defender.endpoint.{n}" for n in names}
    problems = []
    for fqcn, data in docs.items():
        doc = data.get("doc") or {}
        for field in ("short_description", "description", "author"):
            if not doc.get(field):
                problems.append(f"{fqcn}: no {field}")
        if not (data.get("examples") or "").strip():
            problems.append(f"{fqcn}: no EXAMPLES")
        if not data.get("return"):
            problems.append(f"{fqcn}: no RETURN")
        problems += _options_without(doc.get("options"), fqcn)
    assert not problems, "\n".join(problems)


def test_every_role_has_a_documented_argument_spec():
    roles = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir() and not _internal(p))
    missing = [r for r in roles if not (ROOT / "roles" / r / "meta" / "argument_specs.yml").exists()]
    assert not missing, f"roles without meta/argument_specs.yml (ansible-doc -t role shows nothing): {missing}"
    docs = _doc("role", roles)
    assert set(docs) == {f"defender.endpoint.{r}" for r in roles}
    problems = []
    for fqcn, data in docs.items():
        entry_points = data.get("entry_points") or {}
        task_files = {p.stem for p in (ROOT / "roles" / fqcn.rsplit(".", 1)[1] / "tasks").glob("*.yml")}
        if "main" in task_files and "main" not in entry_points:
            problems.append(f"{fqcn}: the main entry point is not documented")
        for name, entry in entry_points.items():
            for field in ("short_description", "description"):
                if not entry.get(field):
                    problems.append(f"{fqcn} {name}: no {field}")
            problems += _options_without(entry.get("options"), f"{fqcn} {name}")
    assert not problems, "\n".join(problems)
