# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The step registry is the one list of steps: the Windows executor's switch, the Linux executor's STEPS, the
lab's apply models and the documented step lists name exactly the registry's steps, platform by platform."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest
import yaml

from ansible_collections.defender.endpoint.plugins.modules import mde_host_linux
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import steps as _steps

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULES = ROOT / "plugins" / "modules"
LAB = ROOT / "tests" / "lab" / "labmodel"


def ps1_switch_labels() -> set[str]:
    """The labels of the ``switch ($Step.name)`` block of mde_host.ps1, read from the source."""
    text = (MODULES / "mde_host.ps1").read_text(encoding="utf-8")
    start = text.index("switch ($Step.name) {")
    depth, end = 0, start
    for end in range(text.index("{", start), len(text)):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        if depth == 0:
            break
    block = text[start:end]
    indent = re.search(r"\n(\s+)'\w+' \{", block).group(1)
    return set(re.findall(rf"\n{indent}'(\w+)' \{{", block))


def lab_steps(path: pathlib.Path) -> set[str]:
    """The functions the lab's ``STEPS`` table is built from, read with ast (the lab imports no collection code)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "STEPS" for t in node.targets):
            return {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name) and n.id != "f"}
    raise AssertionError(f"{path} has no STEPS table")


def documented_steps(module: str) -> set[str]:
    """The step names the module's documentation lists for its ``steps`` option."""
    tree = ast.parse((MODULES / f"{module}.py").read_text(encoding="utf-8"))
    doc = next(n.value.value for n in tree.body if isinstance(n, ast.Assign)
               and getattr(n.targets[0], "id", "") == "DOCUMENTATION")
    description = " ".join(yaml.safe_load(doc)["options"]["steps"]["description"])
    listed = re.search(r"C\(name\) \(([^)]*(?:\)[^)]*)*?)\) and its arguments", description)
    assert listed, f"{module}'s steps option lists no step names"
    return set(re.findall(r"C\((\w+)\)", listed.group(1)))


def test_every_step_is_declared_once_with_its_platform_and_sentences():
    both = [name for name, step in _steps.STEPS.items() if step.platform == "both"]
    assert both == ["install_arc_agent", "arc_set_proxy", "arc_connect", "arc_disconnect"]
    assert len(_steps.STEPS) == len(_steps.names("windows")) + len(_steps.names("linux")) - len(both)
    for name, step in _steps.STEPS.items():
        assert step.name == name and step.platform in ("windows", "linux", "both")
        assert step.description.endswith(".") and len(step.description) > 12


@pytest.mark.parametrize("source, platform", [
    ("mde_host.ps1 switch", "windows"), ("mde_host_linux STEPS", "linux"),
    ("lab windows_apply", "windows"), ("lab linux_apply", "linux"),
    ("mde_host docs", "windows"), ("mde_host_linux docs", "linux"),
])
def test_each_table_names_the_registry_steps(source, platform):
    found = {
        "mde_host.ps1 switch": ps1_switch_labels,
        "mde_host_linux STEPS": lambda: set(mde_host_linux.STEPS),
        "lab windows_apply": lambda: lab_steps(LAB / "windows_apply.py"),
        "lab linux_apply": lambda: lab_steps(LAB / "linux_apply.py"),
        "mde_host docs": lambda: documented_steps("mde_host"),
        "mde_host_linux docs": lambda: documented_steps("mde_host_linux"),
    }[source]()
    registry = set(_steps.names(platform))
    assert found == registry, (f"{source}: not in the registry {sorted(found - registry)}, "
                               f"missing {sorted(registry - found)}")


def test_the_readers_see_a_new_label(tmp_path):
    """The switch reader finds the labels at the switch's own indentation, not nested ones."""
    assert "set_passive_mode" in ps1_switch_labels() and "run_script" in ps1_switch_labels()
    fake = tmp_path / "apply.py"
    fake.write_text("def a(c, s):\n    return {}\n\n\nSTEPS = {f.__name__: f for f in (a,)}\n", encoding="utf-8")
    assert lab_steps(fake) == {"a"}


@pytest.mark.parametrize("record, expected", [
    ({"name": "install_msi", "rc": 1618, "step": {"name": "install_msi", "file_name": "md4ws.msi"}},
     "another installation is already in progress"),
    ({"name": "run_script", "rc": 35, "step": {"name": "run_script", "kind": "onboarding"}},
     "the OnboardingState value did not appear"),
    ({"name": "run_script", "rc": 10, "step": {"name": "run_script", "kind": "offboarding"}},
     "the offboarding value could not be written"),
    ({"name": "run_script", "rc": None, "timed_out": True, "timeout": 900,
      "step": {"name": "run_script", "kind": "onboarding"}}, "did not finish within 900 s"),
    ({"name": "wait_health", "timed_out": True, "timeout": 5, "detail": "no licence",
      "step": {"name": "wait_health", "timeout": 5, "until": "licensed", "org_id": "o"}}, "gave up after 5 s"),
    ({"name": "set_mma_proxy", "rc": 2, "step": {"name": "set_mma_proxy"}}, "failed: 2."),
])
def test_failure_messages_come_from_the_step_and_its_exit_codes(record, expected):
    assert expected in _steps.failure_message(record)


def test_exit_codes_are_documented_per_variant():
    script = _steps.STEPS["run_script"]
    assert script.codes({"kind": "onboarding"})[40] == "OnboardingState did not become 1"
    assert 40 not in script.codes({"kind": "offboarding"})
    assert _steps.STEPS["install_msi"].codes({})[1603].startswith("a fatal error")
    assert _steps.STEPS["set_mma_proxy"].codes({}) == {}
