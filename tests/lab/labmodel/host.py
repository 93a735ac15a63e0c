"""Answer one module call on one lab host: validate it as the module would, then answer from the model."""

from __future__ import annotations

from . import linux, payload, profiles, store, windows

EXECUTORS = {
    "windows": "defender.endpoint.mde_host",
    "linux": "defender.endpoint.mde_host_linux",
}


class LabHostError(Exception):
    """The host answered with a failure (the module ran and failed)."""


def execute(host: str, profile: str, overrides: dict, faults: list[str], call: payload.ModuleCall) -> dict:
    platform = profiles.PROFILES[profile]["platform"] if profile in profiles.PROFILES else None
    entry = {"module": call.fqcn, "operation": call.params.get("operation"), "check_mode": call.check_mode,
             "arg_names": sorted(call.params)}
    with store.locked(host):
        try:
            if call.fqcn != EXECUTORS.get(platform):
                raise LabHostError(f"mde_lab: module {call.fqcn} is not modeled on a {platform} host "
                                   f"(known: {EXECUTORS.get(platform)})")
            payload.validate(call)
            state = store.load(host, lambda: profiles.initial_state(profile, overrides))
            if "probe_error" in faults:
                raise LabHostError("Get-WmiObject : Invalid class \"Win32_OperatingSystem\""
                                   if platform == "windows" else "/etc/os-release: Input/output error")
            if call.params.get("operation") == "probe":
                facts = (windows.probe(state, call.params.get("av_services") or [])
                         if platform == "windows" else linux.probe(state, faults))
                result = {"changed": False, "facts": facts}
            else:
                raise LabHostError(f"mde_lab: operation {call.params.get('operation')!r} is not modeled")
        except (LabHostError, payload.PayloadError, KeyError) as exc:
            store.log_call(host, dict(entry, outcome="failed"))
            return {"failed": True, "msg": str(exc).strip('"')}
        store.log_call(host, dict(entry, outcome="ok"))
        return result
