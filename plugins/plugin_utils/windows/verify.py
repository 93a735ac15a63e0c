# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Did the Windows host reach the wanted state?  Pure checks of the facts read back after apply (R-50).

Internal use only: the interface may change without notice.
"""

from __future__ import annotations

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import host_view as _host_view
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.versions import os_release
from ansible_collections.defender.endpoint.plugins.plugin_utils.windows.plan import onboarded_to


def view_of(facts: dict, generation: str) -> dict:
    """The part of the host's state the Windows modules manage; used for diffs and results."""
    mma = facts.get("mma") or {}
    md4ws = _host_view.md4ws_product(facts)
    return {
        "onboarded_org": onboarded_to(facts, generation),
        "force_defender_passive_mode": (facts.get("mde") or {}).get("force_passive_mode"),
        "md4ws": md4ws.get("version") if md4ws else None,
        "defender_feature": (facts.get("defender") or {}).get("feature_installed"),
        "mma_workspaces": _host_view.mma_workspaces(facts) if mma.get("installed") else None,
    }


def verify_onboarded(facts: dict, generation: str, org_id: str | None, passive: bool | None,
                     workspace_id: str | None = None) -> tuple[list[str], list[str]]:
    """Return (problems, warnings).  No problem means onboarded and verified."""
    problems: list[str] = []
    warnings: list[str] = []
    mde = facts.get("mde") or {}
    if generation == "downlevel":
        if _host_view.service_state(facts, "HealthService") != "running":
            problems.append("the HealthService (Microsoft Monitoring Agent) is not running")
        if workspace_id and workspace_id.lower() not in (view_of(facts, generation)["mma_workspaces"] or []):
            problems.append(f"workspace {workspace_id} is not configured in the MMA")
        if not mde.get("mssense_process_running"):
            warnings.append("the MMA carries the workspace but the MDE sensor (MsSenseS.exe) is not running yet: the "
                            "service deploys it within about an hour (R-23); verify again later with mde_info.")
            return problems, warnings
    else:
        if _host_view.service_state(facts, "Sense") != "running":
            problems.append(f"the Sense service is {_host_view.service_state(facts, 'Sense') or 'missing'}, not running (R-50)")
        if generation == "unified" and _host_view.md4ws_product(facts) is None:
            problems.append("the unified solution (md4ws.msi) is not installed")
    if mde.get("onboarding_state") != 1:
        problems.append(f"OnboardingState is {mde.get('onboarding_state')}, not 1")
    current = _host_view.org_id(facts)
    if org_id and current != org_id:
        problems.append(f"the host reports org {current}, not the package's org {org_id}")
    mode = _host_view.av_running_mode(facts)
    defender = facts.get("defender") or {}
    if passive is True and mode not in (None, "passive", "sxs_passive") and not problems:
        problems.append(_not_passive(facts, mode))
    return problems, warnings


def _not_passive(facts: dict, mode: str) -> str:
    """Why Defender Antivirus is not passive although it must be, and what to do (R-14, R-30)."""
    others = facts.get("third_party_av") or []
    beside = f" beside {', '.join(others)}" if others else ""
    if (facts.get("defender") or {}).get("is_tamper_protected"):
        return (f"Defender Antivirus stays in {mode} mode{beside} although passive mode is needed (R-14, R-30): "
                "ForceDefenderPassiveMode is set but tamper protection keeps an already active device active; turn "
                "tamper protection off for this device in the Microsoft Defender portal or Intune (or exclude the "
                "device from the tamper protection policy), then run this task again")
    return f"Defender Antivirus runs in {mode} mode{beside} although passive mode was asked (R-30)"


def verify_offboarded(facts: dict, generation: str, uninstalled: bool) -> list[str]:
    problems = []
    if onboarded_to(facts, generation):
        problems.append("the sensor still reports as onboarded (Sense running, OnboardingState 1)")
    if uninstalled and generation == "unified" and _host_view.md4ws_product(facts) is not None:
        problems.append("the unified solution (md4ws.msi) is still installed")
    return problems


def verify_hardening(facts: dict, generation: str, network_protection: bool, thumbprint: str | None,
                     scep_cloud_protection: bool) -> list[str]:
    """The opt-in settings asked for are in place (R-24, R-41, R-42)."""
    hardening = facts.get("hardening") or {}
    problems = []
    if generation == "unified" and network_protection:
        if not _host_view.network_protection_on(facts):
            problems.append("network protection is not enabled (R-42)")
    if generation == "unified" and thumbprint and os_release(facts) == (6, 3) \
            and thumbprint not in (hardening.get("ca_thumbprints") or []):
        problems.append(f"the intermediate CA certificate {thumbprint} is not in Cert:\\LocalMachine\\Ca (R-41)")
    if generation == "downlevel" and scep_cloud_protection and _host_view.scep_product(facts) and hardening.get("scep_spynet_reporting") != 2:
        problems.append("SCEP cloud protection membership is not Advanced (R-24)")
    return problems
