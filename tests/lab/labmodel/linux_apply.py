"""What each step of the Linux executor's ``apply`` does to a modeled host with mdatp
(docs/linux-fleet.md).

Each function changes the state as the host and mdatp would and returns the step's record fields.
Time is compressed: mdatp gets its first definitions while someone waits for its health.
"""

from __future__ import annotations

import datetime
import re

from . import arc, linux
from .arc import arc_connect, arc_disconnect, arc_set_proxy  # the same steps on both platforms

ONBOARD_JSON = "/etc/opt/microsoft/mdatp/mdatp_onboard.json"
OFFBOARD_JSON = "/etc/opt/microsoft/mdatp/mdatp_offboard.json"
MDATP_VERSION = "101.24082.0004"
NOT_READY_SECONDS = 45          # how long the daemon stays unanswering under the fault mdatp_not_ready
_ORG = re.compile(r'orgId\\*"\s*:\s*\\*"([0-9a-fA-F-]{36})')
_EXPIRY = re.compile(r'expirationTimestamp\\*"\s*:\s*(\d+)')
_UNREACHABLE = "<urlopen error [Errno -3] Temporary failure in name resolution>"


class Context:
    """One apply call: the state, its faults, those already fired, the secrets, the staged files, the host's name."""

    def __init__(self, state, faults, fired, secrets, files=None, host="lab-host"):
        self.state, self.faults, self.fired, self.secrets = state, faults, fired, secrets
        self.files = files or (lambda path: None)
        self.host = host


def _apply_managed(state: dict) -> None:
    level = ((state["managed_config"] or {}).get("antivirusEngine") or {}).get("enforcementLevel")
    state["mdatp"]["passive_mode"] = level == "passive"


def setup_repository(ctx: Context, step: dict) -> dict:
    if "repo_unreachable" in ctx.faults:
        return {"ok": False, "detail": _UNREACHABLE}
    if step["package_manager"] != ctx.state["package_manager"]:
        return {"ok": False, "rc": 127, "detail": f"{step['package_manager']}: command not found"}
    ctx.state["repository"] = step["channel"]
    return {"ok": True, "rc": 0}


def install_package(ctx: Context, step: dict) -> dict:
    state = ctx.state
    if "repo_unreachable" in ctx.faults and state["repository"]:
        return {"ok": False, "rc": 100, "detail": "E: Failed to fetch mdatp: Temporary failure resolving"}
    if not state["repository"] and not state["host_repo_has_mdatp"]:
        return {"ok": False, "rc": 100, "detail": "E: Unable to locate package mdatp"}
    mdatp = state["mdatp"]
    mdatp.update(installed=True, version=step.get("version") or MDATP_VERSION, definitions_ready=False)
    _apply_managed(state)
    return {"ok": True, "rc": 0}


def remove_package(ctx: Context, step: dict) -> dict:
    if not ctx.state["mdatp"]["installed"]:
        return {"ok": False, "rc": 100, "detail": "Package 'mdatp' is not installed, so not removed"}
    ctx.state["mdatp"].update(installed=False, version=None)
    return {"ok": True, "rc": 0}


def merge_managed_config(ctx: Context, step: dict) -> dict:
    current = dict(ctx.state["managed_config"] or {})
    for section, values in step["settings"].items():
        merged = dict(current.get(section) or {})
        for key, value in values.items():
            secret = ((step.get("secret_settings") or {}).get(section) or {}).get(key)
            if secret is not None:                 # the value travels in the no_log secrets, not in the step
                value = ctx.secrets[secret]
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        current[section] = merged
    ctx.state["managed_config"] = current
    ctx.state["files"][linux.MANAGED_JSON] = "0600" if linux.holds_credentials(current) else "0644"
    _apply_managed(ctx.state)
    return {"ok": True}


def _expired(text: str) -> bool:
    match = _EXPIRY.search(text)
    if not match:
        return False
    expires = datetime.datetime(1601, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(
        microseconds=int(match.group(1)) // 10)
    return expires <= datetime.datetime.now(datetime.timezone.utc)


def write_secret_file(ctx: Context, step: dict) -> dict:
    text = ctx.secrets.get(step["secret"]) or ""
    org = _ORG.search(text)
    state = ctx.state
    state["files"][step["path"]] = step.get("mode", "0644")
    if step["path"] == ONBOARD_JSON:
        state["mdatp"]["onboarded_org"] = org.group(1).lower() if org else None
    elif step["path"] == OFFBOARD_JSON:
        # mdatp honours an offboarding file of its own org that has not expired; others are ignored.
        if org and org.group(1).lower() == state["mdatp"]["onboarded_org"] and not _expired(text):
            state["offboarding_json"] = True
    return {"ok": True}


def remove_file(ctx: Context, step: dict) -> dict:
    ctx.state["files"].pop(step["path"], None)
    if step["path"] == OFFBOARD_JSON:
        ctx.state["offboarding_json"] = False
    elif step["path"] == ONBOARD_JSON:
        ctx.state["mdatp"]["onboarded_org"] = None
    return {"ok": True}


def wait_health(ctx: Context, step: dict) -> dict:
    state, timeout = ctx.state, int(step.get("timeout", 300))
    if not state["mdatp"]["installed"]:
        return {"ok": False, "timed_out": True, "timeout": timeout, "detail": "mdatp: command not found"}
    if linux.not_ready(state, ctx.faults, ctx.fired):
        if timeout < NOT_READY_SECONDS:
            return {"ok": False, "timed_out": True, "timeout": timeout,
                    "detail": "Could not connect to daemon: the daemon is not running yet"}
        ctx.fired.add("mdatp_not_ready")
    state["mdatp"]["definitions_ready"] = True          # first definitions arrive while we wait
    health = linux.health(state)
    if step["until"] == "unlicensed":
        done = not health["licensed"]
    else:
        done = health["licensed"] and health["healthy"] and health["org_id"] == step.get("org_id")
    if done:
        return {"ok": True}
    return {"ok": False, "timed_out": True, "timeout": timeout, "detail": ", ".join(health["health_issues"])
            or f"licensed to {health['org_id']}"}


def av_detection(ctx: Context, step: dict) -> dict:
    """The EICAR test file: mdatp reports it when licensed, real-time protection on and not passive (R-52)."""
    state = ctx.state
    if not state["mdatp"]["installed"]:
        return {"ok": False, "detail": "mdatp: command not found"}
    state["detection_tests"] = state.get("detection_tests", 0) + 1
    health = linux.health(state)
    detected = bool(health["licensed"] and health["real_time_protection_enabled"]
                    and not health["passive_mode_enabled"] and "threat_not_reported" not in ctx.faults)
    record = {"ok": True, "rc": 0, "detected": detected, "path": "/tmp/defender.endpoint-eicar-lab.com",
              "timeout": int(step.get("timeout", 60))}
    if not detected:
        record["detail"] = f"mdatp threat list did not name {record['path']} within {record['timeout']} s"
    return record


def run_edr_script(ctx: Context, step: dict) -> dict:
    """Microsoft's mde_linux_edr_diy script, staged by the controller: the lab records that it ran."""
    ctx.state["edr_scripts"] = ctx.state.get("edr_scripts", []) + [step["path"]]
    return {"ok": True, "rc": 0}


def install_arc_agent(ctx: Context, step: dict) -> dict:
    """The staged azcmagent .deb / .rpm, or the azcmagent package from the configured repositories."""
    if step.get("from_repository"):
        return arc.install_linux_repository(ctx.state, step, ctx.faults)
    return arc.install_linux_file(ctx.state, step, ctx.files(step["path"]))


STEPS = {f.__name__: f for f in (setup_repository, install_package, remove_package, merge_managed_config,
                                 write_secret_file, remove_file, wait_health, av_detection, run_edr_script,
                                 install_arc_agent, arc_set_proxy, arc_connect, arc_disconnect)}


def apply(ctx: Context, steps: list[dict]) -> list[dict]:
    records, stop = [], False
    for step in steps:
        record = {"name": step.get("name"), "status": "skipped", "rc": None}
        if not stop:
            if step.get("name") not in STEPS:
                raise KeyError(f"mde_lab: step {step.get('name')!r} is not modeled")
            outcome = STEPS[step["name"]](ctx, step)
            record.update({k: v for k, v in outcome.items() if k != "ok"})
            record["status"] = "ok" if outcome["ok"] else "failed"
            stop = not outcome["ok"]
        records.append(record)
    return records
