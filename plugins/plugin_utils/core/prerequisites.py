# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prerequisites per generation (R-10 to R-15), checked from the probe's facts before any change.

Internal use only: the interface may change without notice.

``check(facts, generation)`` returns ``(missing, warnings)``: ``missing`` is a list of dicts
``{id, requirement, found, remedy, spec}`` -- each one blocks onboarding of that host -- and
``warnings`` a list of sentences that do not block.
"""

from __future__ import annotations

from ansible_collections.defender.endpoint.plugins.plugin_utils.core.versions import version_tuple
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.errors import Refused
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.host_view import md4ws_product

DOTNET_45_RELEASE = 378389          # .NET Framework 4.5 "Release" value
TDH_KB3080149 = (6, 3, 9600, 17958)  # Tdh.dll version that KB3080149 brings (2012 R2)
UBR_2016_LCU_2018_09_20 = 2515       # 14393.2515 = KB4457127, the 2018-09-20 cumulative update
UBR_2016_SSU_2021_09_14 = 4651       # 14393.4651 = the 2021-09-14 cumulative update, which requires that SSU
DEFENDER_PLATFORM_UPDATED = (4, 18)  # KB4052623 moves the platform from the in-box 4.10 to 4.18.x
LINUX_MIN_FREE_MB = 2048
# Said wherever the MMA is met: mde_info, mde_onboard on downlevel hosts, mma_workspace.
MMA_RETIRED = ("the Microsoft Monitoring Agent was retired on 31 August 2024: it gets no more fixes; move "
               "2012 R2/2016 hosts to the unified solution (mde_onboard with remove_mma_workspace, R-70) and "
               "the others to Defender for Cloud through Azure Arc (R-71..R-73).")


def _item(ident, requirement, found, remedy, spec):
    return {"id": ident, "requirement": requirement, "found": found, "remedy": remedy, "spec": spec}


def _has_kb(facts, kb):
    return kb.upper() in {str(h).upper() for h in facts.get("hotfixes") or []}


def _service(facts, name):
    return (facts.get("services") or {}).get(name)


def _common_windows(facts, missing, installing):
    if installing and facts.get("pending_reboot"):
        missing.append(_item("pending_reboot", "no reboot pending before an installer runs",
                             "a reboot is pending", "reboot the host, then run again", "R-20"))
    if (facts.get("defender") or {}).get("disable_antispyware_policy"):
        missing.append(_item("defender_disabled_by_policy", "Defender Antivirus not disabled by Group Policy",
                             "policy DisableAntiSpyware=1",
                             "remove the DisableAntiSpyware policy (Group Policy or registry), then run again",
                             "R-12"))


def _downlevel(facts, missing, warnings):
    version = version_tuple((facts.get("os") or {}).get("version"))[:2]
    mma = facts.get("mma") or {}
    if version == (6, 1):
        if not _has_kb(facts, "KB4074598"):
            missing.append(_item("KB4074598", "February 2018 monthly rollup KB4074598", "not installed",
                                 "install KB4074598 (or a later monthly rollup listing it)", "R-10"))
        release = facts.get("dotnet_release")
        if not (release and int(release) >= DOTNET_45_RELEASE) and not _has_kb(facts, "KB3154518"):
            found = f".NET release {release}" if release else "no .NET Framework 4.x"
            missing.append(_item("dotnet45_or_KB3154518", ".NET Framework 4.5 or later, or KB3154518 (TLS system default)",
                                 found, "install .NET Framework 4.5+ (may need a reboot) or KB3154518; never .NET 4.0.x",
                                 "R-10"))
    if not _has_kb(facts, "KB3080149"):
        missing.append(_item("KB3080149", "update for customer experience and diagnostic telemetry KB3080149",
                             "not installed", "install KB3080149", "R-10"))
    _common_windows(facts, missing, installing=not mma.get("installed"))
    warnings.append(MMA_RETIRED)


def _unified(facts, missing, warnings):
    os_facts = facts.get("os") or {}
    version = version_tuple(os_facts.get("version"))[:2]
    installing = md4ws_product(facts) is None
    if os_facts.get("architecture") not in (None, "64-bit"):
        missing.append(_item("64bit", "a 64-bit operating system", os_facts.get("architecture"),
                             "the unified solution installs on 64-bit Windows only", "R-20"))
    if version == (6, 3):
        if not facts.get("ucrt_version") and not _has_kb(facts, "KB2999226"):
            missing.append(_item("UCRT", "Universal C Runtime update (KB2999226)", "ucrtbase.dll not found",
                                 "install the monthly rollup or KB2999226", "R-11"))
        tdh = version_tuple(facts.get("tdh_version"))
        if not _has_kb(facts, "KB3080149") and tdh < TDH_KB3080149:
            missing.append(_item("KB3080149", "KB3080149 (Tdh.dll 6.3.9600.17958 or later)",
                                 f"Tdh.dll {facts.get('tdh_version') or 'missing'}",
                                 "install the monthly rollup or KB3080149", "R-11"))
        if not _has_kb(facts, "KB5006714"):
            warnings.append("KB5006714 (October 2021 rollup) is not listed: network events will not show in the "
                            "device timeline until it is installed (R-11).")
    else:
        ubr = int(os_facts.get("ubr") or 0)
        if not _has_kb(facts, "KB5005698") and ubr < UBR_2016_SSU_2021_09_14:
            missing.append(_item("SSU_2021_09_14", "servicing stack update of 2021-09-14 or later",
                                 f"build 14393.{ubr}", "install the latest servicing stack update", "R-12"))
        if ubr < UBR_2016_LCU_2018_09_20:
            missing.append(_item("LCU_2018_09_20", "cumulative update of 2018-09-20 or later (14393.2515)",
                                 f"build 14393.{ubr}", "install the latest cumulative update", "R-12"))
        defender = facts.get("defender") or {}
        windefend = _service(facts, "WinDefend")
        if not defender.get("feature_installed") or not windefend:
            missing.append(_item("defender_feature", "the Windows-Defender feature installed",
                                 "feature not installed", "install the Windows-Defender feature "
                                 "(Install-WindowsFeature Windows-Defender), reboot, then run again", "R-12"))
        elif windefend.get("start_type") == "disabled" or defender.get("am_service_enabled") is False:
            missing.append(_item("defender_enabled", "Defender Antivirus enabled", "WinDefend disabled",
                                 "re-enable Defender Antivirus (MpCmdRun.exe -wdenable), then run again", "R-12"))
        elif version_tuple(defender.get("am_product_version")) < DEFENDER_PLATFORM_UPDATED:
            missing.append(_item("KB4052623", "Defender Antivirus platform up to date (KB4052623, 4.18 or later)",
                                 f"platform {defender.get('am_product_version')}",
                                 "install the platform update KB4052623", "R-12"))
    _common_windows(facts, missing, installing)


def _modern(facts, missing, warnings):
    if not _service(facts, "Sense"):
        missing.append(_item("sense_service", "the built-in Sense service", "service not found",
                             "the OS image lacks the built-in sensor; repair the image or apply the latest "
                             "cumulative update", "R-22"))


def _linux(facts, missing, warnings):
    free = facts.get("free_disk_mb")
    if free is not None and int(free) < LINUX_MIN_FREE_MB:
        missing.append(_item("disk_space", f"{LINUX_MIN_FREE_MB} MB free under /opt", f"{free} MB free",
                             "free disk space under /opt", "R-51"))
    for conflict in facts.get("fanotify_conflicts") or []:
        warnings.append(f"process {conflict.get('comm')} (pid {conflict.get('pid')}) holds a fanotify watch: "
                        "another real-time anti-malware product runs; Defender must run in passive mode (R-14).")


def _third_party(facts, warnings):
    for product in facts.get("third_party_av") or []:
        warnings.append(f"third-party anti-malware {product} is present: Defender Antivirus must run in passive "
                        "mode during install and onboarding, and the other product should exclude Defender's "
                        "processes (R-14).")


_CHECKS = {"downlevel": _downlevel, "unified": _unified, "modern": _modern, "linux": _linux}


def check(facts: dict, generation: str) -> tuple[list[dict], list[str]]:
    """Return (missing prerequisites, warnings) for a host of the given generation."""
    missing: list[dict] = []
    warnings: list[str] = []
    checker = _CHECKS.get(generation)
    if checker:
        checker(facts, missing, warnings)
        _third_party(facts, warnings)
    return missing, warnings


def refuse_missing_prerequisites(facts: dict, generation: str, fixed_by_plan=()) -> None:
    """Refuse, listing every missing item with what to do, before anything is changed (R-10..R-16); items in
    ``fixed_by_plan`` are fixed by the plan's own steps and do not block it."""
    missing, _warnings = check(facts, generation)
    blocking = [m for m in missing if m["id"] not in fixed_by_plan]
    if blocking:
        items = "; ".join(f"{m['requirement']} (found: {m['found']}; {m['remedy']}, {m['spec']})" for m in blocking)
        raise Refused(f"prerequisites missing, nothing was changed: {items}.")
