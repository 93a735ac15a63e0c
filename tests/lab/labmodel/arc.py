# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The Azure Connected Machine agent (azcmagent) on a lab host, and Defender for Identity's v2 sensor on Windows.

Built from Microsoft's documentation of the agent (docs/requirements.md): what ``azcmagent show -j`` reports, what
``azcmagent connect`` / ``disconnect`` / ``config set proxy.url`` do and print, and the AZCM error codes.  The
records the steps return are the executor's: ``rc``, ``error_code`` (the first AZCM code the agent printed),
``arm_code`` (an ARM error code the output names), ``detail`` (the agent's last output line, the access token
never in it).

When ``MDE_LAB_ARM_URL`` is set (and ``MDE_LAB_ARM_CA`` names the CA file that signed its certificate), connect and
disconnect send the agent's requests to that Azure Resource Manager stand-in (tests/lab/README.md, "the lab's Azure
side"); without it, connecting is local only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import ssl
import urllib.error
import urllib.request
import uuid

ARC_PRODUCT_NAME = "Azure Connected Machine Agent"
ARC_PACKAGE = "azcmagent"
ARC_VERSION = "1.47.02849.1883"        # what a from-repository install brings (a made-up build number)
API_VERSION = "2024-07-10"
ARM_TIMEOUT = 30
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
PACKAGE_MAGIC = {"deb": b"!<arch>\n", "rpm": b"\xed\xab\xee\xdb"}
FORMAT_OF = {"apt-get": "deb", "dnf": "rpm", "yum": "rpm", "zypper": "rpm"}
NOT_FOUND_RC = {"apt-get": 100, "dnf": 1, "yum": 1, "zypper": 104}
ARM_CODES = ("AuthorizationFailed", "MissingSubscriptionRegistration", "ResourceGroupNotFound",
             "InvalidAuthenticationToken")
MASK = "********"
_AZCM = re.compile(r"AZCM\d{4}")
# The user and password of a URL, shown as ******** as the executor shows them.
_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")

# The lab's assumption of the platforms the agent refuses (AZCM0153): Windows 7 SP1, Windows 8.1 and Windows
# Server 2008 R2 without SP1.  Checked on a real host with `azcmagent check`, which reports what the agent says.
UNSUPPORTED = (("6.1.", 1), ("6.3.", 1), ("6.1.7600", None))

NOT_INSTALLED = {"installed": False, "version": None, "status": None, "resource_name": None, "resource_group": None,
                 "subscription_id": None, "tenant_id": None, "location": None, "cloud": None, "proxy": None,
                 "private_link_scope": None, "error_code": None, "error_details": None, "tags": None,
                 "correlation_id": None, "vm_id": None}
_AZURE_FIELDS = ("resource_name", "resource_group", "subscription_id", "tenant_id", "location", "cloud",
                 "private_link_scope", "tags", "correlation_id")
MDI_NONE = {"sensor": None, "version": None, "running": False}


def ensure(state: dict) -> dict:
    """A state.json written before the lab modeled the agent gets its defaults (not installed, no sensor)."""
    state.setdefault("arc", dict(NOT_INSTALLED))
    for key, value in NOT_INSTALLED.items():
        state["arc"].setdefault(key, value)
    state.setdefault("azure_vm", False)
    if state.get("platform") == "windows":
        state.setdefault("mdi", dict(MDI_NONE))
    return state


# ---- facts ----

def resource_id(arc: dict) -> str | None:
    if not (arc.get("subscription_id") and arc.get("resource_group") and arc.get("resource_name")):
        return None
    return machine_path(arc["subscription_id"], arc["resource_group"], arc["resource_name"])


def machine_path(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines/{name}"


def arc_facts(state: dict) -> dict:
    """What the executor reads from ``azcmagent show -j`` (and the HIMDS / himdsd service)."""
    arc = state["arc"]
    facts = {"installed": bool(arc["installed"]), "agent_version": None, "status": None, "resource_name": None,
             "resource_group": None, "subscription_id": None, "tenant_id": None, "location": None, "cloud": None,
             "resource_id": None, "https_proxy": None, "private_link_scope": None, "error_code": None,
             "error_details": None, "service": None, "show_error": None}
    if not arc["installed"]:
        return facts
    fields = ("resource_name", "resource_group", "subscription_id", "tenant_id", "location", "cloud",
              "private_link_scope", "error_code")
    facts.update({key: arc.get(key) or None for key in fields})
    facts.update(agent_version=arc["version"], status=arc["status"] or "Disconnected", resource_id=resource_id(arc),
                 https_proxy=masked_url(arc["proxy"]),
                 error_details=(arc.get("error_details") or "")[:300] or None,
                 service={"state": "running", "start_type": "auto"})
    return facts


def masked_url(url: str | None) -> str | None:
    return _CREDENTIALS.sub(r"\1" + MASK + "@", url) if url else None


def azure_vm(state: dict) -> bool:
    return bool(state.get("azure_vm"))


def mdi_facts(state: dict, sense_onboarded: bool) -> dict:
    """Defender for Identity on Windows: the v2 sensor's services and version folder, and SenseMachineId."""
    mdi = state["mdi"]
    services = {"AATPSensor": None, "AATPSensorUpdater": None}
    if mdi["sensor"] == "v2":
        service = {"state": "running" if mdi["running"] else "stopped", "start_type": "auto"}
        services = {"AATPSensor": dict(service), "AATPSensorUpdater": dict(service)}
    return {"services": services, "sensor_version": mdi["version"] if mdi["sensor"] else None,
            "sense_machine_id": bool(sense_onboarded)}


def unsupported(state: dict) -> bool:
    """The lab's assumption of the platforms the agent refuses with AZCM0153 (tests/lab/README.md)."""
    if state["platform"] != "windows":
        return False
    version, product_type = state["os"]["version"], state["os"]["product_type"]
    for prefix, kind in UNSUPPORTED:
        if version.startswith(prefix) and (kind is None or product_type == kind):
            return True
    return False


# ---- the records the executor returns ----

def _mask(text: str, token: str | None) -> str:
    return text.replace(token, MASK) if token else text


def agent_record(rc: int | None, lines: list[str], token: str | None = None, **extra) -> dict:
    """The step record the executor builds from the agent's exit code and output."""
    output = _CREDENTIALS.sub(r"\1" + MASK + "@", _mask("\n".join(lines), token))
    code = _AZCM.search(output)
    arm = next((name for name in ARM_CODES if name in output), None)
    last = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), None)
    record = {"ok": rc == 0, "rc": rc, "error_code": code.group(0) if code else None, "arm_code": arm,
              "detail": last[:300] if last else None}
    record.update(extra)
    return record


def _not_installed() -> dict:
    """Both executors look for azcmagent before running it."""
    return {"ok": False, "rc": None, "error_code": None, "arm_code": None,
            "detail": "azcmagent is not installed on this host: run the install_arc_agent step first."}


def _no_token(step: dict) -> dict:
    """Both executors refuse before running azcmagent when the step's secrets key holds no token."""
    return {"ok": False, "rc": None, "error_code": None, "arm_code": None,
            "detail": f"no Arc access token was given (secrets key {step.get('token')}): pass the token obtained "
                      "on the controller."}


def _fatal(message: str, token: str | None = None) -> dict:
    return agent_record(1, ["INFO    Connecting machine to Azure... This might take a few minutes.",
                            f"FATAL   {message}"], token)


def _remember_error(arc: dict, record: dict) -> dict:
    """``show -j`` reports the error of the agent's last connect or disconnect (none after a success)."""
    arc["error_code"] = record["error_code"]
    arc["error_details"] = record["detail"] if not record["ok"] else None
    return record


# ---- install ----

def _package_facts(data: bytes) -> dict:
    return dict(line.split("=", 1) for line in data.decode("latin-1").splitlines() if "=" in line)


def _installed(state: dict, version: str | None) -> None:
    state["arc"].update(installed=True, version=version or ARC_VERSION,
                        status=state["arc"]["status"] or "Disconnected")


def read_windows_msi(data: bytes | None, step: dict) -> tuple[dict | None, dict | None]:
    """The staged AzureConnectedMachineAgent.msi checked as the executor's Test-Installer does (sha256, signature),
    then by the lab: an MSI of another product is refused (a controller bug the lab makes visible)."""
    if data is None:
        return None, {"ok": False, "rc": None, "detail": f"file not found: {step['path']}"}
    if step.get("sha256") and hashlib.sha256(data).hexdigest() != step["sha256"].lower():
        return None, {"ok": False, "rc": None, "detail": "the staged file does not match its sha256"}
    if not data.startswith(OLE_MAGIC):
        return None, {"ok": False, "rc": None, "signature": "NotSigned"}
    facts = _package_facts(data)
    if facts.get("ProductName") != ARC_PRODUCT_NAME:
        return None, {"ok": False, "rc": None, "detail": f"mde_lab: {step['path']} is the installer of "
                                                         f"{facts.get('ProductName')!r}, not the {ARC_PRODUCT_NAME}"}
    return facts, None


def install_windows(state: dict, facts: dict) -> dict:
    """msiexec succeeded: the agent, its HIMDS service and azcmagent.exe are there, not connected."""
    _installed(state, facts.get("ProductVersion"))
    return {"ok": True, "rc": 0}


def _linux_manager(state: dict, step: dict) -> dict | None:
    manager = step.get("package_manager")
    if manager != state["package_manager"]:
        return {"ok": False, "rc": 127, "detail": f"{manager}: command not found"}
    return None


def install_linux_file(state: dict, step: dict, data: bytes | None) -> dict:
    """``apt-get install -y <path>`` / ``dnf|yum|zypper install -y <path>`` of a staged azcmagent package."""
    if data is None:
        return {"ok": False, "rc": None, "detail": f"file not found: {step['path']}"}
    if step.get("sha256") and hashlib.sha256(data).hexdigest() != step["sha256"].lower():
        return {"ok": False, "rc": None, "detail": "the staged file does not match its sha256"}
    failure = _linux_manager(state, step)
    if failure:
        return failure
    manager = state["package_manager"]
    wanted = FORMAT_OF.get(manager)
    if not data.startswith(PACKAGE_MAGIC.get(wanted, b"\0\0")):
        if manager == "apt-get":
            return {"ok": False, "rc": 100, "detail": f"E: Unsupported file {step['path']} given on commandline"}
        return {"ok": False, "rc": 1, "detail": f"Error: Can not load RPM file: {step['path']}."}
    facts = _package_facts(data)
    if facts.get("Package") != ARC_PACKAGE:
        return {"ok": False, "rc": None, "detail": f"mde_lab: {step['path']} is the package "
                                                   f"{facts.get('Package')!r}, not {ARC_PACKAGE}"}
    _installed(state, facts.get("Version"))
    return {"ok": True, "rc": 0}


def install_linux_repository(state: dict, step: dict, faults) -> dict:
    """The azcmagent package from the host's configured repositories (Microsoft's, as mdatp's set-up adds it)."""
    failure = _linux_manager(state, step)
    if failure:
        return failure
    manager, package = state["package_manager"], step.get("package") or ARC_PACKAGE
    rc = NOT_FOUND_RC.get(manager, 1)
    if state["repository"] and "repo_unreachable" in faults:
        detail = (f"E: Failed to fetch {package}: Temporary failure resolving 'packages.microsoft.com'"
                  if manager == "apt-get" else
                  "Error: Failed to download metadata for repo 'packages-microsoft-com-prod'")
        return {"ok": False, "rc": rc, "detail": detail}
    if not state["repository"] or package != ARC_PACKAGE:
        details = {"apt-get": f"E: Unable to locate package {package}", "zypper": f"No provider of '{package}' found."}
        detail = details.get(manager, f"Error: Unable to find a match: {package}")
        return {"ok": False, "rc": rc, "detail": detail}
    _installed(state, ARC_VERSION)
    return {"ok": True, "rc": 0}


# ---- proxy ----

def set_proxy(state: dict, step: dict) -> dict:
    """``azcmagent config set proxy.url <url>`` / ``azcmagent config clear proxy.url``."""
    if not state["arc"]["installed"]:
        return _not_installed()
    url = step.get("proxy_url") or None
    state["arc"]["proxy"] = url
    if url:
        return agent_record(0, [f"INFO    Config property proxy.url set to value {masked_url(url)}"])
    return agent_record(0, ["INFO    Config property proxy.url cleared"])


# ---- the Azure side ----

class ArmUnreachable(Exception):
    """The request never got an HTTP answer (connection refused, TLS failure, timeout)."""


def arm_url() -> str | None:
    return os.environ.get("MDE_LAB_ARM_URL") or None


def arm_request(method: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    """One request to the lab's ARM: (status, JSON body or {})."""
    url = f"{arm_url().rstrip('/')}{path}?api-version={API_VERSION}"
    context = ssl.create_default_context(cafile=os.environ.get("MDE_LAB_ARM_CA") or None)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                                              "Content-Type": "application/json"})
    try:
        with opener.open(request, timeout=ARM_TIMEOUT) as answer:
            return answer.status, _json(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _json(exc.read())
    except (urllib.error.URLError, ssl.SSLError, OSError) as exc:
        raise ArmUnreachable(str(getattr(exc, "reason", exc))) from None


def _json(data: bytes) -> dict:
    try:
        value = json.loads(data or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _arm_error(body: dict) -> str:
    error = body.get("error") or {}
    return ": ".join(part for part in (error.get("code"), error.get("message")) if part)


def machine_body(state: dict, step: dict) -> dict:
    """What the agent PUTs for the machine: its identity, OS facts and a fresh public key."""
    windows = state["platform"] == "windows"
    os_facts = state["os"]
    properties = {
        "osType": "windows" if windows else "linux",
        "osName": os_facts["name"] if windows else os_facts["pretty_name"],
        "osVersion": f"{os_facts['version']}.{os_facts.get('ubr') or 0}" if windows else os_facts["kernel"],
        "agentVersion": state["arc"]["version"],
        "vmId": state["arc"].get("vm_id") or str(uuid.uuid4()),
        "clientPublicKey": base64.b64encode(os.urandom(64)).decode(),
    }
    if step.get("private_link_scope"):
        properties["privateLinkScopeResourceId"] = step["private_link_scope"]
    return {"location": step["location"], "tags": dict(step.get("tags") or {}),
            "identity": {"type": "SystemAssigned"}, "properties": properties}


def _arm_failure(status: int, body: dict, verb: str) -> str:
    error = _arm_error(body) or f"HTTP {status}"
    if status == 401:
        return f"AZCM0041: The credentials supplied are invalid: {error}"
    return f"Failed to {verb} the Azure resource: {error}"


# ---- connect / disconnect ----

def _token(step: dict, secrets: dict) -> str | None:
    name = step.get("token")
    value = secrets.get(name) if name else None
    return value if isinstance(value, str) and value else None


def _network_error(where: str = "https://management.azure.com",
                   reason: str = "dial tcp: lookup management.azure.com: no such host") -> str:
    return f"AZCM0026: Network Error: Failed to reach {where}: {reason}"


def _connect_refusal(state: dict, step: dict, faults, name: str) -> str | None:
    """The FATAL message the agent ends with before reaching ARM, or None."""
    if unsupported(state) or "arc_unsupported_os" in faults:
        os_name = state["os"].get("name") or state["os"].get("pretty_name")
        return f"AZCM0153: This operating system is not supported by the Azure Connected Machine agent: {os_name}."
    if "arc_network" in faults:
        return _network_error()
    if "arc_bad_credentials" in faults:
        return "AZCM0041: The credentials supplied are invalid. Acquire a new access token and try again."
    path = machine_path(step["subscription_id"], step["resource_group"], name)
    if "arc_forbidden" in faults:
        return ("Failed to create the Azure resource: AuthorizationFailed: The client lacks the role Azure Connected "
                f"Machine Onboarding for action 'Microsoft.HybridCompute/machines/write' over scope '{path}'.")
    if "arc_provider_unregistered" in faults:
        return ("Failed to create the Azure resource: MissingSubscriptionRegistration: The subscription is not "
                "registered to use namespace 'Microsoft.HybridCompute'.")
    if "arc_name_exists" in faults:
        return (f"AZCM0044: A resource with the name '{name}' already exists in resource group "
                f"'{step['resource_group']}'. Use --resource-name to give this machine another name.")
    return None


def _arm_connect(state: dict, step: dict, token: str, name: str) -> str | None:
    path = machine_path(step["subscription_id"], step["resource_group"], name)
    body = machine_body(state, step)
    try:
        status, answer = arm_request("PUT", path, token, body)
    except ArmUnreachable as exc:
        return _network_error(arm_url(), str(exc))
    state["arc"]["vm_id"] = body["properties"]["vmId"]
    if status in (200, 201):
        return None
    return _arm_failure(status, answer, "create")


def connect(state: dict, step: dict, secrets: dict, faults, host: str) -> dict:
    """``azcmagent connect --config <file>``: the machine becomes an Arc resource (or the agent says why not)."""
    arc = state["arc"]
    token = _token(step, secrets)
    if token is None:
        return _no_token(step)
    if not arc["installed"]:
        return _not_installed()
    if arc["status"] in ("Connected", "Expired"):   # a refused connect leaves the agent as it is
        return _fatal("AZCM0067: The machine is already connected to Azure. Run 'azcmagent disconnect' first to "
                      "connect it to another resource.", token)
    name = step.get("resource_name") or host
    refusal = _connect_refusal(state, step, faults, name)
    if refusal is None and arm_url():
        refusal = _arm_connect(state, step, token, name)
    if refusal is not None:
        return _remember_error(arc, _fatal(refusal, token))
    arc.update(status="Connected", resource_name=name, resource_group=step["resource_group"],
               subscription_id=step["subscription_id"], tenant_id=step["tenant_id"], location=step["location"],
               cloud=step.get("cloud") or "AzureCloud", private_link_scope=step.get("private_link_scope") or None,
               tags=dict(step["tags"]) if step.get("tags") else None, correlation_id=step.get("correlation_id"),
               vm_id=arc.get("vm_id") or str(uuid.uuid4()))
    rid = resource_id(arc)
    return _remember_error(arc, agent_record(0, [
        "INFO    Connecting machine to Azure... This might take a few minutes.",
        "INFO    Testing connectivity to endpoints that are needed to connect to Azure... This might take a few "
        "minutes.",
        f"INFO    Creating resource in Azure... Correlation ID={step.get('correlation_id') or uuid.uuid4()} "
        f"Resource ID={rid}",
        "INFO    Connected machine to Azure",
        f"INFO    Machine overview page: https://portal.azure.com/#@{step['tenant_id']}/resource{rid}/overview",
    ], token))


def _disconnected(arc: dict) -> None:
    arc.update({key: None for key in _AZURE_FIELDS})
    arc["status"] = "Disconnected"


def _arm_disconnect(arc: dict, token: str) -> str | None:
    try:
        status, answer = arm_request("DELETE", resource_id(arc), token)
    except ArmUnreachable as exc:
        return _network_error(arm_url(), str(exc))
    if status in (200, 202, 204):
        return None
    if status == 404:
        return (f"Failed to delete the Azure resource: {_arm_error(answer) or 'ResourceNotFound'}. Use "
                "--force-local-only to disconnect the machine locally.")
    return _arm_failure(status, answer, "delete")


def disconnect(state: dict, step: dict, secrets: dict, faults) -> dict:
    """``azcmagent disconnect --config <file>`` (deletes the Azure resource) or ``--force-local-only``."""
    arc = state["arc"]
    if not step.get("force_local_only") and _token(step, secrets) is None:
        return _no_token(step)
    if not arc["installed"]:
        return _not_installed()
    if arc["status"] not in ("Connected", "Expired"):
        return agent_record(1, ["FATAL   The machine is not connected to Azure; there is nothing to disconnect."])
    if step.get("force_local_only"):
        _disconnected(arc)
        return _remember_error(arc, agent_record(0, [
            "INFO    Disconnecting the machine locally; its resource in Azure is left as it is.",
            "INFO    Successfully disconnected the machine locally"]))
    token = _token(step, secrets)
    refusal = None
    if "arc_network" in faults:
        refusal = _network_error()
    elif "arc_bad_credentials" in faults:
        refusal = "AZCM0041: The credentials supplied are invalid. Acquire a new access token and try again."
    elif arm_url():
        refusal = _arm_disconnect(arc, token)
    if refusal is not None:
        return _remember_error(arc, agent_record(1, [f"FATAL   {refusal}"], token))
    _disconnected(arc)
    return _remember_error(arc, agent_record(0, ["INFO    Deleting resource from Azure...",
                                                 "INFO    Successfully disconnected the machine from Azure"], token))


# ---- The agent's steps as both apply models call them (ctx: their Context, with state, secrets, faults, host) ----

def arc_set_proxy(ctx, step: dict) -> dict:
    return set_proxy(ctx.state, step)


def arc_connect(ctx, step: dict) -> dict:
    return connect(ctx.state, step, ctx.secrets, ctx.faults, ctx.host)


def arc_disconnect(ctx, step: dict) -> dict:
    return disconnect(ctx.state, step, ctx.secrets, ctx.faults)
