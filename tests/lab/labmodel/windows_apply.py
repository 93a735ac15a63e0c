"""What each step of the Windows executor's ``apply`` does to a modeled host (R-12..R-62; docs/generations.md).

Each function changes the state as Windows would and returns what the executor reports for the step:
``{"ok": bool, "rc": ..., "detail": ..., "reboot_required": ..., ...}``.  A step name the model does not
know is an error.  Faults (tests/lab/README.md) change what the host does, never what the step asks.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re

from . import arc, windows
from .arc import arc_connect, arc_disconnect, arc_set_proxy  # the same steps on both platforms

# The lab's cloud: which Log Analytics workspace is the MDE workspace of which org.
MDE_WORKSPACE_ORGS = {"11111111-2222-4333-8444-555555555555": "00000000-1111-4222-8333-444444444444"}
MD4WS_PRODUCT_CODE = windows.MD4WS_PRODUCT_CODE
MMA_PRODUCT_CODE = windows.MMA_PRODUCT_CODE
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ORG = re.compile(r'orgId\\*"\s*:\s*\\*"([0-9a-fA-F-]{36})')
_EXPIRY = re.compile(r'expirationTimestamp\\*"\s*:\s*(\d+)')


class Context:
    """One apply call: the host's state, its faults, the faults already fired, its staged files, the secrets."""

    def __init__(self, state, faults, fired, files, secrets, timeout=900, host="lab-host"):
        self.state, self.faults, self.fired, self.files, self.secrets = state, faults, fired, files, secrets
        self.timeout, self.host = timeout, host

    def fault(self, name: str, once: bool = False) -> bool:
        if name not in self.faults or (once and name in self.fired):
            return False
        if once:
            self.fired.add(name)
        return True


def _is_2012_r2(state) -> bool:
    return state["os"]["version"].startswith("6.3") and state["os"]["product_type"] != 1


def _is_2016(state) -> bool:
    return state["os"]["build"] == 14393


def installer_bytes(product: str, version: str) -> bytes:
    """A signed installer already on the host (mde_lab_state host_files), as the executor would read it."""
    names = {"md4ws": "Microsoft Defender for Endpoint", "arc": arc.ARC_PRODUCT_NAME}
    name = names.get(product, "Microsoft Monitoring Agent")
    magic = _OLE_MAGIC if product in ("md4ws", "arc") else b"MZ"
    return magic + f"\nProductName={name}\nProductVersion={version}\n".encode()


def _read_installer(ctx: Context, step: dict, product: str) -> tuple[dict | None, dict | None]:
    """Return (product facts, failure record) of the staged installer, checked as the executor checks it."""
    data = ctx.files(step["path"])
    if data is None:
        return None, {"ok": False, "rc": None, "detail": f"file not found: {step['path']}"}
    if step.get("sha256") and hashlib.sha256(data).hexdigest() != step["sha256"].lower():
        return None, {"ok": False, "rc": None, "detail": "the staged file does not match its sha256"}
    magic = _OLE_MAGIC if product == "md4ws" else b"MZ"
    if not data.startswith(magic):
        # Get-AuthenticodeSignature on a file that is not a signed PE/MSI: NotSigned (install.ps1 exit 15).
        return None, {"ok": False, "rc": None, "signature": "NotSigned"}
    if ctx.fault("installer_unsigned"):
        return None, {"ok": False, "rc": None, "signature": "HashMismatch"}
    facts = dict(line.split("=", 1) for line in data.decode("latin-1").splitlines() if "=" in line)
    return facts, None


def set_passive_mode(ctx: Context, step: dict) -> dict:
    state = ctx.state
    tamper = state["defender"]["tamper_protected"] or "tamper_protected" in ctx.faults
    if step["value"] == 1 and tamper and windows.running_mode(state) == "Normal" and windows.sensor_running(state):
        state["defender"]["stays_active"] = True     # an active, tamper-protected device stays active
    if step["value"] == 0:
        state["defender"]["stays_active"] = False
    state["passive_mode"] = int(step["value"])
    return {"ok": True}


def enable_defender_feature(ctx: Context, step: dict) -> dict:
    state = ctx.state
    if not _is_2016(state) and state["os"]["build"] < 14393:
        return {"ok": False, "detail": "Install-WindowsFeature: feature name Windows-Defender is unknown"}
    state["defender"].update(present=True, feature_installed=True, enabled=True)
    state["pending_reboot"] = True
    return {"ok": True, "reboot_required": True}


def _msiexec(ctx: Context, success) -> dict:
    if "installer_hang" in ctx.faults:
        # msiexec never returns: the executor stops it at the step's timeout; the install never happened.
        return {"ok": False, "rc": None, "timed_out": True, "timeout": ctx.timeout}
    attempts = 1
    if ctx.fault("msi_busy", once=True):
        attempts = 2                                     # 1618 on the first attempt, retried by the executor
    if "msi_busy_always" in ctx.faults:
        return {"ok": False, "rc": 1618, "attempts": 3}
    result = success()
    result["attempts"] = attempts
    return result


def install_msi(ctx: Context, step: dict) -> dict:
    facts, failure = _read_installer(ctx, step, "md4ws")
    if failure:
        return failure
    state = ctx.state

    def run():
        if _is_2016(state) and not state["defender"]["present"]:
            return {"ok": False, "rc": 1603, "detail": "Microsoft Defender Antivirus feature is not installed"}
        if _is_2012_r2(state) and "mpasdesc_310" in ctx.faults:
            return {"ok": False, "rc": 1603,
                    "detail": r"Cannot find c:\program files\windows defender\mpasdesc.dll, -310 WinDefend"}
        state["md4ws"] = {"installed": True, "version": facts.get("ProductVersion")}
        if _is_2012_r2(state):                         # md4ws brings Defender Antivirus to 2012 R2
            state["defender"].update(present=True, enabled=True, platform_version="4.18.24090.11")
        if "FORCEPASSIVEMODE=1" in step.get("properties", ""):
            state["passive_mode"] = 1
        if "msi_reboot_required" in ctx.faults:
            state["pending_reboot"] = True
            return {"ok": True, "rc": 3010, "reboot_required": True}
        return {"ok": True, "rc": 0}
    return _msiexec(ctx, run)


def uninstall_msi(ctx: Context, step: dict) -> dict:
    state = ctx.state

    def run():
        code = step["product_code"]
        if code == MD4WS_PRODUCT_CODE and state["md4ws"]["installed"]:
            if state["defender"]["tamper_protected"] or "tamper_protected" in ctx.faults:
                return {"ok": False, "rc": 1603, "detail": "tamper protection blocked the removal"}
            if windows.sensor_running(state) and not state["mma"]["installed"]:
                return {"ok": False, "rc": 1603, "detail": "the device is still onboarded"}
            state["md4ws"] = {"installed": False, "version": None}
            if _is_2012_r2(state):
                state["defender"].update(present=False, enabled=False, platform_version=None)
            return {"ok": True, "rc": 0}
        if code == MMA_PRODUCT_CODE and state["mma"]["installed"]:
            state["mma"] = dict(state["mma"], installed=False, version=None, workspaces=[])
            if not windows.sense_present(state):
                state["onboarded_org"] = None
            return {"ok": True, "rc": 0}
        return {"ok": False, "rc": 1605, "detail": "this action is only valid for products that are installed"}
    return _msiexec(ctx, run)


def install_mma(ctx: Context, step: dict) -> dict:
    facts, failure = _read_installer(ctx, step, "mma")
    if failure:
        return failure
    ctx.state["mma"] = dict(ctx.state["mma"], installed=True, version=facts.get("ProductVersion"))
    return {"ok": True, "rc": 0}


def _com(ctx: Context) -> dict | None:
    if not ctx.state["mma"]["installed"]:
        return {"ok": False, "detail": "Retrieving the COM class factory for component AgentConfigManager.MgmtSvcCfg "
                                       "failed: 80040154 Class not registered"}
    return None


def add_mma_workspace(ctx: Context, step: dict) -> dict:
    failure = _com(ctx)
    if failure:
        return failure
    key = ctx.secrets.get(step["key"])
    if not key:
        return {"ok": False, "detail": "AddCloudWorkspace: the workspace key is empty"}
    workspace = step["workspace_id"].lower()
    mma = ctx.state["mma"]
    mma["workspaces"] = [w for w in mma["workspaces"] if w["id"] != workspace] + [{"id": workspace}]
    if workspace in MDE_WORKSPACE_ORGS:            # the cloud deploys MsSenseS (compressed from about an hour)
        ctx.state["onboarded_org"] = MDE_WORKSPACE_ORGS[workspace]
        ctx.state["offboarding_value"] = False
    return {"ok": True}


def remove_mma_workspace(ctx: Context, step: dict) -> dict:
    failure = _com(ctx)
    if failure:
        return failure
    workspace = step["workspace_id"].lower()
    mma = ctx.state["mma"]
    mma["workspaces"] = [w for w in mma["workspaces"] if w["id"] != workspace]
    if workspace in MDE_WORKSPACE_ORGS and not windows.sense_present(ctx.state):
        ctx.state["onboarded_org"] = None             # the MMA-delivered sensor stops with its workspace
    return {"ok": True}


def set_mma_proxy(ctx: Context, step: dict) -> dict:
    failure = _com(ctx)
    if failure:
        return failure
    ctx.state["mma"]["proxy"] = step.get("proxy_url") or None
    return {"ok": True}


def import_certificate(ctx: Context, step: dict) -> dict:
    data = ctx.files(step["path"])
    if data is None:
        return {"ok": False, "detail": f"file not found: {step['path']}"}
    if data.startswith(b"-----BEGIN"):
        body = b"".join(line for line in data.splitlines() if line and not line.startswith(b"-----"))
        data = base64.b64decode(body)
    if not data.startswith(b"\x30"):
        return {"ok": False, "detail": "Import-Certificate: the file is not a valid certificate"}
    thumbprint = hashlib.sha1(data).hexdigest().upper()  # nosec - a certificate thumbprint is SHA-1 by definition
    if thumbprint not in ctx.state["ca_thumbprints"]:
        ctx.state["ca_thumbprints"].append(thumbprint)
    return {"ok": True}


def set_network_protection(ctx: Context, step: dict) -> dict:
    if not windows.defender_present(ctx.state):
        return {"ok": False, "detail": "Set-MpPreference: the term 'Set-MpPreference' is not recognized"}
    ctx.state["network_protection"] = {"EnableNetworkProtection": "Enabled", "AllowNetworkProtectionOnWinServer": 1,
                                       "AllowNetworkProtectionDownLevel": 1, "AllowDatagramProcessingOnWinServer": 1}
    return {"ok": True}


def set_scep_cloud_protection(ctx: Context, step: dict) -> dict:
    ctx.state["scep"]["spynet_reporting"] = 2
    return {"ok": True}


def detection_test(ctx: Context, step: dict) -> dict:
    ctx.state["detection_tests"] += 1
    return {"ok": True, "rc": 1}     # the download from 127.0.0.1 fails; the command line is what is detected


def _expired(script: str) -> bool:
    match = _EXPIRY.search(script)
    if not match:
        return False
    expires = datetime.datetime(1601, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(
        microseconds=int(match.group(1)) // 10)
    return expires <= datetime.datetime.now(datetime.timezone.utc)


def run_script(ctx: Context, step: dict) -> dict:
    script = ctx.secrets.get(step["script"]) or ""
    state = ctx.state
    org = _ORG.search(script)
    # cmd.exe is case-insensitive: REG add, reg add and %windir%\System32\reg.exe add are the same command.
    if not org or not re.search(r"\breg(?:\.exe)?\s+add\b", script, re.IGNORECASE):
        return {"ok": False, "rc": 1, "detail": "the script holds no package"}
    org = org.group(1).lower()
    if re.search(r"^[ \t@]*pause\b", script, re.MULTILINE | re.IGNORECASE):
        return {"ok": False, "rc": None, "timed_out": True, "timeout": 0, "detail": "the script waits for a key"}
    if step["kind"] == "onboarding":
        state["offboarding_value"] = False
        state["onboarding_info_org"] = org
        if not windows.sense_present(state) or "sense_start_timeout" in ctx.faults:
            return {"ok": False, "rc": 15}           # SENSE never reached RUNNING within 5 x 5 s
        state["onboarded_org"] = org
        return {"ok": True, "rc": 0}
    # Offboarding: deletes OnboardingInfo, writes the offboarding value; an expired or foreign package is
    # rejected by the device, so Sense keeps running and the script's wait for STOPPED fails.
    state["onboarding_info_org"] = None
    state["offboarding_value"] = True
    if _expired(script) or (state["onboarded_org"] and state["onboarded_org"] != org):
        return {"ok": False, "rc": 15}
    state["onboarded_org"] = None
    return {"ok": True, "rc": 0}


def install_arc_agent(ctx: Context, step: dict) -> dict:
    """msiexec of AzureConnectedMachineAgent.msi, checked (sha256, Authenticode) as install_msi is."""
    facts, failure = arc.read_windows_msi(ctx.files(step["path"]), step)
    if failure:
        return failure
    if ctx.fault("installer_unsigned"):
        return {"ok": False, "rc": None, "signature": "HashMismatch"}

    def run():
        result = arc.install_windows(ctx.state, facts)
        if "msi_reboot_required" in ctx.faults:
            ctx.state["pending_reboot"] = True
            result.update(rc=3010, reboot_required=True)
        return result
    return _msiexec(ctx, run)


STEPS = {f.__name__: f for f in (set_passive_mode, enable_defender_feature, install_msi, uninstall_msi, install_mma,
                                 add_mma_workspace, remove_mma_workspace, set_mma_proxy, run_script,
                                 import_certificate, set_network_protection, set_scep_cloud_protection,
                                 detection_test, install_arc_agent, arc_set_proxy, arc_connect, arc_disconnect)}


def apply(ctx: Context, steps: list[dict], staged: list[str], drop_after_first: bool) -> list[dict]:
    """Run the steps in order as the executor does; stop at the first failure or at a needed restart."""
    records, stop = [], False
    for index, step in enumerate(steps):
        record = {"name": step.get("name"), "status": "skipped", "rc": None, "reboot_required": False}
        if not stop:
            if step.get("name") not in STEPS:
                raise KeyError(f"mde_lab: step {step.get('name')!r} is not modeled")
            outcome = STEPS[step["name"]](ctx, step)
            record.update({k: v for k, v in outcome.items() if k != "ok"})
            record["status"] = "ok" if outcome["ok"] else "failed"
            stop = not outcome["ok"] or (record["reboot_required"] and step.get("stop_if_reboot"))
        records.append(record)
        if drop_after_first and index == 0:
            raise ConnectionAbortedError("the WinRM connection dropped during apply (fault "
                                         "'connection_drop_during_apply')")
    for path in staged:
        ctx.files(path, delete=True)
    return records


def json_safe(records: list[dict]) -> list[dict]:
    return json.loads(json.dumps(records))
