"""What a Windows host answers to the executor's probe, from its modeled state (sensor, Defender Antivirus, md4ws,
MMA, the Connected Machine agent, Defender for Identity's sensor)."""

from __future__ import annotations

from . import arc

MD4WS_NAME = "Microsoft Defender for Endpoint"
MMA_NAME = "Microsoft Monitoring Agent"
MD4WS_PRODUCT_CODE = "{6C1C3A4F-8E0B-4F5A-9D2E-3B7A1C0D2E4F}"
MMA_PRODUCT_CODE = "{88EE688B-31C6-4B90-90DF-FBB345223F94}"
MD4WS_PLATFORM_VERSION = "4.18.24090.11"   # the anti-malware platform md4ws.msi brings (as windows_apply installs)


def _service(state_name: str, start: str = "auto") -> dict:
    return {"state": state_name, "start_type": start}


def sense_present(state: dict) -> bool:
    return bool(state["sense_builtin"] or state["md4ws"]["installed"])


def defender_present(state: dict) -> bool:
    # 2012 R2 gains Defender AV from md4ws.msi; 2016+ and 8.1 ship it.
    return bool(state["defender"]["present"] or state["md4ws"]["installed"])


def sensor_running(state: dict) -> bool:
    if not state["onboarded_org"] or state["offboarding_value"]:
        return False
    return sense_present(state) or state["mma"]["installed"]


def running_mode(state: dict, faults=None) -> str | None:
    """AMRunningMode; ``faults`` given: an active device kept active by tamper protection goes passive once
    tamper protection is off (the policy value then applies)."""
    if not defender_present(state):
        return None
    if not state["defender"]["enabled"]:
        return "Not running"
    stays = state["defender"].get("stays_active")
    if faults is not None and not (state["defender"]["tamper_protected"] or "tamper_protected" in faults):
        stays = False
    # passive only through the policy value, and only confirmed once Sense runs.
    if (state["passive_mode"] == 1 and sensor_running(state) and sense_present(state)
            and not stays):
        return "Passive Mode"
    return "Normal"


def _host_paths(state: dict, paths) -> dict:
    """Installers asked about at probe: a file of host_files exists, and its format shows in its first bytes."""
    found = []
    for path in paths or ():
        on_host = state["host_files"].get(path)
        found.append({"path": path, "exists": bool(on_host),
                      "format": {"md4ws": "msi", "mma": "exe", "arc": "msi"}.get(on_host.get("product"))
                      if on_host else None})
    return found


def probe(state: dict, av_services: list[str], faults: list[str] = (), paths=()) -> dict:
    defender = state["defender"]
    tamper = bool(defender["tamper_protected"] or "tamper_protected" in faults)
    services = {"Sense": None, "WinDefend": None, "WdNisSvc": None, "HealthService": None}
    if sense_present(state):
        services["Sense"] = _service("running" if sensor_running(state) else "stopped",
                                     "auto" if sensor_running(state) else "manual")
    if defender_present(state):
        on = defender["enabled"]
        services["WinDefend"] = _service("running" if on else "stopped", "auto" if on else "disabled")
        services["WdNisSvc"] = _service("running" if on else "stopped", "manual")
    if state["mma"]["installed"]:
        services["HealthService"] = _service("running")
    facts_defender = {"feature_installed": defender["feature_installed"],
                      "disable_antispyware_policy": defender["disable_antispyware_policy"]}
    if defender_present(state):
        facts_defender.update({
            "am_running_mode": running_mode(state, faults),
            "am_product_version": defender["platform_version"] or MD4WS_PLATFORM_VERSION,
            "am_service_enabled": defender["enabled"], "antivirus_enabled": defender["enabled"],
            "real_time_protection_enabled": defender["enabled"] and running_mode(state, faults) == "Normal",
            "is_tamper_protected": tamper,
        })
    onboarded = sensor_running(state)
    products = []
    if state["md4ws"]["installed"]:
        products.append({"name": MD4WS_NAME, "version": state["md4ws"]["version"],
                         "product_code": MD4WS_PRODUCT_CODE})
    if state["scep"]["installed"]:
        products.append({"name": "System Center Endpoint Protection", "version": "4.10.209.0",
                         "product_code": "{A1D7A2B6-4B3C-4E0C-9E2B-5C8D3F1A7E60}"})
    if state["mma"]["installed"]:
        products.append({"name": MMA_NAME, "version": state["mma"]["version"],
                         "product_code": MMA_PRODUCT_CODE})
    return {
        "platform": "windows",
        "os": dict(state["os"]),
        "hotfixes": list(state["hotfixes"]),
        "dotnet_release": state["dotnet_release"],
        "ucrt_version": "10.0.14393.2990" if state["ucrt"] else None,
        "tdh_version": state["tdh_version"],
        "services": services,
        "defender": facts_defender,
        "mde": {
            "onboarding_info_org_id": (None if state["offboarding_value"]
                                       else state["onboarding_info_org"] or state["onboarded_org"]),
            "offboarding_value_present": bool(state["offboarding_value"]),
            "force_passive_mode": state["passive_mode"],
            "onboarding_state": 1 if onboarded else (0 if state["offboarding_value"] else None),
            "status_org_id": state["onboarded_org"],
            "sense_start": (2 if onboarded else 3) if sense_present(state) else None,
            "telemetry_proxy_server": state["telemetry_proxy"],
            "mssense_process_running": onboarded and not sense_present(state),
        },
        "products": products,
        "mma": {"installed": state["mma"]["installed"], "proxy_supported": True if state["mma"]["installed"] else None,
                "workspaces": [{"workspace_id": w["id"], "connection_status": "Connected"}
                               for w in state["mma"]["workspaces"]]},
        "third_party_av": [name for name in av_services if name in state["third_party_av"]],
        "pending_reboot": state["pending_reboot"],
        "free_disk_mb": state["free_disk_mb"],
        "powershell_version": "5.1.17763.1",
        "staging_dir": "C:\\Users\\ansible\\AppData\\Local\\Temp\\",
        "host_paths": _host_paths(state, paths),
        "arc": arc.arc_facts(state),
        "azure_vm": arc.azure_vm(state),
        "mdi": arc.mdi_facts(state, onboarded and sense_present(state)),
        "hardening": {
            "ca_thumbprints": list(state["ca_thumbprints"]),
            "scep_spynet_reporting": state["scep"]["spynet_reporting"],
            "mp_preference": None if not defender_present(state) else {
                "enable_network_protection": 1 if state["network_protection"].get("EnableNetworkProtection") else 0,
                "allow_network_protection_on_win_server": bool(
                    state["network_protection"].get("AllowNetworkProtectionOnWinServer")),
                "allow_network_protection_down_level": bool(
                    state["network_protection"].get("AllowNetworkProtectionDownLevel")),
                "allow_datagram_processing_on_win_server": bool(
                    state["network_protection"].get("AllowDatagramProcessingOnWinServer")),
            },
        },
    }
