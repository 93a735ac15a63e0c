# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plans of the two setting modules on Windows: defender_passive_mode (R-30/R-31) and mma_workspace
(R-23/R-25/R-62).

Internal use only: the interface may change without notice.
"""

from __future__ import annotations

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import host_view as _host_view
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.errors import Refused
from ansible_collections.defender.endpoint.plugins.plugin_utils.windows.plan import passive_step


def plan_passive(facts: dict, enabled: bool, force: bool) -> list[dict]:
    """Steps that make ForceDefenderPassiveMode say what is asked; refuses to leave passive mode beside another AV."""
    third_party = facts.get("third_party_av") or []
    if not enabled and third_party and not force:
        raise Refused(f"{', '.join(third_party)} is installed: leaving passive mode would run two real-time "
                      "anti-malware engines side by side (R-14); remove that product first, or set force: true.")
    return passive_step(facts, enabled)


def passive_outcome(facts: dict, enabled: bool) -> tuple[list[str], list[str]]:
    """(problems, warnings) once the value is set: the mode is only known while Sense runs (R-30)."""
    mode = _host_view.av_running_mode(facts)
    sense = ((facts.get("services") or {}).get("Sense") or {}).get("state")
    defender = facts.get("defender") or {}
    if sense != "running" or mode is None:
        return [], ["Defender Antivirus's running mode can only be confirmed once the Sense service runs (R-30): "
                    "it is confirmed after onboarding (mde_onboard, mde_info)."]
    if enabled and mode not in ("passive", "sxs_passive"):
        if defender.get("is_tamper_protected"):
            return [], [f"ForceDefenderPassiveMode is 1 but Defender Antivirus stays in {mode} mode: tamper "
                        "protection keeps an active device active; turn it off for this device in the Defender "
                        "portal to let it go passive."]
        return [f"Defender Antivirus runs in {mode} mode although ForceDefenderPassiveMode is 1"], []
    if not enabled and mode in ("passive", "sxs_passive"):
        return [f"Defender Antivirus is still in {mode} mode although ForceDefenderPassiveMode is 0"], []
    return [], []


def plan_workspace(facts: dict, workspace_id: str, present: bool, has_key: bool, cloud: str,
                   proxy: dict | None, reconfigure: bool) -> list[dict]:
    mma = facts.get("mma") or {}
    if not mma.get("installed"):
        raise Refused("the Microsoft Monitoring Agent is not installed on this host (no MonitoringHost.exe): install "
                      "it first (mde_onboard with installer on downlevel hosts, R-23).")
    if mma.get("com_error"):
        raise Refused(f"the MMA's configuration object AgentConfigManager.MgmtSvcCfg cannot be used: {mma['com_error']}")
    configured = workspace_id.lower() in _host_view.mma_workspaces(facts)
    if not present:
        return [{"name": "remove_mma_workspace", "workspace_id": workspace_id}] if configured else []
    if not has_key:
        raise Refused("workspace_key is required with state: present.")
    steps = []
    if proxy and (not configured or reconfigure):
        if mma.get("proxy_supported") is False:
            raise Refused("this agent's configuration object has no SetProxyInfo (an older MMA): set the proxy at "
                          "install time (OPINSIGHTS_PROXY_URL) or upgrade the agent.")
        steps.append({"name": "set_mma_proxy", "proxy_url": proxy["url"], "proxy_username": proxy.get("username") or "",
                      "password": "proxy_password"})
    if configured and reconfigure:
        # The key of a configured workspace cannot be read back: re-keying is remove, then add.
        steps.append({"name": "remove_mma_workspace", "workspace_id": workspace_id})
    if not configured or reconfigure:
        steps.append({"name": "add_mma_workspace", "workspace_id": workspace_id, "key": "workspace_key",
                      "cloud_type": 1 if cloud == "us_government" else 0})
    return steps
