"""AWX's job launch, reproduced for tests: credential injection and the private data directory of a job.

Credential injection follows AWX's injector code (awx_plugins' ``inject_credential``): the credential's
non-empty inputs form the template namespace (``tower.filename`` for the file injectors), every template is
rendered by Jinja's ImmutableSandboxedEnvironment, each ``file`` injector becomes ``env/tmpXXXXXXXX`` (mkstemp,
no extension, mode 0600), ``env`` injectors go into the job's environment and ``extra_vars`` injectors into
another extension-less ``env/tmp...`` YAML file (mode 0400) passed as ``-e @<file>``.  The job's own extra
variables (survey answers) go to ``env/extravars`` with every string marked ``!unsafe``, as AWX's safe_dump
writes them.  Test-only.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from types import SimpleNamespace

import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment


def _render_extra_vars(sandbox, namespace, node):
    if isinstance(node, dict):
        return {str(_render_extra_vars(sandbox, namespace, k)): _render_extra_vars(sandbox, namespace, v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_render_extra_vars(sandbox, namespace, item) for item in node]
    return sandbox.from_string(node).render(**namespace)


def inject_credential(credential_type: dict, inputs: dict, env: dict, args: list, private_data_dir: str) -> None:
    """Apply a custom credential type's injectors to env and args, writing its files under private_data_dir/env."""
    injectors = credential_type.get("injectors") or {}
    tower = SimpleNamespace(filename=None)
    namespace = {"tower": tower}
    for name, value in inputs.items():
        if isinstance(value, bool) or value:
            namespace[name] = value
    for field in credential_type["inputs"].get("fields", []):
        if field.get("type") == "boolean" and field["id"] not in inputs:
            namespace[field["id"]] = False
    sandbox = ImmutableSandboxedEnvironment()
    env_dir = os.path.join(private_data_dir, "env")
    os.makedirs(env_dir, exist_ok=True)
    single, files = None, {}
    for label, template in (injectors.get("file") or {}).items():
        data = sandbox.from_string(template).render(**namespace)
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, "w", newline="") as out:
            out.write(data)
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        if "." in label:
            files[label.split(".", 1)[1]] = path
        else:
            single = path
    tower.filename = single or SimpleNamespace(**files)
    for name, template in (injectors.get("env") or {}).items():
        env[name] = sandbox.from_string(template).render(**namespace)
    extra_vars = _render_extra_vars(sandbox, namespace, injectors.get("extra_vars") or {})
    if extra_vars:
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, "w") as out:
            out.write(yaml.safe_dump(extra_vars))
        os.chmod(path, stat.S_IRUSR)
        args.extend(["-e", f"@{path}"])


class _UnsafeDumper(yaml.SafeDumper):
    pass


def _unsafe_str(dumper, value):
    return dumper.represent_scalar("!unsafe", value)


_UnsafeDumper.add_representer(str, _unsafe_str)


def unsafe_yaml(data: dict) -> str:
    """YAML with every string tagged !unsafe (AWX's env/extravars for a job's extra_vars and survey answers)."""
    return yaml.dump(data, Dumper=_UnsafeDumper, default_flow_style=False)


def write_private_data_dir(base: str, project: str, inventory: dict, extra_vars: dict, env: dict, cmdline: list,
                           passwords: dict | None = None) -> str:
    """Lay out a job's private data dir as AWX does: project/ (a copy), inventory/hosts (a script printing the
    inventory as JSON), env/envvars, env/extravars, env/passwords, env/cmdline, env/settings."""
    import shutil  # pylint: disable=import-outside-toplevel

    os.makedirs(os.path.join(base, "env"), exist_ok=True)
    os.makedirs(os.path.join(base, "inventory"), exist_ok=True)
    shutil.copytree(project, os.path.join(base, "project"), symlinks=True,
                    ignore=shutil.ignore_patterns(".git", ".venv*", ".build", "mde-report", "__pycache__"))
    script = os.path.join(base, "inventory", "hosts")
    with open(script, "w") as out:
        # AWX's inventory script (awx-manage inventory output): --list prints every group, host and hostvars.
        out.write("#!/usr/bin/env python3\nimport json, sys\n"
                  f"DATA = {json.dumps(inventory)!r}\n"
                  "if '--host' in sys.argv:\n    print('{}')\nelse:\n    print(DATA)\n")
    os.chmod(script, 0o700)
    files = {"envvars": yaml.safe_dump(env), "extravars": unsafe_yaml(extra_vars),
             "passwords": yaml.safe_dump(passwords or {}), "cmdline": " ".join(cmdline),
             # AWX's settings: the job's output reaches it as events only (a worker's stdout is the event stream).
             "settings": yaml.safe_dump({"job_timeout": 0, "pexpect_timeout": 5, "suppress_ansible_output": True,
                                         "suppress_output_file": True})}
    for name, text in files.items():
        path = os.path.join(base, "env", name)
        with open(path, "w") as out:
            out.write(text)
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return base


def inject_azure_rm(inputs: dict, env: dict) -> None:
    """AWX's built-in 'Microsoft Azure Resource Manager' credential (a managed type with code injectors): the
    subscription always, a service principal when client and tenant are set, else the user and password."""
    client, tenant = inputs.get("client", ""), inputs.get("tenant", "")
    env["AZURE_SUBSCRIPTION_ID"] = inputs.get("subscription", "")
    if client and tenant:
        env.update(AZURE_CLIENT_ID=client, AZURE_TENANT=tenant, AZURE_SECRET=inputs.get("secret", ""))
    else:
        env.update(AZURE_AD_USER=inputs.get("username", ""), AZURE_PASSWORD=inputs.get("password", ""))
    if "cloud_environment" in inputs:
        env["AZURE_CLOUD_ENVIRONMENT"] = inputs["cloud_environment"]
