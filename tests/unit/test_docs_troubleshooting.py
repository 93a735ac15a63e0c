"""docs/troubleshooting.md has a row for every refusal and failure message the collection can print, and no
row for a message that no longer exists.

The messages are read from the Python code under plugins/ with ``ast``: the first argument of ``raise X(...)``
for the collection's refusal and failure exceptions, ``fail_json(msg=...)``, every ``msg=`` and
``unsupported_reason=`` keyword, verification problems (``problems.append(...)``), the sentences the step
failure functions return, the meaning of each installer or script exit code, and the ``fail_msg`` / ``msg``
of the roles' and playbooks' assert and fail tasks. A message is a template: formatted values (and Jinja
expressions) become ``…``. A row matches a message when its message cell holds the message's key: its
longest constant fragment (at least 12 characters), or the whole template when no fragment is that long.

``python tests/unit/test_docs_troubleshooting.py`` prints a row to fill in for every message without one.
"""

from __future__ import annotations

import ast
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "troubleshooting.md"
PLACEHOLDER = "…"
# Exceptions whose message reaches the user; programming errors (TypeError, KeyError, ...) are not listed.
MESSAGE_EXCEPTIONS = re.compile(r"^(Refused|AnsibleActionFail|AnsibleError|AnsibleFilterError|\w*Error)$")
PROGRAMMING_ERRORS = {"TypeError", "KeyError", "IndexError", "AttributeError", "NotImplementedError",
                      "AssertionError", "RuntimeError", "StopIteration", "OSError"}
MESSAGE_KEYWORDS = {"msg", "unsupported_reason", "error"}
MESSAGE_FUNCTIONS = re.compile(r"failure|_message$")
CODE_TABLES = re.compile(r"^_\w*CODES$")
MIN_KEY = 12


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("`", "")).strip()


class _Templates:
    """Turns a string expression into its template, or None when it is not built from string literals."""

    def __init__(self, constants: dict[str, ast.expr]):
        self.constants = constants

    def __call__(self, node: ast.expr) -> list[str | None] | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.JoinedStr):
            parts: list[str | None] = []
            for value in node.values:
                parts += [value.value] if isinstance(value, ast.Constant) else [None]
            return parts
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self(node.left), self(node.right)
            if left is None and right is None:
                return None
            return (left or [None]) + (right or [None])
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            left = self(node.left)
            return None if left is None else [re.sub(r"%[-0-9.]*[sdrf]", "\0", p) if p else p for p in left]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
            base = self(node.func.value)
            return None if base is None else [re.sub(r"\{[^{}]*\}", "\0", p) if p else p for p in base]
        if isinstance(node, ast.Name) and node.id in self.constants:
            return self(self.constants[node.id])
        return None


def _render(parts: list[str | None]) -> str:
    text = "".join(PLACEHOLDER if p is None else p.replace("\0", PLACEHOLDER) for p in parts)
    return _normal(re.sub(f"{PLACEHOLDER}(\\s*{PLACEHOLDER})+", PLACEHOLDER, text))


def _fragments(template: str) -> list[str]:
    return [f.strip() for f in template.split(PLACEHOLDER) if f.strip()]


def key(template: str) -> str:
    longest = max(_fragments(template), key=len, default="")
    return longest if len(longest) >= MIN_KEY else template


def _messages_of(path: pathlib.Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    constants = {t.id: n.value for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                 if isinstance(t, ast.Name)}
    template = _Templates(constants)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    found: list[tuple[list[str | None] | None, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
            func = node.exc.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if MESSAGE_EXCEPTIONS.match(name) and name not in PROGRAMMING_ERRORS:
                found.append((template(node.exc.args[0]), node.lineno))
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg in MESSAGE_KEYWORDS:
                    found.append((template(keyword.value), node.lineno))
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "append" and node.args and \
                    isinstance(func.value, ast.Name) and func.value.id == "problems":
                arg = node.args[0]
                if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and arg.func.id in functions:
                    found += [(template(r.value), r.lineno) for r in ast.walk(functions[arg.func.id])
                              if isinstance(r, ast.Return) and r.value is not None]
                else:
                    found.append((template(arg), node.lineno))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and MESSAGE_FUNCTIONS.search(node.name):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and inner.value is not None:
                    found.append((template(inner.value), inner.lineno))
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict) and any(
                isinstance(t, ast.Name) and CODE_TABLES.match(t.id) for t in node.targets):
            for value in node.value.values:
                found.append((template(value), value.lineno))
    out = []
    for parts, line in found:
        if parts is None:
            continue                        # a message passed on (str(exc), a variable): counted where it is made
        text = _render(parts)
        if len(_normal(text.replace(PLACEHOLDER, ""))) >= 8:
            out.append((text, line))
    return out


def _jinja_template(text: str) -> str:
    text = re.sub(r"\{%.*?%\}", "", re.sub(r"\{\{.*?\}\}", PLACEHOLDER, text, flags=re.S), flags=re.S)
    return _normal(re.sub(f"{PLACEHOLDER}(\\s*{PLACEHOLDER})+", PLACEHOLDER, text))


def _task_messages(node) -> list[str]:
    """fail_msg of assert tasks and msg of fail tasks, anywhere in a roles/ or playbooks/ YAML document."""
    found = []
    if isinstance(node, dict):
        for name in ("ansible.builtin.assert", "assert"):
            if isinstance(node.get(name), dict) and isinstance(node[name].get("fail_msg"), str):
                found.append(node[name]["fail_msg"])
        for name in ("ansible.builtin.fail", "fail"):
            if isinstance(node.get(name), dict) and isinstance(node[name].get("msg"), str):
                found.append(node[name]["msg"])
        for value in node.values():
            found += _task_messages(value)
    elif isinstance(node, list):
        for value in node:
            found += _task_messages(value)
    return found


def messages() -> dict[str, list[str]]:
    """Every message template of plugins/ (Python) and of the roles' and playbooks' tasks, with where it is."""
    out: dict[str, list[str]] = {}
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        for text, line in _messages_of(path):
            out.setdefault(text, []).append(f"{path.relative_to(ROOT)}:{line}")
    for path in sorted([*(ROOT / "roles").rglob("*.yml"), *(ROOT / "playbooks").glob("*.yml")]):
        for text in _task_messages(yaml.safe_load(path.read_text(encoding="utf-8"))):
            out.setdefault(_jinja_template(text), []).append(str(path.relative_to(ROOT)))
    return out


def rows() -> list[str]:
    """The message cell of every row of the tables in docs/troubleshooting.md."""
    cells = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("|") and not re.match(r"^\|\s*(-+|message)\s*\|", line):
            cells.append(_normal(line.split("|")[1]))
    return cells


def unmatched() -> tuple[dict[str, list[str]], list[str]]:
    found, cells = messages(), rows()
    missing = {m: where for m, where in found.items() if not any(key(m) in cell for cell in cells)}
    stale = [cell for cell in cells if not any(key(m) in cell for m in found)]
    return missing, stale


def test_templates_are_read_from_code():
    sample = ROOT / "tests" / "output" / "sample_messages.py"
    sample.parent.mkdir(parents=True, exist_ok=True)
    sample.write_text(
        'X = ("the host is not onboarded ({what}): "\n     "onboard it first.")\n'
        'def f(path, rc, exc):\n'
        '    raise PackageError(f"package {path} is a directory; give the file.")\n'
        '    raise Refused("tamper protection is on: " + "turn it off.")\n'
        '    raise AnsibleActionFail(X.format(what=1))\n'
        '    raise AnsibleActionFail(str(exc))\n'
        '    raise TypeError("internal")\n'
        '    module.fail_json(msg="apply is never sent in check mode")\n'
        '    return dict(failed=True, msg=f"step {rc} failed")\n'
        'def why(mode):\n    return f"Defender runs in {mode} mode"\n'
        'def g(problems):\n    problems.append(why(1))\n'
        '_MSI_CODES = {1603: "a fatal error during installation"}\n', encoding="utf-8")
    try:
        found = [message[0] for message in _messages_of(sample)]
    finally:
        sample.unlink()
    assert sorted(found) == sorted([
        "package … is a directory; give the file.", "tamper protection is on: turn it off.",
        "the host is not onboarded (…): onboard it first.", "apply is never sent in check mode",
        "step … failed", "a fatal error during installation", "Defender runs in … mode"])
    assert key("package … is a directory; give the file.") == "is a directory; give the file."
    assert key("step … failed") == "step … failed"
    task = [{"ansible.builtin.assert": {"that": "x", "fail_msg": "{{ host }} misses {{ what }}; nothing was changed."}}]
    assert [_jinja_template(m) for m in _task_messages(task)] == ["… misses …; nothing was changed."]


def test_the_code_holds_the_messages_the_docs_speak_of():
    found = messages()
    assert len(found) >= 60, f"only {len(found)} messages found in plugins/: the extraction is broken"
    assert any("tamper protection is on" in m for m in found)
    assert any("expired on" in m for m in found)


def test_every_message_has_a_row_and_every_row_a_message():
    missing, stale = unmatched()
    assert not missing, ("messages without a row in docs/troubleshooting.md (python "
                         "tests/unit/test_docs_troubleshooting.py prints them):\n"
                         + "\n".join(f"{m}  [{', '.join(w)}]" for m, w in missing.items()))
    assert not stale, "rows of docs/troubleshooting.md whose message the code no longer prints:\n" + "\n".join(stale)


def test_every_row_says_cause_and_fix():
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("|") and not re.match(r"^\|\s*(-+|message)\s*\|", line):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            assert len(cells) == 3 and all(len(c) > 3 for c in cells), f"row needs message, cause and fix: {line}"


if __name__ == "__main__":
    MISSING, STALE = unmatched()
    for MESSAGE, WHERE in MISSING.items():
        print(f"| `{MESSAGE}` | TODO cause | TODO fix |  <!-- {', '.join(WHERE)} -->")
    for CELL in STALE:
        print(f"stale: {CELL}", file=sys.stderr)
