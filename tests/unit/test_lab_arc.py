# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's Azure Connected Machine agent and Defender for Identity sensor, driven through the lab's model directly:
install, proxy, connect, re-connect, disconnect, each fault, the platforms the agent refuses, the Linux package paths,
the probe's shapes, the token kept out of everything the lab writes, and the Azure side against local HTTPS servers."""

from __future__ import annotations

import hashlib
import http.server
import json
import pathlib
import ssl
import sys
import threading
import urllib.parse

import pytest

import package_factory
from labmodel import arc, host, linux, linux_apply, payload, profiles, store, windows, windows_apply

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from azure_fake import server as fake_server  # noqa: E402
from azure_fake import tls  # noqa: E402
import facts_contract  # noqa: E402

TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.lab-arc-token.c2lnbmF0dXJl"
SECRETS = {"arc_access_token": TOKEN}
SUB = "20ff7fc3-e762-44dd-bd96-b71116dcdc23"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
FACT_KEYS = {"installed", "agent_version", "status", "resource_name", "resource_group", "subscription_id",
             "tenant_id", "location", "cloud", "resource_id", "https_proxy", "private_link_scope", "error_code",
             "error_details", "service", "show_error"}
RECORD_KEYS = {"name", "status", "rc", "error_code", "arm_code", "detail"}


@pytest.fixture(autouse=True)
def _no_arm(monkeypatch):
    monkeypatch.delenv("MDE_LAB_ARM_URL", raising=False)
    monkeypatch.delenv("MDE_LAB_ARM_CA", raising=False)


def connect_step(**fields):
    step = {"name": "arc_connect", "subscription_id": SUB, "resource_group": "rg-arc", "location": "westeurope",
            "tenant_id": TENANT, "cloud": "AzureCloud", "resource_name": None, "tags": None, "correlation_id": None,
            "private_link_scope": None, "token": "arc_access_token"}
    step.update(fields)
    return step


def msi_step(data: bytes, path=r"C:\Windows\Temp\AzureConnectedMachineAgent.msi", sha256=None):
    return {"name": "install_arc_agent", "path": path, "file_name": "AzureConnectedMachineAgent.msi",
            "sha256": sha256 or hashlib.sha256(data).hexdigest()}


class WinHost:
    """A Windows lab host with one staged file; apply() runs steps through windows_apply as host.py does."""

    def __init__(self, profile="windows_server_2022", overrides=None, faults=(), staged=None, name="web01"):
        self.state = profiles.initial_state(profile, overrides or {})
        self.faults, self.fired, self.name = list(faults), set(), name
        self.staged = staged

    def files(self, path, delete=False):
        return None if delete else self.staged

    def apply(self, *steps, secrets=None):
        ctx = windows_apply.Context(self.state, self.faults, self.fired, self.files,
                                    SECRETS if secrets is None else secrets, host=self.name)
        return windows_apply.json_safe(windows_apply.apply(ctx, list(steps), [], False))

    def probe(self):
        return windows.probe(self.state, [], self.faults)


class LinuxHost:
    def __init__(self, profile="ubuntu_22_04", overrides=None, faults=(), staged=None, name="db01"):
        self.state = profiles.initial_state(profile, overrides or {})
        self.faults, self.fired, self.name, self.staged = list(faults), set(), name, staged

    def apply(self, *steps, secrets=None):
        ctx = linux_apply.Context(self.state, self.faults, self.fired, SECRETS if secrets is None else secrets,
                                  files=lambda path: self.staged, host=self.name)
        return linux_apply.apply(ctx, list(steps))

    def probe(self):
        return linux.probe(self.state, self.faults)


def installed_windows(profile="windows_server_2022", faults=(), **kwargs) -> WinHost:
    data = package_factory.installer("arc", "1.47.02849.1883")
    lab = WinHost(profile, faults=faults, staged=data, **kwargs)
    assert lab.apply(msi_step(data))[0]["status"] == "ok"
    return lab


def installed_linux(profile="ubuntu_22_04", faults=(), **kwargs) -> LinuxHost:
    lab = LinuxHost(profile, overrides={"repository": "prod"}, faults=faults, **kwargs)
    manager = lab.state["package_manager"]
    record = lab.apply({"name": "install_arc_agent", "from_repository": True, "package": "azcmagent",
                        "package_manager": manager})[0]
    assert record["status"] == "ok", record
    return lab


# ---- state and probe shapes ----

@pytest.mark.parametrize("profile", sorted(profiles.PROFILES))
def test_every_profile_starts_without_the_agent(profile):
    state = profiles.initial_state(profile, {})
    facts = (windows.probe(state, []) if state["platform"] == "windows" else linux.probe(state, []))
    assert set(facts["arc"]) == FACT_KEYS
    assert facts["arc"]["installed"] is False
    assert all(value is None for key, value in facts["arc"].items() if key != "installed")
    assert facts["azure_vm"] is False
    if state["platform"] == "windows":
        assert facts["mdi"] == {"services": {"AATPSensor": None, "AATPSensorUpdater": None}, "sensor_version": None,
                                "sense_machine_id": False}
    else:
        assert "mdi" not in facts and "mdi" not in state


def test_state_may_set_the_agent_the_vm_and_the_sensor():
    state = profiles.initial_state("windows_server_2019", {
        "azure_vm": True, "mdi": {"sensor": "v2", "version": "2.236.17916.12345", "running": True},
        "arc": {"installed": True, "version": "1.40.0", "status": "Expired", "resource_name": "dc01",
                "resource_group": "rg", "subscription_id": SUB, "tenant_id": TENANT, "location": "westeurope",
                "cloud": "AzureCloud", "proxy": "http://user:pa55@proxy.example:8080", "error_code": "AZCM0012"}})
    facts = windows.probe(state, [])
    assert facts["azure_vm"] is True
    assert facts["arc"]["status"] == "Expired" and facts["arc"]["error_code"] == "AZCM0012"
    assert facts["arc"]["https_proxy"] == "http://********@proxy.example:8080"
    assert facts["arc"]["resource_id"] == (f"/subscriptions/{SUB}/resourceGroups/rg/providers/"
                                           "Microsoft.HybridCompute/machines/dc01")
    assert facts["arc"]["service"] == {"state": "running", "start_type": "auto"}
    assert facts["mdi"]["services"]["AATPSensor"] == {"state": "running", "start_type": "auto"}
    assert facts["mdi"]["services"]["AATPSensorUpdater"]["state"] == "running"
    assert facts["mdi"]["sensor_version"] == "2.236.17916.12345"


def test_a_stopped_sensor_and_sense_machine_id_once_sense_runs_onboarded():
    org = package_factory.FAKE_ORG
    stopped = windows.probe(profiles.initial_state("windows_server_2022", {
        "mdi": {"sensor": "v2", "version": "2.1", "running": False}}), [])["mdi"]
    assert stopped["services"]["AATPSensor"]["state"] == "stopped" and stopped["sense_machine_id"] is False
    onboarded = windows.probe(profiles.initial_state("windows_server_2022", {"onboarded_org": org}), [])
    assert onboarded["mdi"]["sense_machine_id"] is True
    # The MMA's sensor (MsSenseS) on 2012 R2 is not Sense: no SenseMachineId.
    mma = windows.probe(profiles.initial_state("windows_server_2012_r2", {
        "onboarded_org": org, "mma": {"installed": True, "version": "10.20.18069.0", "workspaces": [{"id": "w"}]}}), [])
    assert mma["mde"]["mssense_process_running"] is True and mma["mdi"]["sense_machine_id"] is False


@pytest.mark.parametrize("profile", ["windows_server_2019", "windows_server_2012_r2", "rhel_9", "ubuntu_22_04"])
def test_installed_and_connected_facts_match_the_written_contract(profile):
    lab = installed_windows(profile) if profile.startswith("windows") else installed_linux(profile)
    lab.state.update(azure_vm=True)
    if "mdi" in lab.state:
        lab.state["mdi"].update(sensor="v2", version="2.236.1", running=True)
    assert facts_contract.check(lab.state["platform"], lab.probe()) == []
    lab.apply({"name": "arc_set_proxy", "proxy_url": "http://u:p@proxy:3128"},
              connect_step(tags={"env": "lab"}), connect_step())
    facts = lab.probe()
    assert facts["arc"]["status"] == "Connected" and facts["arc"]["error_code"] is None
    assert facts_contract.check(lab.state["platform"], facts) == []


def test_an_old_state_file_gets_the_agent_defaults():
    state = profiles.initial_state("debian_12", {})
    del state["arc"], state["azure_vm"]
    assert linux.probe(arc.ensure(state), [])["arc"]["installed"] is False and state["azure_vm"] is False


# ---- Windows install ----

def test_windows_installs_the_staged_agent_msi():
    lab = installed_windows()
    facts = lab.probe()["arc"]
    assert facts["installed"] is True and facts["agent_version"] == "1.47.02849.1883"
    assert facts["status"] == "Disconnected" and facts["resource_name"] is None and facts["cloud"] is None


@pytest.mark.parametrize("case, staged, sha, faults, expected", [
    ("missing", None, "0" * 64, [], {"detail": r"file not found: C:\Windows\Temp\AzureConnectedMachineAgent.msi"}),
    ("sha256", package_factory.installer("arc", "1.0"), "0" * 64, [],
     {"detail": "the staged file does not match its sha256"}),
    ("not an msi", b"<html>not an installer</html>", None, [], {"signature": "NotSigned"}),
    ("unsigned", package_factory.installer("arc", "1.0"), None, ["installer_unsigned"],
     {"signature": "HashMismatch"}),
    ("other product", package_factory.installer("md4ws", "10.8760"), None, [], {}),
])
def test_windows_install_refusals(case, staged, sha, faults, expected):
    lab = WinHost(faults=faults, staged=staged)
    record = lab.apply(msi_step(staged or b"", sha256=sha))[0]
    assert record["status"] == "failed" and record["rc"] is None
    assert {key: record.get(key) for key in expected} == expected
    if case == "other product":
        assert "Azure Connected Machine Agent" in record["detail"]
    assert lab.state["arc"]["installed"] is False and lab.state["md4ws"]["installed"] is False


def test_windows_install_goes_through_msiexec_faults():
    data = package_factory.installer("arc", "1.0")
    busy = WinHost(faults=["msi_busy"], staged=data)
    assert busy.apply(msi_step(data))[0]["attempts"] == 2 and busy.state["arc"]["installed"] is True
    reboot = WinHost(faults=["msi_reboot_required"], staged=data)
    record = reboot.apply(msi_step(data))[0]
    assert (record["rc"], record["reboot_required"], reboot.state["arc"]["installed"]) == (3010, True, True)
    always = WinHost(faults=["msi_busy_always"], staged=data)
    assert always.apply(msi_step(data))[0]["rc"] == 1618 and always.state["arc"]["installed"] is False


def test_an_agent_msi_already_on_the_host():
    path = r"D:\share\AzureConnectedMachineAgent.msi"
    state = profiles.initial_state("windows_server_2019", {"host_files": {path: {"product": "arc", "version": "1.9"}}})
    assert windows.probe(state, [], [], [path])["host_paths"] == [{"path": path, "exists": True, "format": "msi"}]
    data = windows_apply.installer_bytes("arc", "1.9")
    assert data == package_factory.installer("arc", "1.9")


# ---- Linux install ----

@pytest.mark.parametrize("profile, kind", [("ubuntu_22_04", "arc_deb"), ("debian_12", "arc_deb"),
                                           ("rhel_9", "arc_rpm")])
def test_linux_installs_the_staged_package_of_its_manager(profile, kind):
    data = package_factory.installer(kind, "1.46.0")
    lab = LinuxHost(profile, staged=data)
    step = {"name": "install_arc_agent", "path": "/var/tmp/azcmagent", "sha256": hashlib.sha256(data).hexdigest(),
            "file_name": "azcmagent", "package_manager": lab.state["package_manager"]}
    assert lab.apply(step)[0] == {"name": "install_arc_agent", "status": "ok", "rc": 0}
    assert lab.probe()["arc"]["agent_version"] == "1.46.0" and lab.probe()["arc"]["status"] == "Disconnected"


@pytest.mark.parametrize("profile, kind, manager, rc, detail", [
    ("ubuntu_22_04", "arc_rpm", "apt-get", 100, "E: Unsupported file /var/tmp/azcmagent given on commandline"),
    ("rhel_9", "arc_deb", "dnf", 1, "Error: Can not load RPM file: /var/tmp/azcmagent."),
    ("ubuntu_22_04", "arc_deb", "dnf", 127, "dnf: command not found"),
])
def test_linux_refuses_a_package_its_manager_cannot_install(profile, kind, manager, rc, detail):
    data = package_factory.installer(kind, "1.46.0")
    lab = LinuxHost(profile, staged=data)
    record = lab.apply({"name": "install_arc_agent", "path": "/var/tmp/azcmagent", "file_name": "azcmagent",
                        "sha256": hashlib.sha256(data).hexdigest(), "package_manager": manager})[0]
    assert (record["status"], record["rc"], record["detail"]) == ("failed", rc, detail)
    assert lab.state["arc"]["installed"] is False


def test_linux_checks_the_staged_file_first():
    lab = LinuxHost(staged=None)
    step = {"name": "install_arc_agent", "path": "/var/tmp/a.deb", "sha256": "0" * 64, "file_name": "a.deb",
            "package_manager": "apt-get"}
    assert lab.apply(step)[0]["detail"] == "file not found: /var/tmp/a.deb"
    lab.staged = package_factory.installer("arc_deb", "1.0")
    assert lab.apply(step)[0]["detail"] == "the staged file does not match its sha256"


@pytest.mark.parametrize("profile, repository, faults, rc, detail", [
    ("ubuntu_22_04", None, [], 100, "E: Unable to locate package azcmagent"),
    ("rhel_9", None, [], 1, "Error: Unable to find a match: azcmagent"),
    ("ubuntu_22_04", "prod", ["repo_unreachable"], 100,
     "E: Failed to fetch azcmagent: Temporary failure resolving 'packages.microsoft.com'"),
    ("rhel_9", "prod", [], 0, None),
    ("debian_12", "insiders-fast", [], 0, None),
])
def test_linux_from_repository(profile, repository, faults, rc, detail):
    lab = LinuxHost(profile, overrides={"repository": repository}, faults=faults)
    record = lab.apply({"name": "install_arc_agent", "from_repository": True, "package": "azcmagent",
                        "package_manager": lab.state["package_manager"]})[0]
    assert (record["rc"], record.get("detail")) == (rc, detail)
    assert lab.state["arc"]["installed"] is (rc == 0)
    if rc == 0:
        assert lab.probe()["arc"]["agent_version"] == arc.ARC_VERSION


# ---- proxy ----

def test_proxy_set_and_cleared():
    lab = installed_linux()
    record = lab.apply({"name": "arc_set_proxy", "proxy_url": "http://u:secretpw@proxy.example:3128"})[0]
    assert record["status"] == "ok" and "secretpw" not in record["detail"]
    assert lab.state["arc"]["proxy"] == "http://u:secretpw@proxy.example:3128"
    assert lab.probe()["arc"]["https_proxy"] == "http://********@proxy.example:3128"
    assert lab.apply({"name": "arc_set_proxy", "proxy_url": None})[0]["status"] == "ok"
    assert lab.probe()["arc"]["https_proxy"] is None


@pytest.mark.parametrize("step", [{"name": "arc_set_proxy", "proxy_url": "http://p:1"}, connect_step(),
                                  {"name": "arc_disconnect", "force_local_only": True, "token": None},
                                  {"name": "arc_disconnect", "force_local_only": False, "token": "arc_access_token"}])
@pytest.mark.parametrize("lab_host", [WinHost, LinuxHost])
def test_without_the_agent_the_executor_does_not_run_it(lab_host, step):
    record = lab_host().apply(step)[0]
    assert (record["status"], record["rc"], record["error_code"], record["arm_code"]) == ("failed", None, None, None)
    assert record["detail"] == "azcmagent is not installed on this host: run the install_arc_agent step first."


# ---- connect / reconnect / disconnect ----

def test_connect_records_the_machine_and_reconnect_is_azcm0067():
    lab = installed_windows(name="web01")
    record = lab.apply(connect_step(tags={"env": "lab", "owner": "ops"}, correlation_id="c0ffee00-1111"))[0]
    assert set(record) - {"reboot_required"} == RECORD_KEYS
    assert (record["status"], record["rc"], record["error_code"], record["arm_code"]) == ("ok", 0, None, None)
    facts = lab.probe()["arc"]
    assert facts["status"] == "Connected" and facts["resource_name"] == "web01"
    assert (facts["resource_group"], facts["subscription_id"], facts["tenant_id"], facts["location"],
            facts["cloud"]) == ("rg-arc", SUB, TENANT, "westeurope", "AzureCloud")
    assert lab.state["arc"]["tags"] == {"env": "lab", "owner": "ops"}
    again = lab.apply(connect_step(resource_name="other"))[0]
    assert (again["status"], again["rc"], again["error_code"]) == ("failed", 1, "AZCM0067")
    assert again["detail"].startswith("FATAL   AZCM0067: ")
    facts = lab.probe()["arc"]
    assert facts["resource_name"] == "web01" and facts["error_code"] is None


def test_connect_with_a_resource_name_private_link_and_us_government():
    lab = installed_linux(name="db01")
    scope = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/privateLinkScopes/pls"
    record = lab.apply(connect_step(resource_name="db-primary", cloud="AzureUSGovernment",
                                    private_link_scope=scope))[0]
    assert record["status"] == "ok"
    facts = lab.probe()["arc"]
    assert (facts["resource_name"], facts["cloud"], facts["private_link_scope"]) == (
        "db-primary", "AzureUSGovernment", scope)


@pytest.mark.parametrize("secrets", [{}, {"arc_access_token": ""}, {"other": TOKEN}])
@pytest.mark.parametrize("step", [connect_step(),
                                  {"name": "arc_disconnect", "force_local_only": False, "token": "arc_access_token"}])
def test_connect_and_disconnect_need_the_named_token(secrets, step):
    lab = installed_windows()
    lab.state["arc"].update(status="Connected", resource_name="web01", resource_group="rg", subscription_id=SUB)
    if step["name"] == "arc_connect":
        lab.state["arc"]["status"] = "Disconnected"
    record = lab.apply(step, secrets=secrets)[0]
    assert (record["status"], record["rc"], record["error_code"], record["arm_code"]) == ("failed", None, None, None)
    assert record["detail"] == ("no Arc access token was given (secrets key arc_access_token): pass the token "
                                "obtained on the controller.")
    assert lab.state["arc"]["error_code"] is None            # the agent never ran


@pytest.mark.parametrize("fault, code, arm_code, words", [
    ("arc_network", "AZCM0026", None, "Network Error"),
    ("arc_bad_credentials", "AZCM0041", None, "credentials supplied are invalid"),
    ("arc_name_exists", "AZCM0044", None, "--resource-name"),
    ("arc_forbidden", None, "AuthorizationFailed", "Azure Connected Machine Onboarding"),
    ("arc_provider_unregistered", None, "MissingSubscriptionRegistration", "Microsoft.HybridCompute"),
    ("arc_unsupported_os", "AZCM0153", None, "not supported"),
])
@pytest.mark.parametrize("platform", ["windows", "linux"])
def test_each_connect_fault(platform, fault, code, arm_code, words):
    lab = installed_windows(faults=[fault]) if platform == "windows" else installed_linux(faults=[fault])
    record = lab.apply(connect_step())[0]
    assert (record["status"], record["rc"], record["error_code"], record["arm_code"]) == ("failed", 1, code, arm_code)
    assert words in record["detail"] and record["detail"].startswith("FATAL   ")
    facts = lab.probe()["arc"]
    assert facts["status"] == "Disconnected" and facts["resource_name"] is None
    assert facts["error_code"] == code and facts["error_details"] == record["detail"]


@pytest.mark.parametrize("profile, refused", [
    ("windows_7_sp1", True), ("windows_8_1", True), ("windows_server_2008_r2", True),
    ("windows_server_2008_r2_sp1", False), ("windows_server_2012", False), ("windows_10_enterprise", False),
])
def test_platforms_the_agent_refuses(profile, refused):
    lab = installed_windows(profile)
    record = lab.apply(connect_step())[0]
    assert (record["error_code"] == "AZCM0153") is refused
    assert lab.probe()["arc"]["status"] == ("Disconnected" if refused else "Connected")


def test_disconnect_with_the_token_and_then_connect_again():
    lab = installed_linux()
    lab.apply({"name": "arc_set_proxy", "proxy_url": "http://proxy.example:3128"}, connect_step())
    record = lab.apply({"name": "arc_disconnect", "force_local_only": False, "token": "arc_access_token"})[0]
    assert (record["status"], record["rc"], record["error_code"]) == ("ok", 0, None)
    facts = lab.probe()["arc"]
    assert facts["status"] == "Disconnected"
    assert all(facts[k] is None for k in ("resource_name", "resource_group", "subscription_id", "tenant_id",
                                          "location", "cloud", "resource_id"))
    assert facts["https_proxy"] == "http://proxy.example:3128"     # the proxy setting stays
    assert lab.apply(connect_step())[0]["status"] == "ok"


def test_disconnect_refusals_and_force_local_only():
    lab = installed_windows(faults=["arc_network"])
    not_connected = lab.apply({"name": "arc_disconnect", "force_local_only": True, "token": None})[0]
    assert not_connected["status"] == "failed" and "not connected" in not_connected["detail"]
    lab.state["arc"].update(status="Connected", resource_name="web01", resource_group="rg", subscription_id=SUB)
    record = lab.apply({"name": "arc_disconnect", "force_local_only": False, "token": "arc_access_token"})[0]
    assert (record["status"], record["error_code"]) == ("failed", "AZCM0026")
    assert lab.state["arc"]["status"] == "Connected"
    lab.faults = ["arc_bad_credentials"]
    record = lab.apply({"name": "arc_disconnect", "force_local_only": False, "token": "arc_access_token"})[0]
    assert record["error_code"] == "AZCM0041"
    no_token = lab.apply({"name": "arc_disconnect", "force_local_only": False, "token": None})[0]
    assert no_token["status"] == "failed" and "no Arc access token" in no_token["detail"]
    lab.faults = ["arc_network", "arc_bad_credentials"]              # local only: nothing is sent
    local = lab.apply({"name": "arc_disconnect", "force_local_only": True, "token": None})[0]
    assert local["status"] == "ok" and lab.probe()["arc"]["status"] == "Disconnected"


# ---- the token never leaves the secrets ----

def _call(fqcn, source_path, language, steps, staged=()):
    source = (ROOT / "plugins" / "modules" / source_path).read_text(encoding="utf-8")
    return payload.ModuleCall(fqcn, {"operation": "apply", "steps": steps, "secrets": dict(SECRETS),
                                     "staged": list(staged)}, source, language)


def _everything_written(directory: pathlib.Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


@pytest.mark.parametrize("profile, fqcn, source, language, kind, staged", [
    ("windows_server_2022", "defender.endpoint.mde_host", "mde_host.ps1", "powershell", "arc",
     r"C:\Users\ansible\AppData\Local\Temp\AzureConnectedMachineAgent.msi"),
    ("rhel_9", "defender.endpoint.mde_host_linux", "mde_host_linux.py", "python", "arc_rpm",
     "/var/tmp/azcmagent.x86_64.rpm"),
])
def test_the_token_is_not_in_state_calls_or_staged_files(tmp_path, monkeypatch, profile, fqcn, source,
                                                         language, kind, staged):
    monkeypatch.setenv("MDE_LAB_STATE_DIR", str(tmp_path))
    data = package_factory.installer(kind, "1.47.0")
    store.stage("h1", staged, data)
    install = {"name": "install_arc_agent", "path": staged, "sha256": hashlib.sha256(data).hexdigest(),
               "file_name": staged.replace("\\", "/").rsplit("/", 1)[-1]}
    if language == "python":
        install["package_manager"] = "dnf"
    steps = [install, connect_step(tags={"env": "lab"}),
             {"name": "arc_disconnect", "force_local_only": False, "token": "arc_access_token"},
             connect_step(), connect_step()]
    result = host.execute("h1", profile, {}, [], _call(fqcn, source, language, steps, [staged]))
    assert [r["status"] for r in result["steps"]] == ["ok", "ok", "ok", "ok", "failed"], result
    assert result["steps"][-1]["error_code"] == "AZCM0067"
    assert result["facts"]["arc"]["status"] == "Connected"
    assert not (tmp_path / "h1" / "staged" / install["file_name"]).exists()
    assert TOKEN.encode() not in _everything_written(tmp_path)
    assert TOKEN not in json.dumps(result)
    calls = (tmp_path / "h1" / "calls.jsonl").read_text().splitlines()
    assert json.loads(calls[-1])["arg_names"] == ["operation", "secrets", "staged", "steps"]


# ---- the Azure side ----

class TinyArm:
    """A local HTTPS ARM that records each request and answers from a queue (default 201 / 200)."""

    def __init__(self, directory):
        self.tls = tls.make(directory)
        self.requests, self.answers = [], []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                url = urllib.parse.urlsplit(self.path)
                owner.requests.append({"method": self.command, "path": url.path,
                                       "query": urllib.parse.parse_qs(url.query),
                                       "authorization": self.headers.get("Authorization"),
                                       "body": json.loads(self.rfile.read(length) or b"null")})
                status, body = owner.answers.pop(0) if owner.answers else (201 if self.command == "PUT" else 200, {})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_PUT = do_DELETE = _serve  # noqa: N815

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.tls["cert"], self.tls["key"])
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tiny_arm(tmp_path, monkeypatch):
    server = TinyArm(tmp_path / "tls")
    monkeypatch.setenv("MDE_LAB_ARM_URL", server.url)
    monkeypatch.setenv("MDE_LAB_ARM_CA", server.tls["ca"])
    yield server
    server.stop()


def test_connect_puts_the_machine_as_the_agent_does(tiny_arm):
    lab = installed_windows(name="web01")
    scope = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/privateLinkScopes/pls"
    assert lab.apply(connect_step(tags={"env": "lab"}, private_link_scope=scope))[0]["status"] == "ok"
    (put,) = tiny_arm.requests
    assert put["method"] == "PUT"
    assert put["path"] == f"/subscriptions/{SUB}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/web01"
    assert put["query"] == {"api-version": ["2024-07-10"]}
    assert put["authorization"] == f"Bearer {TOKEN}"
    body = put["body"]
    assert (body["location"], body["tags"], body["identity"]) == ("westeurope", {"env": "lab"},
                                                                  {"type": "SystemAssigned"})
    props = body["properties"]
    assert (props["osType"], props["osName"], props["osVersion"], props["agentVersion"]) == (
        "windows", "Microsoft Windows Server 2022 Standard", "10.0.20348.2762", "1.47.02849.1883")
    assert props["privateLinkScopeResourceId"] == scope and len(props["vmId"]) == 36 and props["clientPublicKey"]
    record = lab.apply({"name": "arc_disconnect", "force_local_only": False, "token": "arc_access_token"})[0]
    assert record["status"] == "ok"
    assert (tiny_arm.requests[1]["method"], tiny_arm.requests[1]["path"]) == ("DELETE", put["path"])
    assert tiny_arm.requests[1]["authorization"] == f"Bearer {TOKEN}"


def test_local_only_disconnect_sends_nothing(tiny_arm):
    lab = installed_linux(name="db01")
    lab.apply(connect_step())
    body = tiny_arm.requests[0]["body"]
    assert body["properties"]["osType"] == "linux" and "privateLinkScopeResourceId" not in body["properties"]
    assert body["properties"]["osName"] == "Ubuntu 22.04.4 LTS" and body["tags"] == {}
    assert lab.apply({"name": "arc_disconnect", "force_local_only": True, "token": None})[0]["status"] == "ok"
    assert len(tiny_arm.requests) == 1


@pytest.mark.parametrize("status, code, error_code, arm_code", [
    (401, "InvalidAuthenticationToken", "AZCM0041", "InvalidAuthenticationToken"),
    (403, "AuthorizationFailed", None, "AuthorizationFailed"),
    (409, "MissingSubscriptionRegistration", None, "MissingSubscriptionRegistration"),
    (404, "ResourceGroupNotFound", None, "ResourceGroupNotFound"),
    (500, "InternalServerError", None, None),
])
def test_arm_answers_map_to_the_agent_outcome(tiny_arm, status, code, error_code, arm_code):
    tiny_arm.answers.append((status, {"error": {"code": code, "message": f"refused for token {TOKEN}"}}))
    lab = installed_windows()
    record = lab.apply(connect_step())[0]
    assert (record["status"], record["error_code"], record["arm_code"]) == ("failed", error_code, arm_code)
    assert code in record["detail"] and TOKEN not in record["detail"] and "********" in record["detail"]
    assert lab.probe()["arc"]["status"] == "Disconnected"
    assert TOKEN not in json.dumps(lab.state)


def test_unreachable_or_untrusted_arm_is_azcm0026(tiny_arm, tmp_path, monkeypatch):
    lab = installed_windows()
    monkeypatch.setenv("MDE_LAB_ARM_CA", tls.make(tmp_path / "other")["ca"])   # a CA that did not sign it
    assert lab.apply(connect_step())[0]["error_code"] == "AZCM0026"
    tiny_arm.stop()
    monkeypatch.setenv("MDE_LAB_ARM_CA", tiny_arm.tls["ca"])
    record = lab.apply(connect_step())[0]
    assert record["error_code"] == "AZCM0026" and tiny_arm.url in record["detail"]
    assert tiny_arm.requests == []


def test_delete_of_a_machine_azure_no_longer_has(tiny_arm):
    lab = installed_linux()
    lab.apply(connect_step())
    tiny_arm.answers.append((404, {"error": {"code": "ResourceNotFound", "message": "The machine was not found."}}))
    record = lab.apply({"name": "arc_disconnect", "force_local_only": False, "token": "arc_access_token"})[0]
    assert record["status"] == "failed" and "ResourceNotFound" in record["detail"]
    assert "--force-local-only" in record["detail"] and lab.state["arc"]["status"] == "Connected"


@pytest.fixture
def fake_azure(tmp_path, monkeypatch):
    fake = fake_server.FakeAzure(tmp_path / "azure").start()
    monkeypatch.setenv("MDE_LAB_ARM_URL", fake.url)
    monkeypatch.setenv("MDE_LAB_ARM_CA", fake.ca)
    yield fake
    fake.stop()


def _fake_machine(fake, name):
    return fake.resource(arc.machine_path(fake_server.SUBSCRIPTION, "rg-arc", name))


def test_against_the_fake_arm(fake_azure):
    fake_azure.add_resource_group("rg-arc")
    token = fake_azure.issue_token()
    lab = installed_windows(name="web01")
    record = lab.apply(connect_step(subscription_id=fake_server.SUBSCRIPTION, tags={"env": "lab"}),
                       secrets={"arc_access_token": token})[0]
    assert record["status"] == "ok", record
    machine = _fake_machine(fake_azure, "web01")
    assert machine and machine["tags"] == {"env": "lab"}
    assert lab.apply({"name": "arc_disconnect", "force_local_only": False, "token": "arc_access_token"},
                     secrets={"arc_access_token": token})[0]["status"] == "ok"
    assert _fake_machine(fake_azure, "web01") is None
    assert token not in fake_azure.log_path.read_text()


def test_the_fake_arm_refusals(fake_azure):
    token = fake_azure.issue_token()
    step = connect_step(subscription_id=fake_server.SUBSCRIPTION)
    secrets = {"arc_access_token": token}
    lab = installed_linux()
    assert lab.apply(step, secrets=secrets)[0]["arm_code"] == "ResourceGroupNotFound"
    fake_azure.add_resource_group("rg-arc")
    assert lab.apply(step, secrets={"arc_access_token": "not-issued"})[0]["error_code"] == "AZCM0041"
    fake_azure.unregister_provider()
    assert lab.apply(step, secrets=secrets)[0]["arm_code"] == "MissingSubscriptionRegistration"
    fake_azure.edit(lambda s: s.__setitem__("unregistered_providers", []))
    fake_azure.forbid_arc()
    record = lab.apply(step, secrets=secrets)[0]
    assert record["arm_code"] == "AuthorizationFailed" and record["error_code"] is None
    assert lab.state["arc"]["status"] == "Disconnected"
