"""Every citation leads somewhere: no text in the repository points at a document the repository does not
hold, and every docs/ page a text names exists.

Test code that reads the shared real-package material beside the checkout (``../shared/real-packages``) may
name that folder; nothing else may, and no text at all may cite the project's internal working documents."""

from __future__ import annotations

import os
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".build", "tests/output", "mde-report", "__pycache__", ".pytest_cache", "node_modules"}
TEXT_SUFFIXES = {".py", ".ps1", ".psm1", ".yml", ".yaml", ".md", ".j2", ".txt", ".cfg", ".ini", ".sh", ".json",
                 ".toml", ".rst", ""}
THIS = pathlib.Path(__file__).resolve()

# Documents that exist only outside the repository, however they are cited.
ABSENT = [
    (re.compile(r"(?<![A-Za-z0-9_])(SPEC|REFERENCE|DESIGN|TESTING|STYLE)\.md\b"), "internal document"),
    (re.compile(r"(?<![A-Za-z0-9_])(SPEC|REFERENCE|DESIGN|TESTING)(?=\s+(R-\d|sections?\b|§|\d))"),
     "internal document"),
    (re.compile(r"(\(|\b(the|see|in|of|from|per|by|as)\s+)(SPEC|REFERENCE|DESIGN|TESTING)(?![A-Za-z0-9_(])"),
     "internal document"),
    (re.compile(r"(?i)\b(the|project's|our|from the)\s+specification\b"), "the specification"),
    (re.compile(r"(?i)\bthe\s+seeds?\b|\bseeds/"), "the seeds"),
    (re.compile(r"/work/shared|/work/briefs"), "an absolute path outside the checkout"),
]
SHARED = re.compile(r"\.\./shared\b")
READER = re.compile(r"^\s*(import real_packages|from real_packages import)", re.M)
SHARED_PATH = re.compile(r"""/ ["']shared["']|["']\.\./shared/?["']""")
DOCS_PAGE = re.compile(r"(?<![\w/.-])docs/([\w.-]+\.md)")
MD_LINK = re.compile(r"\]\(([^)\s#]+)(#[^)]*)?\)")


def tree() -> list[pathlib.Path]:
    out = []
    for folder, dirs, files in os.walk(ROOT):
        rel_dir = pathlib.Path(folder).relative_to(ROOT).as_posix()
        dirs[:] = [d for d in dirs if not d.startswith(".venv") and d not in SKIP_DIRS
                   and f"{rel_dir}/{d}".lstrip("./") not in SKIP_DIRS]
        for name in files:
            path = pathlib.Path(folder) / name
            if path.suffix in TEXT_SUFFIXES and name != "LICENSE" and path != THIS:
                out.append(path)
    return sorted(out)


def reads_shared_material(path: pathlib.Path, text: str) -> bool:
    """Test code that reads the shared material beside the checkout (real packages, Microsoft's example payloads)
    and skips when it is absent: a test module whose code builds a path through a ``"shared"`` folder, or that
    imports the one that does (``tests/real_packages.py``)."""
    rel = path.relative_to(ROOT).as_posix()
    return rel.startswith("tests/") and path.suffix == ".py" and bool(SHARED_PATH.search(text) or READER.search(text))


def offences(path: pathlib.Path, text: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for pattern, what in ABSENT:
            if pattern.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {what}: {line.strip()[:100]}")
        if SHARED.search(line) and not reads_shared_material(path, text):
            found.append(f"{path.relative_to(ROOT)}:{number}: ../shared outside the tests that read it")
    return found


def test_the_patterns_catch_what_they_must_and_spare_code_names():
    sample = ROOT / "docs" / "x.md"
    bad = ["see SPEC R-30", "(REFERENCE section 6)", "the round trips of DESIGN.md", "from the project's specification",
           "as TESTING says", "(SPEC)", "REFERENCE 6", "see the DESIGN",
           "in the order the seeds give", "copied from /work/shared/x", "see ../shared/real-packages"]
    for line in bad:
        assert offences(sample, line), line
    good = ["ARGUMENT_SPEC = {", "SPEC = {'installer': {}}", "_inputs.check_raw(raw, SPEC)", "REFERENCE_TIME = 3",
            "validate_argument_spec", "the role's argument specification",
            "R-30 (docs/requirements.md)", "for seed in seeds:", "MDE_TESTING_MODE"]
    for line in good:
        assert not offences(sample, line), line
    reader = ROOT / "tests" / "real_packages.py"
    assert not offences(reader, 'SHARED = ROOT.parent / "shared" / "real-packages"  # ../shared beside the checkout')
    assert offences(reader, '"""Reads ../shared/real-packages."""\nFOLDER = "real-packages"')
    assert offences(ROOT / "docs" / "x.md", 'FOLDER = ROOT.parent / "shared"  # ../shared')


def test_no_text_points_at_a_document_outside_the_repository():
    found = []
    for path in tree():
        found += offences(path, path.read_text(encoding="utf-8", errors="replace"))
    assert not found, "points at documents the repository does not hold:\n" + "\n".join(found)


def test_every_docs_page_named_exists():
    missing = []
    for path in tree():
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in DOCS_PAGE.finditer(text):
            if not (ROOT / "docs" / m.group(1)).is_file():
                missing.append(f"{path.relative_to(ROOT)}: docs/{m.group(1)}")
    assert not missing, "names a docs page that does not exist:\n" + "\n".join(missing)


def test_relative_links_of_the_markdown_pages_resolve():
    broken = []
    pages = [p for p in tree() if p.suffix == ".md"]
    assert ROOT / "docs" / "index.md" in pages
    for page in pages:
        for m in MD_LINK.finditer(page.read_text(encoding="utf-8", errors="replace")):
            target = m.group(1)
            if re.match(r"^[a-z]+:", target):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_docs_page_is_reachable_from_the_index():
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    linked = {m.group(1) for m in MD_LINK.finditer(index)}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert not pages - linked, f"docs pages the index does not link: {sorted(pages - linked)}"
