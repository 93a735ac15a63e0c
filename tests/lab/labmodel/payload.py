"""Decode what ansible-core sends to a host: which module, with which arguments, and its declared options.

Two shapes, both checked against ansible-core's own builders by tests/unit/test_lab_payload_guard.py:

* PowerShell (pipelining): ``<bootstrap json>\\n\\0\\0\\0\\0\\n<exec manifest json>``; the manifest's
  ``module_wrapper.ps1`` action names the script and carries ``complex_args``; the script's text
  is in ``scripts[name].script`` (base64).
* Python (pipelining): an AnsiballZ wrapper that ends with a call ``_ansiballz_main(...)`` whose
  keyword arguments hold the module's fully qualified name, the JSON parameters and the zipped module.
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import io
import json
import re
import zipfile


class PayloadError(Exception):
    pass


@dataclasses.dataclass
class ModuleCall:
    fqcn: str            # e.g. defender.endpoint.mde_host
    args: dict           # module arguments, _ansible_* included
    source: str          # the module's own code as sent
    language: str        # powershell | python

    @property
    def params(self) -> dict:
        return {k: v for k, v in self.args.items() if not k.startswith("_ansible_")}

    @property
    def check_mode(self) -> bool:
        return bool(self.args.get("_ansible_check_mode"))


def _fqcn(name: str) -> str:
    # ansible_collections.<ns>.<coll>.plugins.modules.<name>[.ps1]
    name = re.sub(r"\.ps1$", "", name)
    match = re.match(r"ansible_collections\.([^.]+)\.([^.]+)\.plugins\.modules\.(.+)$", name)
    return f"{match.group(1)}.{match.group(2)}.{match.group(3)}" if match else name


def decode_powershell(data: bytes) -> ModuleCall:
    try:
        _bootstrap, manifest_text = data.decode("utf-8").split("\n\0\0\0\0\n", 1)
        manifest = json.loads(manifest_text)
        action = next(a for a in manifest["actions"] if a["name"] == "module_wrapper.ps1")
        script_name = action["params"]["Script"]
        variables = {v["Name"]: v["Value"] for v in action["params"].get("Variables", [])}
        source = base64.b64decode(manifest["scripts"][script_name]["script"]).decode("utf-8-sig")
    except (ValueError, KeyError, StopIteration, UnicodeDecodeError) as exc:
        raise PayloadError(f"not a PowerShell module manifest this lab understands: {exc!r}") from exc
    return ModuleCall(_fqcn(script_name), variables.get("complex_args") or {}, source, "powershell")


def decode_python(data: bytes) -> ModuleCall:
    try:
        tree = ast.parse(data.decode("utf-8"))
        call = next(node for node in ast.walk(tree)
                    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_ansiballz_main")
        kwargs = {kw.arg: kw.value for kw in call.keywords}
        fqn = ast.literal_eval(kwargs["module_fqn"])
        params = json.loads(ast.literal_eval(kwargs["params"]))["ANSIBLE_MODULE_ARGS"]
        with zipfile.ZipFile(io.BytesIO(base64.b64decode(ast.literal_eval(kwargs["zip_data"])))) as archive:
            source = archive.read(fqn.replace(".", "/") + ".py").decode("utf-8")
    except (ValueError, KeyError, StopIteration, SyntaxError, zipfile.BadZipFile) as exc:
        raise PayloadError(f"not an AnsiballZ payload this lab understands: {exc!r}") from exc
    return ModuleCall(_fqcn(fqn), params, source, "python")


def _matching_block(text: str, start: int) -> str:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:index]
    raise PayloadError("unbalanced braces in the module's $spec")


def declared_options(call: ModuleCall) -> dict[str, list | None]:
    """The options the module's own argument spec declares: {name: choices or None}."""
    if call.language == "powershell":
        match = re.search(r"options\s*=\s*@\{", call.source)
        if not match:
            raise PayloadError("the PowerShell module declares no $spec options")
        block = _matching_block(call.source, match.end() - 1)
        options = {}
        for line in block.splitlines():
            opt = re.match(r"\s*(\w+)\s*=\s*@\{(.*)\}\s*$", line)
            if opt:
                choices = re.search(r"choices\s*=\s*@\(([^)]*)\)", opt.group(2))
                options[opt.group(1)] = re.findall(r"'([^']*)'", choices.group(1)) if choices else None
        return options
    tree = ast.parse(call.source)
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "argument_spec" and isinstance(node.value, ast.Call):
            options = {}
            for kw in node.value.keywords:
                choices = None
                if isinstance(kw.value, ast.Call):
                    for inner in kw.value.keywords:
                        if inner.arg == "choices":
                            choices = ast.literal_eval(inner.value)
                options[kw.arg] = choices
            return options
    raise PayloadError("the Python module declares no argument_spec")


def validate(call: ModuleCall) -> None:
    """Reject what the module itself would reject on a real host: undeclared options, values outside choices."""
    options = declared_options(call)
    for name, value in call.params.items():
        if name not in options:
            raise PayloadError(f"Unsupported parameters for ({call.fqcn}) module: {name}. "
                               f"Supported parameters include: {', '.join(sorted(options))}")
        if options[name] is not None and value not in options[name]:
            raise PayloadError(f"value of {name} must be one of: {', '.join(options[name])}, got: {value}")
