"""Default state of each lab profile: a fully patched host of that OS with nothing of MDE added
beyond what the OS itself ships (Sense built in on 2019 and later; Defender AV on 2016 and later,
and on Windows 8.1).  ``mde_lab_state`` is merged over these defaults (tests/lab/README.md)."""

from __future__ import annotations

import copy

from . import arc

_NO_MDE = {
    "md4ws": {"installed": False, "version": None},
    "mma": {"installed": False, "version": None, "workspaces": [], "proxy": None},
    "onboarded_org": None,
    "onboarding_info_org": None,   # org of the OnboardingInfo policy value, when it differs from onboarded_org
    "offboarding_value": False,
    "passive_mode": None,          # ForceDefenderPassiveMode: None (absent), 0 or 1
    "third_party_av": [],          # Windows service names of other anti-malware products
    "pending_reboot": False,
    "free_disk_mb": 40000,
    "telemetry_proxy": None,
    "ca_thumbprints": [],          # certificates in the LocalMachine CA store
    "network_protection": {},      # Set-MpPreference values set so far, by parameter name
    "scep": {"installed": False, "spynet_reporting": None},   # System Center Endpoint Protection
    "detection_tests": 0,          # times the R-52 detection command ran
    "host_files": {},              # installers already on the host: {path: {"product": md4ws|mma|arc, "version"}}
    "arc": copy.deepcopy(arc.NOT_INSTALLED),   # the Azure Connected Machine agent (labmodel/arc.py)
    "azure_vm": False,             # the SMBIOS asset tag of an Azure VM
    "mdi": copy.deepcopy(arc.MDI_NONE),        # Defender for Identity's sensor: {sensor: null|"v2", version, running}
}

_DEFENDER_NONE = {"present": False, "feature_installed": None, "enabled": False, "platform_version": None,
                  "tamper_protected": False, "disable_antispyware_policy": False, "stays_active": False}


def _defender(feature_installed=True, platform_version="4.18.24090.11"):
    return {"present": True, "feature_installed": feature_installed, "enabled": True,
            "platform_version": platform_version, "tamper_protected": False, "disable_antispyware_policy": False,
            "stays_active": False}


def _windows(name, version, build, ubr, product_type, sp, edition, hotfixes, defender, sense_builtin,
             installation_type=None, dotnet=528049, tdh=None, ucrt=True):
    state = copy.deepcopy(_NO_MDE)
    state.update({
        "platform": "windows",
        "os": {"name": name, "version": version, "build": build, "ubr": ubr, "product_type": product_type,
               "service_pack": sp, "edition": edition,
               "installation_type": installation_type or ("Client" if product_type == 1 else "Server"),
               "architecture": "64-bit"},
        "hotfixes": hotfixes, "dotnet_release": dotnet, "ucrt": ucrt,
        "tdh_version": tdh or f"{version}.{ubr or 0}",
        "defender": defender, "sense_builtin": sense_builtin,
    })
    return state


_DOWNLEVEL_KBS = ["KB4074598", "KB3080149", "KB3154518", "KB4534310"]

WINDOWS = {
    "windows_7_sp1": _windows("Microsoft Windows 7 Enterprise", "6.1.7601", 7601, 24546, 1, 1, "Enterprise",
                              _DOWNLEVEL_KBS, copy.deepcopy(_DEFENDER_NONE), False, tdh="6.1.7601.24546"),
    "windows_8_1": _windows("Microsoft Windows 8.1 Pro", "6.3.9600", 9600, 20778, 1, 0, "Professional",
                            ["KB3080149", "KB5006714", "KB5022352"], _defender(feature_installed=None), False),
    "windows_server_2008_r2": _windows("Microsoft Windows Server 2008 R2 Standard", "6.1.7600", 7600, 16385, 3, 0,
                                       "ServerStandard", [], copy.deepcopy(_DEFENDER_NONE), False, dotnet=None),
    "windows_server_2008_r2_sp1": _windows("Microsoft Windows Server 2008 R2 Standard", "6.1.7601", 7601, 24546, 3, 1,
                                           "ServerStandard", _DOWNLEVEL_KBS, copy.deepcopy(_DEFENDER_NONE), False),
    "windows_server_2012": _windows("Microsoft Windows Server 2012 Standard", "6.2.9200", 9200, 24768, 3, 0,
                                    "ServerStandard", ["KB5022343"], copy.deepcopy(_DEFENDER_NONE), False),
    "windows_server_2012_r2": _windows("Microsoft Windows Server 2012 R2 Standard", "6.3.9600", 9600, 21620, 3, 0,
                                       "ServerStandard", ["KB2999226", "KB3080149", "KB5006714", "KB5022352"],
                                       copy.deepcopy(_DEFENDER_NONE), False),
    "windows_server_2016": _windows("Microsoft Windows Server 2016 Standard", "10.0.14393", 14393, 7515, 3, 0,
                                    "ServerStandard", ["KB5005698", "KB5043051"], _defender(), False),
    "windows_server_2019": _windows("Microsoft Windows Server 2019 Standard", "10.0.17763", 17763, 6414, 3, 0,
                                    "ServerStandard", ["KB5043050"], _defender(), True),
    "windows_server_2019_core": _windows("Microsoft Windows Server 2019 Datacenter", "10.0.17763", 17763, 6414, 3, 0,
                                         "ServerDatacenterCor", ["KB5043050"], _defender(), True,
                                         installation_type="Server Core"),
    "windows_server_2022": _windows("Microsoft Windows Server 2022 Standard", "10.0.20348", 20348, 2762, 3, 0,
                                    "ServerStandard", ["KB5044281"], _defender(), True),
    "windows_server_2025": _windows("Microsoft Windows Server 2025 Standard", "10.0.26100", 26100, 2033, 3, 0,
                                    "ServerStandard", ["KB5044284"], _defender(), True),
    "windows_10_enterprise": _windows("Microsoft Windows 10 Enterprise", "10.0.19045", 19045, 5011, 1, 0,
                                      "Enterprise", ["KB5044273"], _defender(), True),
}


def _linux(os_id, version_id, pretty, kernel, package_manager):
    return {
        "platform": "linux",
        "os": {"id": os_id, "version_id": version_id, "pretty_name": pretty, "kernel": kernel,
               "architecture": "x86_64", "id_like": None},
        "package_manager": package_manager,
        "mdatp": {"installed": False, "version": None, "onboarded_org": None, "passive_mode": False,
                  "definitions_ready": True, "real_time_protection": True},
        "offboarding_json": False,
        "managed_config": None,
        "fanotify_conflicts": [],
        "free_disk_mb": 20000,
        "repository": None,            # channel of Microsoft's repository once configured
        "host_repo_has_mdatp": False,  # the host's own repositories (a mirror) carry mdatp
        "files": {},                   # mode of the files mdatp reads, by path (octal string)
        "arc": copy.deepcopy(arc.NOT_INSTALLED),   # the Azure Connected Machine agent (labmodel/arc.py)
        "azure_vm": False,             # /sys/class/dmi/id/chassis_asset_tag is Azure's
    }


LINUX = {
    "ubuntu_22_04": _linux("ubuntu", "22.04", "Ubuntu 22.04.4 LTS", "5.15.0-105-generic", "apt-get"),
    "debian_12": _linux("debian", "12", "Debian GNU/Linux 12 (bookworm)", "6.1.0-21-amd64", "apt-get"),
    "rhel_9": _linux("rhel", "9.4", "Red Hat Enterprise Linux 9.4 (Plow)", "5.14.0-427.13.1.el9_4.x86_64", "dnf"),
}

PROFILES = {**WINDOWS, **LINUX}


def deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def initial_state(profile: str, overrides: dict | None) -> dict:
    if profile not in PROFILES:
        raise KeyError(f"unknown mde_lab_profile {profile!r}; known: {', '.join(sorted(PROFILES))}")
    unknown = set(overrides or {}) - set(PROFILES[profile])
    if unknown:
        raise KeyError(f"unknown mde_lab_state key(s) {', '.join(sorted(unknown))} for profile {profile}; "
                       f"known: {', '.join(sorted(PROFILES[profile]))}")
    return deep_merge(PROFILES[profile], overrides or {})
