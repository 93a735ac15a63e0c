# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Linux executor's Azure Arc part: the probe's ``arc`` and ``azure_vm`` facts and the four Arc steps.

The steps run a real fake ``azcmagent`` (a shell script in tmp_path) through ``timeout``, as on a host: it logs
its argv and, when given ``--config``, the file's content and the modes of the file and of its folder.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
import subprocess
import sys

import pytest

from ansible_collections.defender.endpoint.plugins.modules import mde_host_linux as host

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
import facts_contract  # noqa: E402

TOKEN = "eyJ0eXAiOiJKV1Qi.c2VjcmV0LWFybS10b2tlbg.SiGnAtUrE-42"
SECRETS = {"arc_access_token": TOKEN}
SUB, TENANT = "11111111-2222-4333-8444-555555555555", "66666666-7777-4888-8999-000000000000"
CONNECT = {"name": "arc_connect", "subscription_id": SUB, "resource_group": "rg-arc", "location": "westeurope",
           "tenant_id": TENANT, "cloud": "AzureCloud", "resource_name": "web01", "tags": {"env": "prod", "app": "web"},
           "correlation_id": "c0ffee00-0000-4000-8000-000000000000", "private_link_scope": None,
           "token": "arc_access_token"}
SHOW_CONNECTED = {
    "resourceName": "web01", "resourceGroup": "rg-arc", "subscriptionId": SUB, "tenantId": TENANT,
    "location": "westeurope", "cloud": "AzureCloud", "agentVersion": "1.47.02920.1950", "status": "Connected",
    "resourceId": f"/subscriptions/{SUB}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/web01",
    "httpsProxy": "http://svc-arc:Pr0xy-pw@proxy.example:3128", "privateLinkScope": "", "agentErrorCode": "",
    "agentErrorDetails": "", "agentErrorTimestamp": "", "dnsFqdn": "web01.example.test",
}
SHOW_NEVER_CONNECTED = {key: "" for key in SHOW_CONNECTED} | {"agentVersion": "1.47.02920.1950",
                                                              "status": "Disconnected"}


class Module:
    """What the executor needs of AnsibleModule; run_command really runs the command (the fake azcmagent)."""

    def __init__(self, secrets=None, binaries=(), answers=None):
        self.params = {"secrets": dict(secrets or {}), "staged": [], "steps": [], "timeout": 900}
        self.binaries, self.calls, self.answers = set(binaries), [], answers

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return shutil.which(name) if name in self.binaries else None

    def run_command(self, args, **kwargs):
        self.calls.append(list(args))
        if self.answers is not None:
            return self.answers(list(args))
        proc = subprocess.run(args, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr


class FakeAgent:
    """A fake azcmagent on disk; what it prints, its exit code and a sleep are set per test."""

    def __init__(self, base: pathlib.Path):
        self.log, self.path = base / "log", base / "bin" / "azcmagent"
        self.log.mkdir()
        self.path.parent.mkdir()
        self.answer()
        self.path.write_text(f"""#!/bin/bash
log={self.log}
printf '%s\\n' "$@" >> "$log/argv"
echo --- >> "$log/argv"
prev=
for arg in "$@"; do
  if [ "$prev" = --config ]; then
    echo "$arg" > "$log/config_path"
    stat -c %a "$arg" > "$log/config_mode"
    stat -c %a "$(dirname "$arg")" > "$log/dir_mode"
    cat "$arg" > "$log/config_content"
  fi
  prev=$arg
done
cat "$log/out"
cat "$log/err" >&2
if [ -s "$log/sleep" ]; then exec sleep "$(cat "$log/sleep")"; fi
exit "$(cat "$log/rc")"
""")
        self.path.chmod(0o755)

    def answer(self, out="", err="", rc=0, sleep=""):
        for name, value in (("out", out), ("err", err), ("rc", str(rc)), ("sleep", str(sleep))):
            (self.log / name).write_text(value)

    def argv(self):
        text = (self.log / "argv").read_text() if (self.log / "argv").exists() else ""
        return [chunk.strip("\n").split("\n") for chunk in text.split("---\n") if chunk.strip()]

    def logged(self, name):
        path = self.log / name
        return path.read_text().strip() if path.exists() else None


@pytest.fixture
def agent(tmp_path, monkeypatch):
    fake = FakeAgent(tmp_path)
    config_dir = tmp_path / "configs"
    config_dir.mkdir()
    monkeypatch.setattr(host, "AZCMAGENT", str(fake.path))
    monkeypatch.setattr(host, "ARC_CONFIG_DIR", str(config_dir))
    fake.config_dir = config_dir
    return fake


def _no_token_anywhere(agent, module, record):
    assert not any(TOKEN in arg for call in module.calls for arg in call)
    assert not any(TOKEN in arg for argv in agent.argv() for arg in argv)
    assert TOKEN not in json.dumps(record)
    assert list(agent.config_dir.iterdir()) == []           # the private folder and its file are gone


# ---- arc_connect ----

def test_connect_gives_the_token_only_in_a_private_config_file(agent):
    agent.answer(out="INFO Connecting machine to Azure...\nINFO Connected machine to Azure\n\n")
    module = Module(SECRETS)
    record = {}
    assert host.step_arc_connect(module, CONNECT, record, 120)
    config_path = agent.logged("config_path")
    assert agent.argv() == [["connect", "--config", config_path]]
    assert module.calls == [["timeout", "--foreground", "-k", "10", "120", str(agent.path), "connect", "--config",
                             config_path]]
    assert json.loads(agent.logged("config_content")) == {
        "subscription-id": SUB, "resource-group": "rg-arc", "location": "westeurope", "tenant-id": TENANT,
        "cloud": "AzureCloud", "resource-name": "web01", "tags": "app=web,env=prod",
        "correlation-id": "c0ffee00-0000-4000-8000-000000000000", "access-token": TOKEN}
    assert agent.logged("config_mode") == "600" and agent.logged("dir_mode") == "700"
    assert config_path.startswith(str(agent.config_dir) + "/")
    assert not pathlib.Path(config_path).exists()
    assert record == {"rc": 0, "error_code": None, "arm_code": None, "detail": "INFO Connected machine to Azure"}
    _no_token_anywhere(agent, module, record)


def test_connect_leaves_out_the_settings_not_given(agent):
    step = {key: CONNECT[key] for key in ("subscription_id", "resource_group", "location", "tenant_id", "token")}
    step.update(resource_name=None, tags=None, correlation_id=None, private_link_scope="/subscriptions/x/pls")
    assert host.step_arc_connect(Module(SECRETS), step, {}, 60)
    assert json.loads(agent.logged("config_content")) == {
        "subscription-id": SUB, "resource-group": "rg-arc", "location": "westeurope", "tenant-id": TENANT,
        "cloud": "AzureCloud", "private-link-scope": "/subscriptions/x/pls", "access-token": TOKEN}


@pytest.mark.parametrize("out, err, code, arm", [
    ("", f"FATAL AZCM0041: The credentials supplied are invalid: token {TOKEN} rejected\n", "AZCM0041", None),
    ("INFO Connecting\nERROR AZCM0026: Network Error: dial tcp: connection refused\n", "", "AZCM0026", None),
    ("ERROR {\"error\":{\"code\":\"AuthorizationFailed\",\"message\":\"The client does not have authorization\"}}\n"
     f"FATAL AZCM0042: Failed to create the resource (Bearer {TOKEN})\n", "", "AZCM0042", "AuthorizationFailed"),
    ("FATAL MissingSubscriptionRegistration: not registered to use namespace Microsoft.HybridCompute\n", "", None,
     "MissingSubscriptionRegistration"),
    ("code ResourceGroupNotFound then InvalidAuthenticationToken\n", "", None, "ResourceGroupNotFound"),
])
def test_connect_failure_reports_the_codes_and_never_the_token(agent, out, err, code, arm):
    agent.answer(out=out, err=err, rc=1)
    module = Module(SECRETS)
    record = {}
    assert not host.step_arc_connect(module, CONNECT, record, 60)
    assert record["rc"] == 1 and record["error_code"] == code and record["arm_code"] == arm
    last = [line for line in (out + err).splitlines() if line.strip()][-1].strip()
    assert record["detail"] == last.replace(TOKEN, "********")[:300]
    _no_token_anywhere(agent, module, record)


def test_a_long_last_line_is_cut_to_300_characters(agent):
    agent.answer(out="FATAL AZCM0153: " + "x" * 400 + "\n", rc=1)
    record = {}
    assert not host.step_arc_connect(Module(SECRETS), CONNECT, record, 60)
    assert len(record["detail"]) == 300 and record["error_code"] == "AZCM0153"


def test_connect_that_times_out_still_removes_the_file(agent):
    agent.answer(out="INFO Connecting machine to Azure...\n", sleep=30)
    module = Module(SECRETS)
    record = {}
    assert not host.step_arc_connect(module, CONNECT, record, 1)
    assert record["timed_out"] is True and record["timeout"] == 1 and record["rc"] == 124
    assert json.loads(agent.logged("config_content"))["access-token"] == TOKEN     # it was there while it ran
    assert not pathlib.Path(agent.logged("config_path")).exists()
    _no_token_anywhere(agent, module, record)


def test_connect_whose_command_raises_still_removes_the_file(agent):
    seen = {}

    def explode(args):
        seen["path"] = args[-1]
        seen["held"] = json.loads(pathlib.Path(args[-1]).read_text())["access-token"] == TOKEN
        raise OSError(f"cannot run {args} with {TOKEN}")
    module = Module(SECRETS, answers=explode)
    module.params["steps"] = [dict(CONNECT), {"name": "arc_disconnect", "force_local_only": True}]
    records = host.apply(module)
    assert [r["status"] for r in records] == ["failed", "skipped"] and seen["held"]
    assert not pathlib.Path(seen["path"]).exists()
    assert TOKEN not in json.dumps(records) and "********" in records[0]["detail"]
    assert list(agent.config_dir.iterdir()) == []


def test_connect_without_the_token_fails_before_running_anything(agent):
    module = Module({})
    record = {}
    assert not host.step_arc_connect(module, CONNECT, record, 60)
    assert "no Arc access token was given (secrets key arc_access_token)" in record["detail"]
    assert module.calls == [] and agent.argv() == [] and list(agent.config_dir.iterdir()) == []


def test_arc_steps_without_the_agent_say_to_install_it(agent, monkeypatch):
    monkeypatch.setattr(host, "AZCMAGENT", str(agent.path) + "-absent")
    for step in (CONNECT, {"name": "arc_set_proxy", "proxy_url": None},
                 {"name": "arc_disconnect", "force_local_only": True}):
        module = Module(SECRETS)
        record = {}
        assert not host.STEPS[step["name"]](module, step, record, 60)
        assert record["detail"] == "azcmagent is not installed on this host: run the install_arc_agent step first."
        assert module.calls == [] and list(agent.config_dir.iterdir()) == []


# ---- arc_disconnect, arc_set_proxy ----

def test_disconnect_with_the_token_uses_a_config_file(agent):
    agent.answer(out="INFO Deleting resource from Azure...\nINFO Disconnected\n")
    module = Module(SECRETS)
    record = {}
    assert host.step_arc_disconnect(module, {"force_local_only": False, "token": "arc_access_token"}, record, 60)
    assert agent.argv() == [["disconnect", "--config", agent.logged("config_path")]]
    assert json.loads(agent.logged("config_content")) == {"access-token": TOKEN}
    assert agent.logged("config_mode") == "600" and agent.logged("dir_mode") == "700"
    assert record["detail"] == "INFO Disconnected"
    _no_token_anywhere(agent, module, record)


def test_disconnect_of_a_deleted_resource_fails_and_force_local_only_sends_no_token(agent):
    agent.answer(out="FATAL AZCM0109: ResourceNotFound: the machine no longer exists\n", rc=23)
    record = {}
    assert not host.step_arc_disconnect(Module(SECRETS), {"token": "arc_access_token"}, record, 60)
    assert record["rc"] == 23 and record["error_code"] == "AZCM0109" and "ResourceNotFound" in record["detail"]
    agent.answer(out="INFO Disconnected locally\n")
    (agent.log / "config_path").unlink()
    module = Module(SECRETS)
    assert host.step_arc_disconnect(module, {"force_local_only": True, "token": "arc_access_token"}, {}, 60)
    assert agent.argv()[-1] == ["disconnect", "--force-local-only"] and agent.logged("config_path") is None


def test_disconnect_with_neither_token_nor_force_fails_clearly(agent):
    record = {}
    assert not host.step_arc_disconnect(Module(SECRETS), {"force_local_only": False, "token": None}, record, 60)
    assert record["detail"] == ("no Arc access token was given (secrets key none): pass the token obtained on "
                                "the controller.") and agent.argv() == []


def test_set_and_clear_the_proxy(agent):
    assert host.step_arc_set_proxy(Module(), {"proxy_url": "http://proxy.example:3128"}, {}, 60)
    assert host.step_arc_set_proxy(Module(), {"proxy_url": None}, {}, 60)
    assert agent.argv() == [["config", "set", "proxy.url", "http://proxy.example:3128"],
                            ["config", "clear", "proxy.url"]]


def test_a_proxy_credential_in_the_output_is_masked(agent):
    agent.answer(out="FATAL cannot reach http://svc-arc:Pr0xy-pw@proxy.example:3128\n", rc=1)
    module = Module()
    module.params["steps"] = [{"name": "arc_set_proxy", "proxy_url": "http://svc-arc:Pr0xy-pw@proxy.example:3128"}]
    record = host.apply(module)[0]
    assert record["status"] == "failed" and "Pr0xy-pw" not in json.dumps(record)
    assert record["detail"] == "FATAL cannot reach http://********@proxy.example:3128"


# ---- install_arc_agent ----

def _staged(tmp_path, name="azcmagent_1.47.deb"):
    path = tmp_path / name
    path.write_bytes(b"!<arch>\nfake package")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("manager, expected", [
    ("apt-get", ["apt-get", "install", "-y"]), ("dnf", ["dnf", "install", "-y"]),
    ("yum", ["yum", "install", "-y"]), ("zypper", ["zypper", "--non-interactive", "install"]),
])
def test_install_the_staged_package_once_its_sha256_matches(tmp_path, manager, expected):
    path, digest = _staged(tmp_path)
    module = Module(answers=lambda args: (0, "", ""))
    step = {"path": str(path), "sha256": digest.upper(), "file_name": path.name, "package_manager": manager}
    assert host.step_install_arc_agent(module, step, {}, 300)
    assert module.calls == [["timeout", "--foreground", "-k", "10", "300"] + expected + [str(path)]]


def test_install_refuses_a_staged_file_that_does_not_match(tmp_path):
    path, digest = _staged(tmp_path)
    module = Module(answers=lambda args: (0, "", ""))
    record = {}
    step = {"path": str(path), "sha256": "0" * 64, "file_name": path.name, "package_manager": "apt-get"}
    assert not host.step_install_arc_agent(module, step, record, 300)
    assert record["detail"] == "the staged file does not match its sha256" and module.calls == []
    record = {}
    assert not host.step_install_arc_agent(module, dict(step, path=str(tmp_path / "gone.deb"), sha256=digest),
                                           record, 300)
    assert record["detail"].startswith("file not found:") and module.calls == []


def test_install_from_the_configured_repository(tmp_path):
    module = Module(answers=lambda args: (100, "", "E: Unable to locate package azcmagent"))
    record = {}
    step = {"from_repository": True, "package": "azcmagent", "package_manager": "apt-get"}
    assert not host.step_install_arc_agent(module, step, record, 300)
    assert module.calls == [["timeout", "--foreground", "-k", "10", "300", "apt-get", "install", "-y", "azcmagent"]]
    assert record["rc"] == 100 and "Unable to locate package azcmagent" in record["detail"]


# ---- probe: arc, azure_vm ----

def _show(rc, out, err=""):
    def answer(args):
        assert args[:5] == ["timeout", "--foreground", "-k", "5", "30"] and args[-2:] == ["show", "-j"]
        return rc, out, err
    return answer


def test_probe_of_a_connected_agent(agent):
    agent.answer(out="\n" + json.dumps(SHOW_CONNECTED, indent=2) + "\n")
    facts = host.arc_facts(Module())
    assert facts == {
        "installed": True, "agent_version": "1.47.02920.1950", "status": "Connected", "resource_name": "web01",
        "resource_group": "rg-arc", "subscription_id": SUB, "tenant_id": TENANT, "location": "westeurope",
        "cloud": "AzureCloud", "resource_id": SHOW_CONNECTED["resourceId"],
        "https_proxy": "http://********@proxy.example:3128", "private_link_scope": None, "error_code": None,
        "error_details": None, "service": None, "show_error": None}
    assert agent.argv() == [["show", "-j"]]


def test_probe_of_an_agent_that_never_connected():
    module = Module(answers=_show(0, json.dumps(SHOW_NEVER_CONNECTED)), binaries=("azcmagent",))
    module.get_bin_path = lambda name, **kwargs: "/usr/local/bin/azcmagent" if name == "azcmagent" else None
    facts = host.arc_facts(module)
    assert facts["installed"] is True and facts["status"] == "Disconnected"
    assert facts["agent_version"] == "1.47.02920.1950" and module.calls[0][5] == "/usr/local/bin/azcmagent"
    assert all(facts[key] is None for key in ("resource_name", "resource_group", "subscription_id", "tenant_id",
                                              "location", "cloud", "resource_id", "https_proxy", "error_code"))


def test_probe_keeps_the_agent_error_short(agent, monkeypatch):
    document = dict(SHOW_CONNECTED, status="Expired", agentErrorCode="AZCM0026", agentErrorDetails="e" * 500)
    facts = host.arc_facts(Module(answers=_show(0, json.dumps(document))))
    assert facts["status"] == "Expired" and facts["error_code"] == "AZCM0026" and facts["error_details"] == "e" * 300


@pytest.mark.parametrize("rc, out, err, expected", [
    (0, "azcmagent: unknown flag -j\nusage...\n", "", "azcmagent: unknown flag -j"),
    (0, "{broken json", "", "{broken json"),
    (1, "", "\nFATAL AZCM0018: must run elevated\nmore\n", "FATAL AZCM0018: must run elevated"),
    (2, "", "", "azcmagent show -j failed with rc 2"),
    (124, "", "", "azcmagent show -j did not answer within 30 s"),
])
def test_probe_of_an_agent_whose_show_fails(agent, rc, out, err, expected):
    facts = host.arc_facts(Module(answers=_show(rc, out, err)))
    assert facts["installed"] is True and facts["show_error"] == expected
    assert facts["status"] is None and facts["agent_version"] is None


def test_probe_without_the_agent_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(host, "AZCMAGENT", str(tmp_path / "absent"))
    module = Module(answers=lambda args: pytest.fail(f"unexpected command {args}"))
    facts = host.arc_facts(module)
    assert facts["installed"] is False and facts["status"] is None and facts["service"] is None
    assert set(facts) == set(facts_contract.keys_tree("linux")["arc"])


def test_the_service_from_systemctl(agent):
    answers = {"himdsd": (0, "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n", "")}

    def answer(args):
        if "systemctl" in args[0]:
            assert args[1:3] == ["show", "himdsd"]
            return answers["himdsd"]
        return 0, json.dumps(SHOW_CONNECTED), ""
    module = Module(answers=answer, binaries=("systemctl",))
    module.get_bin_path = lambda name, **kwargs: "/usr/bin/systemctl" if name == "systemctl" else None
    assert host.arc_facts(module)["service"] == {"state": "running", "start_type": "auto"}
    answers["himdsd"] = (0, "LoadState=loaded\nActiveState=inactive\nUnitFileState=disabled\n", "")
    assert host.arc_facts(module)["service"] == {"state": "stopped", "start_type": "disabled"}
    answers["himdsd"] = (0, "LoadState=loaded\nActiveState=failed\nUnitFileState=\n", "")
    assert host.arc_facts(module)["service"] == {"state": "failed", "start_type": None}
    answers["himdsd"] = (0, "LoadState=not-found\nActiveState=inactive\nUnitFileState=\n", "")
    assert host.arc_facts(module)["service"] is None


@pytest.mark.parametrize("content, expected", [
    ("7783-7084-3265-9085-8269-3286-77\n", True), ("7783-7084-3265-9085-8269-3286-77", True),
    ("No Asset Tag\n", False), ("", False), (None, False),
])
def test_azure_vm_from_the_chassis_asset_tag(tmp_path, monkeypatch, content, expected):
    path = tmp_path / "chassis_asset_tag"
    if content is not None:
        path.write_text(content)
    monkeypatch.setattr(host, "CHASSIS_ASSET_TAG", str(path))
    assert host.azure_vm() is expected


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux executor's probe reads /proc and /etc")
@pytest.mark.parametrize("show", [SHOW_CONNECTED, SHOW_NEVER_CONNECTED, None])
def test_the_whole_probe_with_an_agent_matches_the_contract(agent, tmp_path, monkeypatch, show):
    agent.answer(out=json.dumps(show) if show else "garbage", rc=0 if show else 3)
    (tmp_path / "tag").write_text(host.AZURE_ASSET_TAG + "\n")
    monkeypatch.setattr(host, "CHASSIS_ASSET_TAG", str(tmp_path / "tag"))
    facts = host.probe(Module())
    assert facts["azure_vm"] is True and facts["arc"]["installed"] is True
    assert facts_contract.check("linux", facts) == []
