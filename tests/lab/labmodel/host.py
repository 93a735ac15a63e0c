"""Answer one module call on one lab host: validate it as the module would, then answer from the model."""

from __future__ import annotations

from . import arc, linux, linux_apply, payload, profiles, store, windows, windows_apply

EXECUTORS = {
    "windows": "defender.endpoint.mde_host",
    "linux": "defender.endpoint.mde_host_linux",
}


class LabHostError(Exception):
    """The host answered with a failure (the module ran and failed)."""


class ConnectionDropped(Exception):
    """The connection broke while the module ran: the caller sees an unreachable host."""


def _apply_linux(host: str, state: dict, faults: list[str], params: dict) -> dict:
    fired = store.fired_faults(host)
    ctx = linux_apply.Context(state, faults, fired, params.get("secrets") or {},
                              files=lambda path: store.staged_file(host, path), host=host)
    records = linux_apply.apply(ctx, params.get("steps") or [])
    for path in params.get("staged") or []:
        store.staged_file(host, path, delete=True)
    store.save(host, state)
    store.save_fired(host, fired)
    return {"changed": any(r["status"] == "ok" for r in records), "steps": records,
            "facts": linux.probe(state, faults, fired)}


def _apply_windows(host: str, state: dict, faults: list[str], params: dict) -> dict:
    fired = store.fired_faults(host)
    drop = "connection_drop_during_apply" in faults and "connection_drop_during_apply" not in fired
    if drop:
        fired.add("connection_drop_during_apply")

    def files(path, delete=False):
        on_host = state["host_files"].get(path)
        if on_host and not delete:
            return windows_apply.installer_bytes(on_host["product"], on_host.get("version", "1.0"))
        return store.staged_file(host, path, delete)

    ctx = windows_apply.Context(state, faults, fired, files, params.get("secrets") or {}, params.get("timeout", 900),
                                host=host)
    try:
        records = windows_apply.apply(ctx, params.get("steps") or [], params.get("staged") or [], drop)
    except ConnectionAbortedError as exc:
        store.save(host, state)          # what ran before the drop stays done, as on a real host
        store.save_fired(host, fired)
        raise ConnectionDropped(str(exc)) from None
    store.save(host, state)
    store.save_fired(host, fired)
    return {"changed": any(r["status"] == "ok" for r in records), "steps": windows_apply.json_safe(records),
            "facts": windows.probe(state, params.get("av_services") or [], faults)}


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
            state = arc.ensure(store.load(host, lambda: profiles.initial_state(profile, overrides)))
            if "probe_error" in faults:
                raise LabHostError("Get-WmiObject : Invalid class \"Win32_OperatingSystem\""
                                   if platform == "windows" else "/etc/os-release: Input/output error")
            operation = call.params.get("operation")
            if operation == "probe":
                params = call.params
                facts = (windows.probe(state, params.get("av_services") or [], faults, params.get("paths"))
                         if platform == "windows" else linux.probe(state, faults, store.fired_faults(host),
                                                                   params.get("secrets")))
                result = {"changed": False, "facts": facts}
            elif operation == "apply" and call.check_mode:
                raise LabHostError("apply is never sent in check mode")
            elif operation == "apply" and platform == "windows":
                result = _apply_windows(host, state, faults, call.params)
            elif operation == "apply":
                result = _apply_linux(host, state, faults, call.params)
            else:
                raise LabHostError(f"mde_lab: operation {call.params.get('operation')!r} is not modeled")
        except ConnectionDropped:
            store.log_call(host, dict(entry, outcome="connection_dropped"))
            raise
        except (LabHostError, payload.PayloadError, KeyError) as exc:
            store.log_call(host, dict(entry, outcome="failed"))
            return {"failed": True, "msg": str(exc).strip('"')}
        store.log_call(host, dict(entry, outcome="ok"))
        return result
