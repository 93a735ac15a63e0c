# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Windows executor's Azure Arc part, read from the .ps1's syntax tree (no pwsh runs on these machines).

What is checked is what a reviewer would check by eye: the four Arc steps are labels of the step switch; the
access token (or anything computed from the no_log secrets) is never put into a string - so never into a
command line or a record - and reaches azcmagent only through a private config file deleted in a finally block;
``azcmagent show -j`` and every azcmagent run are bounded; the codes a record carries are the documented ones.
"""

from __future__ import annotations

import pathlib
import re

import pytest
import tree_sitter
import tree_sitter_pwsh

from ansible_collections.defender.endpoint.plugins.modules import mde_host_linux

PS1 = pathlib.Path(__file__).resolve().parents[2] / "plugins" / "modules" / "mde_host.ps1"
ARC_STEPS = {"install_arc_agent", "arc_set_proxy", "arc_connect", "arc_disconnect"}
PROCESS_RUNNERS = {"invoke-process", "invoke-processoutput", "invoke-msiexec", "invoke-azcmagent", "start-process"}


def text(node) -> str:
    return node.text.decode()


def walk(node):
    yield node
    for child in node.children:
        yield from walk(child)


def unquote(node) -> str:
    return text(node).strip("'\"")


class Script:
    """The parsed .ps1: its functions, commands and variables, case-insensitive as PowerShell is."""

    def __init__(self, source: str):
        parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_pwsh.language()))
        self.source = source
        self.root = parser.parse(source.encode()).root_node
        self.functions = {}
        for node in walk(self.root):
            if node.type == "function_statement":
                name = next(c for c in node.named_children if c.type == "function_name")
                self.functions[text(name).lower()] = node

    def function(self, name):
        return self.functions[name.lower()]

    @staticmethod
    def owner(node):
        """The name of the function a node is in, None at script level."""
        while node is not None:
            if node.type == "function_statement":
                return text(next(c for c in node.named_children if c.type == "function_name")).lower()
            node = node.parent
        return None

    @staticmethod
    def commands(node):
        """(name, {parameter: value node}) of every command under node."""
        for cmd in walk(node):
            if cmd.type != "command":
                continue
            name = text(next((c for c in cmd.named_children if c.type == "command_name"), cmd)).lower()
            params, current = {}, None
            elements = next((c for c in cmd.named_children if c.type == "command_elements"), None)
            for element in elements.named_children if elements else []:
                if element.type == "command_argument_sep":
                    continue
                if element.type == "command_parameter":
                    current = text(element).lower()
                    params[current] = None
                elif current is not None and params[current] is None:
                    params[current] = element
            yield cmd, name, params

    @staticmethod
    def assignments(node):
        """(assignment node, left node, right node) under node."""
        for item in walk(node):
            if item.type == "assignment_expression":
                yield item, item.named_children[0], item.named_children[-1]

    def switch_clauses(self):
        body = self.function("Invoke-OneStep")
        switch = next(n for n in walk(body) if n.type == "switch_statement")
        clauses = next(n for n in walk(switch) if n.type == "switch_clauses")
        found = {}
        for clause in clauses.named_children:
            condition = next(c for c in clause.named_children if c.type == "switch_clause_condition")
            found[unquote(condition)] = clause
        return found


def variables(node):
    return [n for n in walk(node) if n.type == "variable"]


def _sanitized(variable) -> bool:
    """The variable is the first argument of a ``.Replace(...)`` call: the text is being masked with it."""
    node = variable
    while node is not None and node.type != "argument_expression":
        node = node.parent
    if node is None or node.parent is None or node.parent.named_children[0] != node:
        return False
    invocation = node.parent.parent.parent
    member = next((c for c in invocation.named_children if c.type == "member_name"), None)
    return member is not None and text(member).lower() == "replace"


def _base_variable(left):
    """The variable an assignment's left side writes: $x, $x[...] or $x.y."""
    for node in walk(left):
        if node.type == "variable":
            return text(node).lower()
    return None


def secret_carriers(script: Script) -> set[tuple[str | None, str]]:
    """(function, variable) pairs that may hold a secret: assigned from $module.Params.secrets, from another
    carrier, or a parameter a carrier is passed to; until nothing new is found."""
    tainted: set[tuple[str | None, str]] = set()

    def carries(node, owner):
        if "params.secrets" in text(node).lower():
            return True
        return any((owner, text(v).lower()) in tainted and not _sanitized(v) for v in variables(node))

    while True:
        before = len(tainted)
        for _node, left, right in script.assignments(script.root):
            owner = script.owner(left)
            if carries(right, owner) and _base_variable(left):
                tainted.add((owner, _base_variable(left)))
        for cmd, name, params in script.commands(script.root):
            if name in script.functions:
                for parameter, value in params.items():
                    if value is not None and carries(value, script.owner(cmd)):
                        tainted.add((name, "$" + parameter.lstrip("-")))
        if len(tainted) == before:
            return tainted


@pytest.fixture(scope="module")
def script():
    return Script(PS1.read_text(encoding="utf-8"))


# ---- the switch ----

def test_the_step_switch_has_the_four_arc_labels(script):
    assert ARC_STEPS <= set(script.switch_clauses())


def test_connect_and_disconnect_pass_the_token_by_name_only(script):
    clauses = script.switch_clauses()
    for label in ("arc_connect", "arc_disconnect"):
        body = clauses[label]
        assert "secrets" not in text(body).lower(), f"{label} reads the secrets itself"
        calls = [(name, params) for _cmd, name, params in script.commands(body)
                 if name == "invoke-azcmagentwithconfig"]
        assert len(calls) == 1, label
        name, params = calls[0]
        assert text(params["-tokenkey"]) == "$Step.token"
        assert unquote(params["-verb"]) == label.split("_", 1)[1]
    force = [params for _cmd, name, params in script.commands(clauses["arc_disconnect"])
             if name == "invoke-azcmagent"]
    assert [unquote(p["-arguments"]) for p in force] == ["disconnect --force-local-only"]
    assert "-secret" not in force[0]


def test_install_arc_agent_checks_the_file_then_runs_msiexec_quietly(script):
    body = script.switch_clauses()["install_arc_agent"]
    names = [name for _cmd, name, _params in script.commands(body)]
    assert names == ["test-installer", "invoke-msiexec"]
    msiexec = next(params for _cmd, name, params in script.commands(body) if name == "invoke-msiexec")
    assert re.fullmatch(r'"/i `"\$\(\$Step\.path\)`" /qn /norestart"', text(msiexec["-arguments"]))


# ---- the secret never in a string, a command line or a record ----

def test_the_taint_reader_follows_the_token_through_parameters(script):
    carriers = secret_carriers(script)
    assert ("invoke-azcmagentwithconfig", "$token") in carriers
    assert ("invoke-azcmagentwithconfig", "$config") in carriers      # the dictionary the token is put in
    assert ("invoke-azcmagent", "$secret") in carriers and ("set-arcoutcome", "$secret") in carriers
    assert ("set-arcoutcome", "$text") not in carriers                 # masked with .Replace($Secret, ...)


def test_no_string_and_no_command_line_holds_a_secret(script):
    carriers = secret_carriers(script)
    for node in walk(script.root):
        if node.type == "expandable_string_literal":
            owner = script.owner(node)
            held = [text(v) for v in variables(node) if (owner, text(v).lower()) in carriers]
            assert not held and "params.secrets" not in text(node).lower(), (
                f"a string in {owner} interpolates a secret: {text(node)}")
    for cmd, name, params in script.commands(script.root):
        if name not in PROCESS_RUNNERS:
            continue
        owner = script.owner(cmd)
        for parameter, value in params.items():
            if parameter == "-secret" or value is None:
                continue
            held = [text(v) for v in variables(value) if (owner, text(v).lower()) in carriers]
            assert not held, f"{name} {parameter} gets a secret in {owner}: {text(cmd)}"


def test_no_record_field_is_given_a_secret(script):
    carriers = secret_carriers(script)
    for _node, left, right in script.assignments(script.root):
        if _base_variable(left) != "$record":
            continue
        owner = script.owner(left)
        held = [text(v) for v in variables(right) if (owner, text(v).lower()) in carriers and not _sanitized(v)]
        assert not held and "params.secrets" not in text(right).lower(), f"{owner}: {text(left)} = {text(right)}"


def test_the_token_is_written_only_to_a_fresh_private_file_deleted_in_finally(script):
    token_keys = [n for n in walk(script.root) if n.type == "string_literal" and unquote(n) == "access-token"]
    assert len(token_keys) == 1, "the access-token key is set in one place only"
    assignment = token_keys[0]
    while assignment.type != "assignment_expression":
        assignment = assignment.parent
    assert text(assignment).lower() == "$config['access-token'] = $token"
    block = assignment
    while block.type != "statement_block" or block.parent.type != "try_statement":
        block = block.parent
    attempt = block.parent
    final = next(c for c in attempt.named_children if c.type == "finally_clause")
    removes = [params for _cmd, name, params in script.commands(final) if name == "remove-item"]
    assert [text(p["-literalpath"]) for p in removes] == ["$path"] and "-force" in removes[0]
    statements = list(next(c for c in block.named_children if c.type == "statement_list").named_children)
    order = [text(s) for s in statements]
    private = next(i for i, s in enumerate(order) if s.startswith("New-PrivateFile -Path $path"))
    token = next(i for i, s in enumerate(order) if s.lower().startswith("$config['access-token']"))
    write = next(i for i, s in enumerate(order) if s.startswith("[System.IO.File]::WriteAllText($path, ($Config"))
    run = next(i for i, s in enumerate(order) if "--config `\"$path`\"" in s)
    assert private < token < write < run
    owner = script.function(script.owner(attempt))
    fresh = [text(r) for _n, left, r in script.assignments(owner) if _base_variable(left) == "$path"]
    assert len(fresh) == 1 and "GetTempPath()" in fresh[0] and "NewGuid()" in fresh[0]


def test_the_config_file_is_readable_by_administrators_and_system_only(script):
    body = script.function("New-PrivateFile")
    source = text(body)
    assert "$acl.SetAccessRuleProtection($true, $false)" in source      # no inherited access
    sids = {unquote(n) for n in walk(body) if n.type == "string_literal" and unquote(n).startswith("S-1-")}
    assert sids == {"S-1-5-32-544", "S-1-5-18"}
    calls = {name: params for _cmd, name, params in script.commands(body)}
    assert "-force" not in calls["new-item"]                            # a file already there is an error
    assert text(calls["set-acl"]["-literalpath"]) == "$Path"


def test_step_details_are_masked_with_every_secret(script):
    body = text(script.function("Invoke-Step"))
    assert "$record.detail = Hide-Secret -Text (Hide-Credential -Text ([string]$record.detail))" in body
    hide = text(script.function("Hide-Secret"))
    assert "$module.Params.secrets.Values" in hide and "$Text.Replace($value, $Mask)" in hide


# ---- bounded runs ----

def _script_value(script, name):
    for _node, left, right in script.assignments(script.root):
        if script.owner(left) is None and _base_variable(left) == name.lower():
            return text(right)
    raise AssertionError(f"{name} is not set at script level")


def test_show_is_bounded_to_a_short_wait(script):
    shows = [cmd for cmd, name, params in script.commands(script.root)
             if any(v is not None and unquote(v) == "show -j" for v in params.values())]
    assert shows, "azcmagent show -j is not run"
    for cmd in shows:
        name, params = next((n, p) for c, n, p in script.commands(cmd) if c == cmd)
        assert name == "invoke-processoutput" and text(params["-timeout"]) == "$ArcShowTimeout"
    assert 0 < int(_script_value(script, "$ArcShowTimeout")) <= 60


def test_every_captured_run_has_a_timeout_and_kills_what_overruns(script):
    runs = [params for _cmd, name, params in script.commands(script.root) if name == "invoke-processoutput"]
    assert len(runs) >= 2 and all(params.get("-timeout") is not None for params in runs)
    body = script.function("Invoke-ProcessOutput")
    guard = next(n for n in walk(body) if n.type == "if_statement" and "WaitForExit($Timeout * 1000)" in text(n))
    assert "$proc.Kill()" in text(guard) and "return $null" in text(guard)
    assert "WaitForExit()" not in text(body)
    assert "ReadToEndAsync()" in text(body)             # both pipes drained while waiting: no deadlock
    agent = script.function("Invoke-Azcmagent")
    assert [text(p["-timeout"]) for _c, n, p in script.commands(agent) if n == "invoke-processoutput"] == ["$Timeout"]
    assert "$Record.timed_out = $true" in text(agent)


# ---- what a record carries ----

def test_the_record_codes_are_the_documented_ones(script):
    arm = [unquote(n) for n in walk(script.root) if n.type == "string_literal"
           and script.owner(n) is None and unquote(n) in mde_host_linux.ARM_CODES]
    assert sorted(arm) == sorted(mde_host_linux.ARM_CODES)
    outcome = text(script.function("Set-ArcOutcome"))
    assert "-match 'AZCM\\d{4}'" in outcome and "-Length 300" in outcome
    assert outcome.index("$text.Replace($Secret, $Mask)") < outcome.index("-match 'AZCM")
    assert outcome.index("Hide-Credential -Text $text") < outcome.index("-match 'AZCM")


def test_the_connect_config_keys_match_the_linux_executor(script):
    body = script.function("Get-ArcConnectConfig")
    keys = {unquote(n) for n in walk(body) if n.type == "key_expression"}
    keys |= {unquote(n) for _node, left, _r in script.assignments(body) for n in walk(left)
             if n.type == "string_literal"}
    full = {"subscription_id": "s", "resource_group": "g", "location": "l", "tenant_id": "t", "cloud": "AzureCloud",
            "resource_name": "n", "tags": {"a": "b"}, "correlation_id": "c", "private_link_scope": "p"}
    assert keys == set(mde_host_linux.arc_connect_config(full))
    assert '"$_=$($Step.tags[$_])"' in text(body) and "-join ','" in text(body) and "Sort-Object" in text(body)


def test_the_readers_catch_a_token_on_the_command_line():
    """The checks above fail on the regression they exist for: the token interpolated into azcmagent's arguments."""
    source = PS1.read_text(encoding="utf-8")
    broken = source.replace('-Arguments "$Verb --config `"$path`""', '-Arguments "$Verb --access-token $token"')
    assert broken != source
    with pytest.raises(AssertionError, match="interpolates a secret"):
        test_no_string_and_no_command_line_holds_a_secret(Script(broken))
    leaked = source.replace("$Record.detail = ConvertTo-Fact -Value $last.Trim() -Length 300",
                            "$Record.detail = $Secret")
    assert leaked != source
    with pytest.raises(AssertionError):
        test_no_record_field_is_given_a_secret(Script(leaked))
