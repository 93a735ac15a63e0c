"""Helpers shared by the Windows module tests: which arguments each generation needs, and what to count."""

from __future__ import annotations

import json
import pathlib
import re

from conftest import LAB, ROOT, write_inventory

import package_factory

PLAYBOOKS = ROOT / "tests" / "integration" / "playbooks"
ONBOARD = PLAYBOOKS / "mde_onboard.yml"
PASSIVE = PLAYBOOKS / "passive.yml"
WORKSPACE = PLAYBOOKS / "workspace.yml"

SUPPORTED = {  # profile: generation
    "windows_7_sp1": "downlevel", "windows_8_1": "downlevel", "windows_server_2008_r2_sp1": "downlevel",
    "windows_server_2012_r2": "unified", "windows_server_2016": "unified",
    "windows_server_2019": "modern", "windows_server_2019_core": "modern", "windows_server_2022": "modern",
    "windows_server_2025": "modern",
}
UNSUPPORTED = {"windows_server_2012": "Windows Server 2012", "windows_server_2008_r2": "Windows Server 2008 R2",
               "windows_10_enterprise": "Windows 10"}


def onboard_args(packages: dict, generation: str, **extra) -> dict:
    """The arguments a user gives mde_onboard for a host of this generation."""
    if generation == "downlevel":
        args = {"installer": packages["mma_setup"], "workspace_id": package_factory.MDE_WORKSPACE_ID,
                "workspace_key": package_factory.FAKE_WORKSPACE_KEY}
    else:
        args = {"onboarding_package": packages["win_onboard_zip"]}
        if generation == "unified":
            args["installer"] = packages["md4ws_msi"]
    args.update(extra)
    return args


def inventory(tmp: pathlib.Path, hosts: dict, name: str = "inventory.json") -> pathlib.Path:
    return write_inventory(tmp / name, hosts)


def secrets() -> list[str]:
    """Every secret the fake packages and keys hold: signatures of each blob, and the workspace key."""
    seeds = [package_factory.FAKE_ORG, package_factory.OTHER_ORG, package_factory.FAKE_ORG + "off"]
    found = [package_factory.FAKE_WORKSPACE_KEY]
    for seed in seeds:
        found += [package_factory.fake_signature(seed + suffix) for suffix in ("", "256", "cert", "c1", "c2")]
    return found


def fleet_files(base: pathlib.Path, name: str = "fleet.json") -> tuple[dict, pathlib.Path]:
    """Fresh fake packages under base/packages and the fleet-wide variables naming them (for -e @file)."""
    packages = package_factory.write_set(str(base / "packages"))
    fleet_vars = base / name
    fleet_vars.write_text(json.dumps(package_factory.fleet_vars(packages)))
    return packages, fleet_vars


def play_recap(stdout: str) -> dict:
    """ansible-playbook's PLAY RECAP: {host: {ok, changed, unreachable, failed, skipped, rescued, ignored}}."""
    return {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
            for m in re.finditer(r"^(\S+)\s+: (ok=.*)$", stdout, re.M)}


def dump(results: dict) -> str:
    return json.dumps(results, sort_keys=True)


__all__ = ["LAB", "ONBOARD", "PASSIVE", "WORKSPACE", "SUPPORTED", "UNSUPPORTED", "onboard_args", "inventory",
           "secrets", "fleet_files", "play_recap", "dump"]
