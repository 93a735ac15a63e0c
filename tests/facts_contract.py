# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The written facts contract: the RETURN ``facts`` -> ``contains`` of the two host executors' docs.

``check(platform, facts)`` lists how ``facts`` differ from it.  The docs' conventions it reads:

- a key is required when its ``returned`` is ``always`` or absent, optional otherwise ("when ...");
- a value may be None only when its description says C(null);
- a dict whose description says "pass through unchecked" may hold keys beyond those documented;
- types: str, int, bool, float, dict, list (``elements`` checked per item), raw (anything); a dict's or a
  list of dicts' ``contains`` is checked to the depth it is documented.
"""

from __future__ import annotations

import ast
import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCES = {
    "windows": ROOT / "plugins" / "modules" / "mde_host.py",
    "linux": ROOT / "plugins" / "modules" / "mde_host_linux.py",
}
TYPES = {"str": (str,), "int": (int,), "bool": (bool,), "float": (int, float), "dict": (dict,), "list": (list,)}


def _return_doc(path: pathlib.Path) -> dict:
    """The module's RETURN, read without importing the module."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "RETURN" for t in node.targets):
            return yaml.safe_load(node.value.value)
    raise LookupError(f"{path}: no RETURN")


def contract(platform: str) -> dict:
    """The documented ``contains`` of ``facts`` for a platform: key -> its doc entry."""
    if platform not in SOURCES:
        raise ValueError(f"unknown platform {platform!r}; known: {', '.join(sorted(SOURCES))}")
    return _return_doc(SOURCES[platform])["facts"]["contains"]


def keys_tree(platform: str) -> dict:
    """The contract's keys only: key -> the tree of its documented nested keys, or None for a leaf."""
    def tree(contains):
        return {key: tree(spec["contains"]) if spec.get("contains") else None for key, spec in contains.items()}
    return tree(contract(platform))


def _text(spec: dict) -> str:
    description = spec.get("description") or ""
    return " ".join(description) if isinstance(description, list) else str(description)


def _required(spec: dict) -> bool:
    return str(spec.get("returned", "always")).strip() == "always"


def _type_ok(kind: str, value) -> bool:
    if kind == "raw":
        return True
    if isinstance(value, bool) and kind in ("int", "float"):
        return False
    return isinstance(value, TYPES[kind])


def _value(spec: dict, value, path: str, problems: list[str]) -> None:
    if value is None:
        if "C(null)" not in _text(spec):
            problems.append(f"{path}: null, but the contract does not allow null")
        return
    kind = spec.get("type", "raw")
    if not _type_ok(kind, value):
        problems.append(f"{path}: {type(value).__name__} {value!r:.60}, the contract says {kind}")
        return
    if kind == "dict" and spec.get("contains"):
        _mapping(spec["contains"], value, path, "pass through unchecked" in _text(spec), problems)
    elif kind == "list" and spec.get("elements"):
        item_spec = {"type": spec["elements"], "contains": spec.get("contains")}
        for index, item in enumerate(value):
            _value(item_spec, item, f"{path}[{index}]", problems)


def _mapping(contains: dict, value: dict, path: str, open_keys: bool, problems: list[str]) -> None:
    prefix = path + "." if path else ""
    for key, spec in contains.items():
        if key in value:
            _value(spec, value[key], prefix + key, problems)
        elif _required(spec):
            problems.append(f"{prefix}{key}: missing (the contract says it is always returned)")
    if not open_keys:
        for key in value:
            if key not in contains:
                problems.append(f"{prefix}{key}: not in the contract")


def check(platform: str, facts: dict) -> list[str]:
    """The problems of ``facts`` against the platform's contract: [] when they match key for key."""
    problems: list[str] = []
    if not isinstance(facts, dict):
        return [f"facts: {type(facts).__name__}, the contract says dict"]
    _mapping(contract(platform), facts, "", False, problems)
    return problems
