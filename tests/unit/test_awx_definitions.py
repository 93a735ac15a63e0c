"""awx/assets.yml: what `awx import` takes, checked with awxkit 24.6's own definitions (issue 15 item 2).

awxkit has no offline schema: an import is validated by the server's OPTIONS.  What it does hold, and what this test
uses: the resource list an import reads (awxkit.api.pages.api.EXPORTABLE_RESOURCES), the page class registered for
each resource URL (awxkit.api.pages.page.get_registered_page) with its NATURAL_KEY (how the import finds each object
and its references), the creation order (awxkit.api.mixins.has_create.page_creation_order), each class's payload()
(the fields awxkit sends for a job template, credential type, workflow), and its YAML loader (awxkit.yaml_file).
On top: every survey variable and every injected variable is one a playbook or role reads, every playbook exists,
and the credential types' injectors render, the way AWX renders them, into what the collection accepts.
"""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

awxkit = pytest.importorskip("awxkit", reason="awxkit is not installed here; run scripts/setup.sh")

from awxkit import yaml_file  # noqa: E402
from awxkit.api.mixins import has_create  # noqa: E402
from awxkit.api.pages import api as awx_api, page  # noqa: E402
from awxkit.api.resources import resources  # noqa: E402
from awxkit.utils import PseudoNamespace  # noqa: E402

import awx_job  # noqa: E402
import package_factory  # noqa: E402
from ansible_collections.defender.endpoint.plugins.plugin_utils.packages.parse import parse_package  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
with open(ROOT / "awx" / "assets.yml", encoding="utf-8") as _stream:     # the loader `awx import` reads with
    ASSETS = yaml.load(_stream, Loader=yaml_file.Loader)
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def _item_class(resource: str):
    """The item class awxkit registers for a resource's list URL (JobTemplates(PageList, JobTemplate))."""
    cls = page.get_registered_page(getattr(resources, resource))
    return next(base for base in cls.__bases__ if base is not page.PageList)


def _declared_variables() -> set[str]:
    """Variables the playbooks and roles read: argument spec options and every mde_* name they use."""
    names = set()
    for spec in ROOT.glob("roles/*/meta/argument_specs.yml"):
        for entry in yaml.safe_load(spec.read_text())["argument_specs"].values():
            names |= set(entry.get("options", {}))
    for path in list(ROOT.glob("playbooks/**/*.yml")) + list(ROOT.glob("roles/*/*/*.yml")):
        names |= set(re.findall(r"\bmde_[a-z0-9_]+\b", path.read_text()))
    return names


def test_top_level_is_what_an_import_reads_in_an_order_it_can_create():
    assert ASSETS and set(ASSETS) <= set(awx_api.EXPORTABLE_RESOURCES), set(ASSETS) - set(awx_api.EXPORTABLE_RESOURCES)
    classes = [_item_class(r) for r in ASSETS]
    order = [cls for level in has_create.page_creation_order(*classes) for cls in level]
    assert order.index(_item_class("credential_types")) < order.index(_item_class("job_templates"))
    assert order.index(_item_class("projects")) < order.index(_item_class("job_templates"))
    # Workflow nodes and surveys are created after every top-level object (awxkit's _assign_related), from
    # "related": the kinds awxkit exports in full there.
    assert ("WorkflowJobTemplate", "WorkflowJobTemplateNode") in awx_api.DEPENDENT_EXPORT
    assert ("JobTemplate", "SurveySpec") in awx_api.DEPENDENT_EXPORT


@pytest.mark.parametrize("resource", sorted(ASSETS))
def test_natural_keys_have_awxkits_shape(resource):
    cls = _item_class(resource)
    for asset in ASSETS[resource]:
        key = asset["natural_key"]
        assert set(key) - {"type"} == set(cls.NATURAL_KEY) - {"organization"} | ({"organization"} & set(key)), key
        assert key["type"] == re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()
        for field in set(cls.NATURAL_KEY) - {"organization", "kind"}:
            if not isinstance(key[field], dict):
                assert key[field] == asset.get(field, asset.get("name")), (resource, field)


def test_fields_are_the_ones_awxkit_sends():
    """Each class's payload() keeps the fields it knows: nothing of ours may be dropped (a misspelt field is)."""
    foreign = {"project", "inventory", "organization", "execution_environment", "default_environment"}
    job_template = _item_class("job_templates")
    for asset in ASSETS["job_templates"]:
        fields = {k: v for k, v in asset.items() if k not in {"natural_key", "related"} | foreign}
        sent = job_template.payload(None, project=PseudoNamespace(id=1), **fields)
        assert set(fields) <= set(sent), set(fields) - set(sent)
    credential_type = _item_class("credential_types")
    for asset in ASSETS["credential_types"]:
        fields = {k: v for k, v in asset.items() if k != "natural_key"}
        assert set(fields) <= set(credential_type.payload(None, **fields)), asset["name"]


def test_surveys_are_valid_and_ask_only_for_variables_the_playbooks_read():
    declared = _declared_variables()
    templates = ASSETS["job_templates"] + ASSETS["workflow_job_templates"]
    for template in templates:
        spec = template["related"]["survey_spec"]["spec"]
        assert template["survey_enabled"] and spec
        variables = [q["variable"] for q in spec]
        assert len(variables) == len(set(variables)), template["name"]
        for question in spec:
            assert question["type"] in SURVEY_TYPES and question["question_name"], question
            assert question["variable"] in declared, (template["name"], question["variable"], "read by no playbook")
            if question["type"] in ("multiplechoice", "multiselect"):
                assert question["choices"] and question["default"] in question["choices"] + [""], question


def test_playbooks_exist_and_the_workflow_runs_onboard_then_verify():
    names = {t["name"]: t for t in ASSETS["job_templates"]}
    for template in names.values():
        assert (ROOT / template["playbook"]).is_file(), template["playbook"]
    wanted = {f"playbooks/{p}.yml" for p in ("onboard", "verify", "offboard", "migrate")}
    assert {t["playbook"] for t in names.values()} == wanted
    (workflow,) = ASSETS["workflow_job_templates"]
    nodes = {n["identifier"]: n for n in workflow["related"]["workflow_nodes"]}
    assert nodes["onboard"]["unified_job_template"]["name"] in names
    assert [s["identifier"] for s in nodes["onboard"]["related"]["success_nodes"]] == ["verify"]
    assert names[nodes["verify"]["unified_job_template"]["name"]]["playbook"] == "playbooks/verify.yml"


def test_credential_types_inject_only_declared_variables_and_their_secrets_are_secret():
    declared = _declared_variables()
    for credential_type in ASSETS["credential_types"]:
        fields = {f["id"]: f for f in credential_type["inputs"]["fields"]}
        injectors = credential_type["injectors"]
        assert set(injectors.get("extra_vars", {})) <= declared
        for template in list(injectors.get("extra_vars", {}).values()) + list(injectors.get("file", {}).values()):
            used = set(re.findall(r"\b([a-z_]+)\b", template)) & set(fields)
            assert used, template
        for name in ("workspace_key", "windows_onboarding", "linux_onboarding", "windows_offboarding",
                     "linux_offboarding"):
            if name in fields:
                assert fields[name]["secret"] is True, name


def _type(name):
    return next(t for t in ASSETS["credential_types"] if t["name"] == name)


def test_packages_credential_renders_to_extension_less_files_the_parser_reads(tmp_path, packages):
    env, args = {}, []
    windows = open(packages["win_onboard_cmd"], newline="", encoding="utf-8").read()
    awx_job.inject_credential(_type("Defender for Endpoint packages"), {"windows_onboarding": windows,
                              "linux_onboarding": open(packages["linux_onboard_py"], encoding="utf-8").read()},
                              env, args, str(tmp_path))
    assert args[0] == "-e" and args[1].startswith(f"@{tmp_path}/env/tmp")
    extra = yaml.safe_load(pathlib.Path(args[1][1:]).read_text())
    paths = extra["mde_onboarding_package"].split(",")
    assert len(paths) == 2 and all(re.fullmatch(r"tmp\w{8}", pathlib.Path(p).name) for p in paths)
    assert [parse_package(p).platform for p in paths] == ["windows", "linux"]
    assert pathlib.Path(paths[0]).read_bytes() == windows.encode()
    assert extra["mde_offboarding_package"] == ""           # no offboarding script given: nothing injected
    assert oct(pathlib.Path(paths[0]).stat().st_mode & 0o777) == "0o600"


def test_workspace_credential_renders_the_workspace_variables(tmp_path):
    env, args = {}, []
    awx_job.inject_credential(_type("Defender for Endpoint workspace (MMA)"), {
        "workspace_id": package_factory.MDE_WORKSPACE_ID, "workspace_key": package_factory.FAKE_WORKSPACE_KEY},
        env, args, str(tmp_path))
    extra = yaml.safe_load(pathlib.Path(args[1][1:]).read_text())
    assert extra == {"mde_workspace_id": package_factory.MDE_WORKSPACE_ID,
                     "mde_workspace_key": package_factory.FAKE_WORKSPACE_KEY}
    assert env == {}


@pytest.mark.parametrize("cloud", [None, "AzureUSGovernment"])
def test_awx_azure_credential_reaches_the_azure_modules_as_a_service_principal(tmp_path, cloud):
    """AWX's own Azure Resource Manager credential sets AZURE_* for the job; the Azure modules' auth_source auto
    reads them as a service principal (the test's HOME has no Azure profile, so nothing else could answer)."""
    # pylint: disable-next=import-outside-toplevel
    from ansible_collections.defender.endpoint.plugins.module_utils import azure_auth

    inputs = {"subscription": "0b1f6471-1bf0-4dda-aec3-111122223333",
              "client": "5d1c3f5e-0000-4000-8000-000000000001", "tenant": "72f988bf-0000-4000-8000-000000000002",
              "secret": "not-a-real-secret"}
    if cloud:
        inputs["cloud_environment"] = cloud
    env = {"HOME": str(tmp_path), "AZURE_CONFIG_DIR": str(tmp_path / ".azure")}
    awx_job.inject_azure_rm(inputs, env)
    auth = azure_auth.resolve({}, env)
    assert (auth["auth_source"], auth["subscription_id"], auth["client_id"], auth["tenant"], auth["secret"]) == (
        "env", inputs["subscription"], inputs["client"], inputs["tenant"], inputs["secret"])
    assert auth["cloud_environment"] == (cloud or "AzureCloud")
