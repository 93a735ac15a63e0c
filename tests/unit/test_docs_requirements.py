"""Every R-xx a user can see (ansible-doc of every module and role, messages in plugins/, docs/, the READMEs)
is listed in docs/requirements.md with a link to Microsoft's documentation. Computed from the tree, so a new
citation without a row fails here."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "docs" / "requirements.md"
CITATION = re.compile(r"(?<![A-Za-z0-9_-])R-(\d{2})(?!\d)")
ROW = re.compile(r"^\|\s*R-(\d{2})\s*\|(?P<text>[^|]+)\|(?P<source>[^|]+)\|\s*$")
LINK = re.compile(r"\]\((https?://[^)\s]+)\)")
MICROSOFT = re.compile(r"^https://learn\.microsoft\.com/en-us/[a-z0-9/-]+$")


def cited(text: str) -> set[str]:
    """The R-xx numbers a text cites; a range "R-10..R-16" or "R-10 to R-13" cites both ends."""
    return {f"R-{m.group(1)}" for m in CITATION.finditer(text)}


def listed() -> dict[str, tuple[str, list[str]]]:
    rows = {}
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if m:
            key = f"R-{m.group(1)}"
            assert key not in rows, f"{key} is listed twice in docs/requirements.md"
            rows[key] = (m.group("text").strip(), LINK.findall(m.group("source")))
    return rows


def user_facing_files() -> list[pathlib.Path]:
    """Sources of what a user reads: plugins (docs, messages), roles, playbooks, docs, READMEs, meta."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for top in ("plugins", "roles", "playbooks", "meta", "extensions"):
        files += sorted(p for p in (ROOT / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts
                        and p.suffix in (".py", ".ps1", ".psm1", ".yml", ".yaml", ".md", ".j2", ".txt"))
    return files


def ansible_doc_text() -> str:
    """The JSON ansible-doc gives for every module and every role of the collection."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), ANSIBLE_NOCOLOR="1")
    doc = ROOT / ".venv" / "bin" / "ansible-doc"
    if not doc.exists():
        pytest.skip("ansible-doc is not installed in .venv (run scripts/setup.sh)")
    modules = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py"))
    roles = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())
    out = []
    for kind, names in (("module", modules), ("role", roles)):
        proc = subprocess.run([str(doc), "-t", kind, "--json", *[f"defender.endpoint.{n}" for n in names]],
                              capture_output=True, text=True, env=env, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        data = json.loads(proc.stdout)
        assert set(data) == {f"defender.endpoint.{n}" for n in names}, f"ansible-doc -t {kind} misses some: {set(data)}"
        out.append(proc.stdout)
    return "\n".join(out)


def test_citation_extraction_finds_numbers_and_range_ends():
    assert cited("needs passive mode (R-14); see R-10..R-16 and R-60 to R-62") == {
        "R-14", "R-10", "R-16", "R-60", "R-62"}
    assert cited("ARGUMENT_R-10x, PR-12, R-123, KB-R-1") == set()


def test_every_row_has_a_requirement_and_microsoft_links():
    rows = listed()
    assert len(rows) >= 30, "docs/requirements.md lost its table rows"
    for key, (text, links) in rows.items():
        assert len(text) > 20, f"{key}: the requirement needs a sentence"
        assert links, f"{key}: no link to Microsoft's documentation"
        for url in links:
            assert MICROSOFT.match(url), f"{key}: {url} is not a learn.microsoft.com en-us page"


def test_every_citation_in_the_tree_is_listed():
    rows = listed()
    missing = {}
    for path in user_facing_files():
        if path == REQUIREMENTS:
            continue
        for key in cited(path.read_text(encoding="utf-8", errors="replace")) - set(rows):
            missing.setdefault(key, []).append(str(path.relative_to(ROOT)))
    assert not missing, f"cited but not in docs/requirements.md: {missing}"


def test_every_citation_ansible_doc_prints_is_listed():
    text = ansible_doc_text()
    assert cited(text), "ansible-doc printed no R-xx at all: the extraction is broken"
    assert not cited(text) - set(listed()), f"ansible-doc cites {sorted(cited(text) - set(listed()))}"
