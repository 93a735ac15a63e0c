# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the executors' facts: is the host onboarded, to which org, in which antivirus mode.

Internal use only: the interface may change without notice.
"""

from __future__ import annotations

import re

_MD4WS = re.compile(r"^Microsoft Defender for (Windows Server|Endpoint)", re.IGNORECASE)
_MMA = re.compile(r"^Microsoft Monitoring Agent", re.IGNORECASE)
_SCEP = re.compile(r"^(System Center( 2012)? Endpoint Protection|Microsoft Security Client)", re.IGNORECASE)
_RUNNING_MODES = {
    "normal": "normal", "passive mode": "passive", "passive": "passive", "edr block mode": "edr_block",
    "sxs passive mode": "sxs_passive", "not running": "not_running",
}


def _product(facts: dict, pattern) -> dict | None:
    for product in facts.get("products") or []:
        if pattern.match(str(product.get("name") or "")):
            return product
    return None


def md4ws_product(facts: dict) -> dict | None:
    """The installed unified-solution product (md4ws.msi), if any."""
    return _product(facts, _MD4WS)


def mma_product(facts: dict) -> dict | None:
    return _product(facts, _MMA)


def scep_product(facts: dict) -> dict | None:
    """System Center Endpoint Protection, the antivirus of some downlevel hosts (R-24)."""
    return _product(facts, _SCEP)


def mma_workspaces(facts: dict) -> list[str]:
    """Workspace ids configured in the MMA, lower case, sorted."""
    return sorted(str(w.get("workspace_id", "")).lower() for w in (facts.get("mma") or {}).get("workspaces") or [])


def network_protection_on(facts: dict) -> bool:
    """The four R-42 settings are in place (EnableNetworkProtection Enabled and the three server switches)."""
    pref = (facts.get("hardening") or {}).get("mp_preference") or {}
    return bool(pref.get("enable_network_protection") == 1 and pref.get("allow_network_protection_on_win_server")
                and pref.get("allow_network_protection_down_level")
                and pref.get("allow_datagram_processing_on_win_server"))


def managed_setting(facts: dict, section: str, key: str):
    """One value of mdatp's managed configuration (mdatp_managed.json) on a Linux host, or None."""
    return ((facts.get("managed_config") or {}).get(section) or {}).get(key)


def service_state(facts: dict, name: str) -> str | None:
    service = (facts.get("services") or {}).get(name)
    return service.get("state") if service else None


def windows_onboarded(facts: dict) -> bool:
    """Status\\OnboardingState=1 and a running sensor: Sense, or MsSenseS.exe under the MMA (downlevel)."""
    mde = facts.get("mde") or {}
    sensor = service_state(facts, "Sense") == "running" or bool(mde.get("mssense_process_running"))
    return mde.get("onboarding_state") == 1 and sensor


def mdatp_health(facts: dict) -> dict:
    """``mdatp health`` as the Linux probe read it, or {} when mdatp is absent or did not answer."""
    return (facts.get("mdatp") or {}).get("health") or {}


def org_id(facts: dict) -> str | None:
    if facts.get("platform") == "linux":
        value = mdatp_health(facts).get("org_id")
        if value and value != "unavailable":
            return str(value).lower()
        return None
    mde = facts.get("mde") or {}
    value = mde.get("status_org_id") or mde.get("onboarding_info_org_id")
    return str(value).lower() if value else None


def onboarded(facts: dict) -> bool:
    if facts.get("platform") == "linux":
        return bool(mdatp_health(facts).get("licensed")) and org_id(facts) is not None
    return windows_onboarded(facts)


def av_running_mode(facts: dict) -> str | None:
    """normal | passive | edr_block | sxs_passive | not_running, or None when unknown."""
    if facts.get("platform") == "linux":
        health = mdatp_health(facts)
        if not health:
            return None
        if health.get("passive_mode_enabled"):
            return "passive"
        return "normal" if health.get("real_time_protection_enabled") else "on_demand"
    mode = (facts.get("defender") or {}).get("am_running_mode")
    if mode is None:
        return None
    return _RUNNING_MODES.get(str(mode).strip().lower(), str(mode))


def common_state(facts: dict) -> dict:
    return {"onboarded": onboarded(facts), "org_id": org_id(facts),
            "av_running_mode": av_running_mode(facts)}


def _running(service: dict | None) -> bool:
    return bool(service) and service.get("state") == "running"


def defender_for_identity(facts: dict) -> dict | None:
    """A domain controller's Defender for Identity sensor (R-80), or None on other hosts.

    v2: the AATPSensor and AATPSensorUpdater services.  v3 (runs inside Defender for Endpoint, Windows Server 2019
    and later): ready when AATPSensorUpdater and Sense run, OnboardingInfo is present and SenseMachineId is set.
    """
    os_facts = facts.get("os") or {}
    if facts.get("platform") == "linux" or os_facts.get("product_type") != 2:
        return None
    mdi = facts.get("mdi") or {}
    services = mdi.get("services") or {}
    sensor, updater = services.get("AATPSensor"), services.get("AATPSensorUpdater")
    version = mdi.get("sensor_version")
    if sensor:
        ready = _running(sensor) and _running(updater)
        reason = ("the v2 sensor runs (AATPSensor and AATPSensorUpdater)" if ready else
                  "the v2 sensor is installed but not running: start AATPSensor and AATPSensorUpdater, or read the "
                  "sensor's logs")
        return {"domain_controller": True, "sensor": "v2", "version": version, "running": ready, "ready": ready,
                "reason": reason}
    modern = int(os_facts.get("build") or 0) >= 17763
    onboarding = bool((facts.get("mde") or {}).get("onboarding_info_org_id"))
    parts = {"Windows Server 2019 or later": modern, "AATPSensorUpdater running": _running(updater),
             "Sense running": service_state(facts, "Sense") == "running", "OnboardingInfo present": onboarding,
             "SenseMachineId set": bool(mdi.get("sense_machine_id"))}
    missing = [name for name, ok in parts.items() if not ok]
    if not missing:
        return {"domain_controller": True, "sensor": "v3", "version": version, "running": True, "ready": True,
                "reason": "ready for the v3 sensor (it runs inside Defender for Endpoint)"}
    return {"domain_controller": True, "sensor": None, "version": None, "running": False, "ready": False,
            "reason": f"no Defender for Identity sensor: the v2 sensor is not installed, and for v3 this host lacks "
                      f"{', '.join(missing)} (docs/defender-for-identity.md)"}
