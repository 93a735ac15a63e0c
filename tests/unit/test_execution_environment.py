"""The execution environment: ansible-builder renders its build context, and it provides every Python import the
collection makes on the controller (issue 15 item 1).

No container engine is needed: `ansible-builder create` writes the context; the galaxy stage's
`ansible-galaxy collection install -r requirements.yml` and the builder stage's `introspect.py` (ansible-builder's own
script, copied into the context) are then run here, on the context's files, as the image build runs them.  The imports
are read with `ast` from the collection as installed by that galaxy step, so a new import anywhere under plugins/ is
checked without editing this test.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
# Controller-side distributions that ansible-core brings along: the EE installs ansible-core itself.
CORE = "ansible-core"
# Requirements no collection file imports, and why they are needed all the same.
USED_WITHOUT_IMPORT = {
    "pywinrm": "ansible.builtin's winrm connection plugin imports winrm to reach Windows hosts",
}


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed in this environment ({path}); run scripts/setup.sh")
    return str(path)


@pytest.fixture(scope="module")
def ee(tmp_path_factory):
    """Build the collection, render the EE context, then run its galaxy and introspection steps here."""
    base = tmp_path_factory.mktemp("ee")
    source = base / "definition"
    (source / ".build" / "dist").mkdir(parents=True)
    shutil.copy(ROOT / "execution-environment.yml", source / "execution-environment.yml")
    subprocess.run([_tool("ansible-galaxy"), "collection", "build", "--force", "--output-path",
                    str(source / ".build" / "dist"), str(ROOT)], check=True, capture_output=True, text=True)
    context = base / "context"
    proc = subprocess.run([_tool("ansible-builder"), "create", "--file", str(source / "execution-environment.yml"),
                           "--context", str(context), "--output-filename", "Containerfile"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    build = context / "_build"
    installed = base / "usr-share-ansible"
    # The galaxy stage: WORKDIR /build (the context's _build), the same command line, in an environment that
    # knows no collection yet (this checkout's collection path would make ansible-galaxy skip the install).
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_HOME"] = str(base / "ansible-home")
    proc = subprocess.run([_tool("ansible-galaxy"), "collection", "install", "--offline", "-r", "requirements.yml",
                           "--collections-path", str(installed)], cwd=build, capture_output=True, text=True,
                          check=False, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The builder stage: introspect.py over the installed collections with the Containerfile's own arguments
    # (WORKDIR /build, so relative files are the context's), writing the EE's requirement files.
    containerfile = (context / "Containerfile").read_text()
    line = re.search(r"^RUN \$PYCMD /output/scripts/introspect\.py introspect (.*)$", containerfile, re.M)
    assert line, containerfile
    args = [re.sub(r"^(--write-(?:pip|bindep))=/tmp/src/", rf"\1={base}/", arg) for arg in line.group(1).split()]
    proc = subprocess.run([sys.executable, str(build / "scripts" / "introspect.py"), "introspect", str(installed),
                           *args], cwd=build, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {
        "definition": yaml.safe_load((ROOT / "execution-environment.yml").read_text()),
        "context": context, "containerfile": containerfile,
        "collection": installed / "ansible_collections" / "defender" / "endpoint",
        "pip": [line for line in (base / "requirements.txt").read_text().splitlines() if line.strip()],
        "bindep": (base / "bindep.txt").read_text() if (base / "bindep.txt").exists() else "",
    }


def test_context_installs_this_collection_at_its_version(ee):
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    assert ee["definition"]["version"] == 3
    wanted = yaml.safe_load((ee["context"] / "_build" / "requirements.yml").read_text())["collections"]
    assert wanted == [{"name": f"collections/defender-endpoint-{version}.tar.gz", "type": "file"}], (
        "execution-environment.yml must name the tarball of galaxy.yml's version")
    assert (ee["context"] / "_build" / "collections" / f"defender-endpoint-{version}.tar.gz").is_file()
    manifest = (ee["collection"] / "MANIFEST.json").read_text()
    assert f'"version": "{version}"' in manifest
    containerfile = ee["containerfile"]
    assert "ansible-galaxy collection install" in containerfile and "introspect.py introspect" in containerfile
    assert re.search(r'^ARG ANSIBLE_INSTALL_REFS="ansible-core>=2\.\d+ ansible-runner>=2\.\d+"$', containerfile, re.M)
    # The collection's own metadata is what introspection reads, inside the installed copy.
    meta = yaml.safe_load((ee["collection"] / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}


def test_introspection_gives_the_collection_requirements_and_system_packages(ee):
    declared = {canonicalize_name(Requirement(line).name)
                for line in (ROOT / "requirements.txt").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")}
    exclude = ee["definition"]["dependencies"].get("exclude", {})
    excluded = {canonicalize_name(name) for name in exclude.get("python", [])}
    got = {canonicalize_name(Requirement(line.split("#", 1)[0]).name) for line in ee["pip"]}
    assert excluded <= declared, "exclude only what requirements.txt declares"
    assert got == declared - excluded, (got, declared, excluded)
    assert all(line.rstrip().endswith("# from collection defender.endpoint") for line in ee["pip"]), ee["pip"]
    assert re.search(r"^openssh-clients \[platform:rpm\]", ee["bindep"], re.M), ee["bindep"]


_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")


def _dynamic_import(node: ast.AST) -> str | None:
    """The module a call such as importlib.import_module("x.y") or a lazy helper import_sdk("x.y") names."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    first = node.args[0]
    if "import" in name.lower() and isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value if _MODULE_NAME.match(first.value) else None
    return None


def _imports(collection: pathlib.Path) -> dict[str, set[str]]:
    """{absolute dotted module imported: {files}} for every .py file under plugins/ of the installed collection:
    import statements, and calls that import a module named by a string (lazy SDK imports)."""
    found: dict[str, set[str]] = {}
    for path in sorted((collection / "plugins").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif _dynamic_import(node):
                names = [_dynamic_import(node)]
            else:
                continue
            for name in names:
                found.setdefault(name, set()).add(str(path.relative_to(collection)))
    return found


def _closure(names: set[str]) -> set[str]:
    """The distributions names need, with their dependencies (markers judged for this Python, no extras)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def _providers(module: str) -> set[str]:
    """Distributions that install module (namespace packages such as azure.* narrowed to the one holding it)."""
    top = module.split(".", 1)[0]
    candidates = importlib.metadata.packages_distributions().get(top, [])
    if len(candidates) <= 1:
        return {canonicalize_name(c) for c in candidates}
    prefix = module.replace(".", "/")
    exact = set()
    for candidate in candidates:
        files = importlib.metadata.files(candidate) or []
        if any(str(f) == prefix + ".py" or str(f).startswith(prefix + "/") for f in files):
            exact.add(canonicalize_name(candidate))
    return exact or {canonicalize_name(c) for c in candidates}


def test_every_controller_import_is_provided_by_the_ee(ee):
    requirements = {canonicalize_name(Requirement(line.split("#", 1)[0]).name) for line in ee["pip"]}
    provided = _closure(requirements | {CORE})
    imports = _imports(ee["collection"])
    assert any(name.startswith("ansible_collections.defender.endpoint.plugins.plugin_utils") for name in imports)
    missing = []
    third_party = {}
    for module, files in sorted(imports.items()):
        top = module.split(".", 1)[0]
        if top in sys.stdlib_module_names or top in ("ansible", "ansible_collections"):
            continue
        providers = _providers(module)
        third_party[module] = providers
        if not providers:
            missing.append(f"{module} (imported by {', '.join(sorted(files))}) is not installed here: no "
                           "distribution is known for it; add it to requirements.txt")
        elif not providers & provided:
            missing.append(f"{module} (imported by {', '.join(sorted(files))}) comes from {', '.join(providers)}, "
                           "which the EE's requirements do not install; add it to requirements.txt")
    assert not missing, "\n".join(missing)


def test_every_ee_requirement_is_used(ee):
    """Each requirement costs every EE its size: it must be imported by the collection, or say why it is needed."""
    imports = _imports(ee["collection"])
    imported = set()
    for module in imports:
        if module.split(".", 1)[0] not in sys.stdlib_module_names:
            imported |= _providers(module)
    unused = []
    for line in ee["pip"]:
        name = canonicalize_name(Requirement(line.split("#", 1)[0]).name)
        if name not in imported and name not in USED_WITHOUT_IMPORT:
            unused.append(f"{name}: no file under plugins/ imports it; remove it from requirements.txt or use it")
    assert not unused, "\n".join(unused)


def test_import_scan_sees_a_new_third_party_import(tmp_path):
    """The scan is not blind: a module importing a package the EE lacks is reported."""
    plugin = tmp_path / "plugins" / "module_utils" / "azure_new.py"
    plugin.parent.mkdir(parents=True)
    plugin.write_text("try:\n    from azure.mgmt.hybridcompute import HybridComputeManagementClient\n"
                      "except ImportError:\n    HybridComputeManagementClient = None\nimport pytest\n"
                      "def client():\n    return azure_auth.import_sdk('azure.mgmt.resource')\n"
                      "ITEMS = importlib.import_module('yaml'), print('not a module name')\n")
    imports = _imports(tmp_path)
    assert set(imports) == {"azure.mgmt.hybridcompute", "pytest", "azure.mgmt.resource", "yaml"}
    assert _providers("azure.mgmt.security") == {"azure-mgmt-security"}
    assert _providers("pytest") == {"pytest"}
    assert "pytest" not in _closure({"pywinrm", CORE})
