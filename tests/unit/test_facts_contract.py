# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The facts of the lab, of the Linux executor's real probe and of the .ps1 probe match the written contract."""

from __future__ import annotations

import pathlib
import sys

import pytest
import tree_sitter
import tree_sitter_pwsh

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
import facts_contract  # noqa: E402
from labmodel import linux as lab_linux  # noqa: E402
from labmodel import profiles  # noqa: E402
from labmodel import windows as lab_windows  # noqa: E402

from ansible_collections.defender.endpoint.plugins.modules import mde_host_linux  # noqa: E402

ORG = "a1b2c3d4-0000-4000-8000-000000000001"
PS1 = facts_contract.ROOT / "plugins" / "modules" / "mde_host.ps1"

# States that reach every branch of the lab's probes (absent, installed, onboarded, faults).
LINUX_STATES = {
    "fresh": ({}, []),
    "onboarded": ({"mdatp": {"installed": True, "version": "101.24082.0004", "onboarded_org": ORG},
                   "managed_config": {"antivirusEngine": {"enforcementLevel": "passive"}}, "repository": "prod"},
                  ["conflicting_fanotify"]),
    "installed_not_ready": ({"mdatp": {"installed": True, "version": "101.24082.0004"}}, ["mdatp_not_ready"]),
    "offboarded": ({"mdatp": {"installed": True, "version": "101.24082.0004", "onboarded_org": ORG,
                              "definitions_ready": False}, "offboarding_json": True}, []),
}
WINDOWS_STATES = {
    "fresh": ({}, []),
    "onboarded": ({"md4ws": {"installed": True, "version": "10.8760.17763.6414"}, "onboarded_org": ORG,
                   "passive_mode": 1, "telemetry_proxy": "proxy.example:8080",
                   "network_protection": {"EnableNetworkProtection": 1}, "ca_thumbprints": ["AB12"]},
                  ["tamper_protected"]),
    "mma_scep": ({"mma": {"installed": True, "version": "10.20.18067.0", "workspaces": [{"id": "ws-1"}]},
                  "scep": {"installed": True, "spynet_reporting": 2}, "onboarded_org": ORG,
                  "offboarding_value": True, "third_party_av": ["SomeAV"]}, []),
}


def _cases(platform_profiles, states):
    return [pytest.param(p, s, id=f"{p}-{s}") for p in sorted(platform_profiles) for s in states]


@pytest.mark.parametrize("profile,state", _cases(profiles.LINUX, LINUX_STATES))
def test_lab_linux_facts_match_the_contract(profile, state):
    overrides, faults = LINUX_STATES[state]
    facts = lab_linux.probe(profiles.initial_state(profile, overrides), faults)
    assert facts_contract.check("linux", facts) == []


@pytest.mark.parametrize("profile,state", _cases(profiles.WINDOWS, WINDOWS_STATES))
def test_lab_windows_facts_match_the_contract(profile, state):
    overrides, faults = WINDOWS_STATES[state]
    facts = lab_windows.probe(profiles.initial_state(profile, overrides), ["SomeAV", "OtherAV"], faults)
    assert facts_contract.check("windows", facts) == []


# ---- the keys the .ps1 probe builds, read from the script's syntax tree ----

def _text(node) -> str:
    return node.text.decode()


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _unwrap(node):
    """The expression inside pipeline / pipeline_chain / unary_expression / assignment_value wrappers."""
    while node.type in ("pipeline", "pipeline_chain", "unary_expression", "assignment_value") and node.named_children:
        if len(node.named_children) != 1:
            return node
        node = node.named_children[0]
    return node


class Ps1Probe:
    """Resolve the hashtable the probe (Get-HostFacts) returns into a tree of keys."""

    def __init__(self, source: bytes):
        parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_pwsh.language()))
        self.functions = {}
        for node in _walk(parser.parse(source).root_node):
            if node.type == "function_statement":
                name = next(c for c in node.named_children if c.type == "function_name")
                self.functions[_text(name).lower()] = node

    def function(self, name: str):
        """The keys the function's hashtables and ``$x.key =`` assignments build, or None when it builds none."""
        body = self.functions[name.lower()]
        tree, found = {}, False
        stack = list(body.named_children)
        while stack:
            node = stack.pop()
            if node.type == "hash_literal_expression":
                found = True
                self._merge(tree, self.hashtable(node, body))
                continue
            if node.type == "assignment_expression":
                target = _unwrap(node.named_children[0].named_children[0])
                if target.type == "member_access":
                    found = True
                    key = _text(target.named_children[-1])
                    self._merge(tree, {key: self.value(node.named_children[-1], body)})
                    continue
            stack.extend(node.named_children)
        return tree if found else None

    def hashtable(self, node, scope) -> dict:
        tree = {}
        for entry in _walk(node):
            if entry.type == "hash_entry" and entry.parent.parent == node:
                key = _text(next(c for c in entry.named_children if c.type == "key_expression"))
                tree[key] = self.value(entry.named_children[-1], scope)
        return tree

    def value(self, node, scope):
        node = _unwrap(node)
        if node.type == "hash_literal_expression":
            return self.hashtable(node, scope)
        if node.type == "command":
            name = _text(next(c for c in node.named_children if c.type == "command_name"))
            return self.function(name) if name.lower() in self.functions else None
        if node.type == "variable":
            return self.indexed(_text(node), scope)
        return None

    def indexed(self, variable: str, scope):
        """``foreach ($n in @('A', 'B')) { $variable[$n] = <value> }``: keys A and B, each of that value."""
        for loop in _walk(scope):
            if loop.type != "foreach_statement":
                continue
            names = [_text(s).strip("'\"") for s in _walk(loop.named_children[1]) if s.type == "string_literal"]
            for node in _walk(loop):
                if node.type == "element_access" and _text(node.named_children[0]) == variable:
                    assignment = node.parent.parent.parent
                    element = self.value(assignment.named_children[-1], scope)
                    return {name: element for name in names}
        return None

    @staticmethod
    def _merge(tree: dict, more: dict) -> None:
        for key, value in more.items():
            if isinstance(tree.get(key), dict) and isinstance(value, dict):
                Ps1Probe._merge(tree[key], value)
            elif value is not None or key not in tree:
                tree[key] = value


def tree_problems(contract: dict, built: dict, path: str = "") -> list[str]:
    problems = []
    for key in sorted(set(contract) | set(built)):
        where = path + key
        if key not in built:
            problems.append(f"{where}: in the contract, not built by the .ps1 probe")
        elif key not in contract:
            problems.append(f"{where}: built by the .ps1 probe, not in the contract")
        elif isinstance(contract[key], dict) and isinstance(built[key], dict):
            problems += tree_problems(contract[key], built[key], where + ".")
        elif isinstance(contract[key], dict) or isinstance(built[key], dict):
            problems.append(f"{where}: nested keys documented on one side only")
    return problems


def test_ps1_probe_builds_the_contract_keys():
    built = Ps1Probe(PS1.read_bytes()).function("Get-HostFacts")
    assert "os" in built and "defender" in built, built  # the parse found the probe
    assert tree_problems(facts_contract.keys_tree("windows"), built) == []


# ---- the Linux executor's real probe, on this controller ----

class FakeModule:
    """What probe() needs of AnsibleModule; mdatp and the package managers are whatever this machine has."""

    def __init__(self, without=("mdatp",)):
        self.without = without
        self.params = {"secrets": {}}

    def get_bin_path(self, name, required=False, opt_dirs=None):
        import shutil
        return None if name in self.without else shutil.which(name)

    def run_command(self, args, **kwargs):  # pragma: no cover - only with mdatp installed
        raise AssertionError(f"unexpected command {args}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux executor's probe reads /proc and /etc")
def test_linux_executor_probe_matches_the_contract():
    facts = mde_host_linux.probe(FakeModule())
    assert facts["platform"] == "linux" and facts["mdatp"]["installed"] is False
    assert facts_contract.check("linux", facts) == []


def test_check_reports_each_kind_of_difference():
    facts = lab_linux.probe(profiles.initial_state("debian_12", {}), [])
    facts["extra"] = 1
    del facts["os"]["kernel"]
    facts["free_disk_mb"] = "20000"
    facts["repository"] = None
    assert facts_contract.check("linux", facts) == [
        "os.kernel: missing (the contract says it is always returned)",
        "repository: null, but the contract does not allow null",
        "free_disk_mb: str '20000', the contract says int",
        "extra: not in the contract",
    ]


# ---- mde_info's host_facts, through ansible-playbook and the lab inventory (every lab host) ----

def test_mde_info_host_facts_of_every_lab_host_match_the_contract(tmp_path):
    import json
    from conftest import LAB, ROOT, Lab
    out = tmp_path / "out"
    out.mkdir()
    Lab(tmp_path / "state").playbook(ROOT / "tests" / "integration" / "playbooks" / "info.yml",
                                     inventory=LAB / "inventory.yml", MDE_TEST_OUT=str(out))
    results = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert len(results) >= 10, sorted(results)
    problems = {host: facts_contract.check(r["host_facts"]["platform"], r["host_facts"])
                for host, r in results.items()}
    assert {host: p for host, p in problems.items() if p} == {}
    assert {r["host_facts"]["platform"] for r in results.values()} == {"linux", "windows"}
