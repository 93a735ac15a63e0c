# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which steps take a Windows host to the wanted MDE state: pure functions of the probe's facts.

Internal use only: the interface may change without notice.

Each plan is a list of steps from the executor's fixed vocabulary (see ``core/steps.py``), in the order
Microsoft's documentation gives (R-20..R-25, R-30, R-60..R-62, R-70).  A plan that cannot be carried out safely
is refused with one sentence saying what to do, before anything is changed on the host.
"""

from __future__ import annotations

import dataclasses

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import host_view as _host_view
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.errors import Refused
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.versions import os_release, version_tuple
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.generation import classify
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.prerequisites import refuse_missing_prerequisites

# Missing prerequisites that the plan itself fixes, so they do not block it (R-12: enable the feature first).
_FIXED_BY_PLAN = {"defender_feature"}
SENSE_FOR_INTERCA = (10, 8048, 22439, 1065)


@dataclasses.dataclass
class Want:
    state: str = "present"
    package: object = None              # PackageInfo (onboarding or offboarding) or None
    passive_mode: bool | None = None
    installer: dict | None = None       # {"local_path", "sha256", "name", "format"} or {"remote_path"}
    workspace_id: str | None = None
    has_workspace_key: bool = False
    cloud: str = "commercial"
    allow_org_change: bool = False
    uninstall: bool = False
    remove_mma_workspace: str | None = None
    network_protection: bool = False       # R-42, unified hosts
    intermediate_ca: dict | None = None    # R-41, 2012 R2: read_certificate() of InterCA.cer
    scep_cloud_protection: bool = False    # R-24, downlevel hosts running SCEP


def _installer_step(name: str, installer: dict, **extra) -> dict:
    """A step that needs a file: copied from the controller (local_path) or already on the host (remote_path)."""
    step = {"name": name, **extra}
    if installer.get("remote_path"):
        step["path"] = installer["remote_path"]
    else:
        step.update(local_path=installer["local_path"], sha256=installer["sha256"], file_name=installer["name"])
    return step


def onboarded_to(facts: dict, generation: str) -> str | None:
    """The org the host's sensor reports to, counting only the sensor of its own generation."""
    mde = facts.get("mde") or {}
    if generation == "downlevel":
        running = bool(mde.get("mssense_process_running"))
    elif generation == "unified":
        running = _host_view.service_state(facts, "Sense") == "running" and _host_view.md4ws_product(facts) is not None
    else:
        running = _host_view.service_state(facts, "Sense") == "running"
    if running and mde.get("onboarding_state") == 1:
        return _host_view.org_id(facts)
    return None


def resolve_passive(facts: dict, asked: bool | None) -> bool | None:
    """The passive mode a host should have, for the plan and the verification alike: as asked, or - when not
    asked - passive beside another anti-malware product (R-14), else left as it is (None)."""
    if asked is None and facts.get("third_party_av"):
        return True
    return asked


def _passive_wanted(facts: dict, want: Want) -> bool | None:
    third_party = facts.get("third_party_av") or []
    if want.passive_mode is False and third_party:
        raise Refused(f"passive_mode is false but {', '.join(third_party)} is installed: with another anti-malware "
                      "product Defender Antivirus must run in passive mode (R-14); set passive_mode: true or "
                      "remove the other product first.")
    return resolve_passive(facts, want.passive_mode)


def passive_step(facts: dict, passive: bool | None) -> list[dict]:
    current = (facts.get("mde") or {}).get("force_passive_mode")
    if passive is True and current != 1:
        return [{"name": "set_passive_mode", "value": 1}]
    if passive is False and current == 1:
        return [{"name": "set_passive_mode", "value": 0}]
    return []


def _need_installer(want: Want, what: str, label: str, spec: str) -> dict:
    if not want.installer:
        raise Refused(f"{label} needs {what} to be installed ({spec}): give its path on the controller in "
                      "'installer' (or on the host with installer_remote: true).")
    return want.installer


_FORMATS = {"msi": "a Windows Installer package (an OLE compound document, as md4ws.msi)",
            "exe": "a Windows executable (it starts with MZ, as MMASetup-AMD64.exe)"}


def _checked_installer(facts: dict, want: Want, expected: str, what: str, label: str, spec: str) -> dict:
    """The installer, refused before it is copied or run when it is missing on the host (installer_remote) or
    its first bytes show the other installer: md4ws.msi is an MSI, the MMA setup an executable."""
    installer = _need_installer(want, what, label, spec)
    shown, found = installer.get("remote_path") or installer.get("name"), installer.get("format")
    if installer.get("remote_path"):
        seen = next((p for p in facts.get("host_paths") or [] if p.get("path") == installer["remote_path"]), None)
        if seen is not None and not seen.get("exists"):
            raise Refused(f"installer {shown} does not exist on the host (installer_remote: true); give its path as "
                          "the host sees it, or set installer_remote: false to copy it from the controller.")
        found = (seen or {}).get("format")
    other = "exe" if expected == "msi" else "msi"
    if found == other:
        raise Refused(f"installer {shown} is {_FORMATS[other]}, not {_FORMATS[expected]}: {label} needs {what} "
                      f"({spec}).")
    return installer


def plan_onboard(facts: dict, want: Want) -> list[dict]:
    gen = classify(facts)
    if gen.generation == "unsupported":
        raise Refused(gen.unsupported_reason)
    generation, label = gen.generation, gen.os_label
    refuse_missing_prerequisites(facts, generation, _FIXED_BY_PLAN)
    package = want.package
    if package is None and generation != "downlevel":
        raise Refused(f"{label} is onboarded with the onboarding package: set onboarding_package (R-21, R-22).")
    current = onboarded_to(facts, generation)
    if current and package is not None and current != package.org_id and not want.allow_org_change:
        raise Refused(f"the host is onboarded to org {current}, not to the package's org {package.org_id}; "
                      "set allow_org_change: true to move it (offboarding it from the old org first is advised).")
    if generation == "downlevel":
        # ForceDefenderPassiveMode belongs to the Sense-based sensor; downlevel AV is SCEP or the OS's own.
        return _downlevel_steps(facts, want, label) + _scep_steps(facts, want)
    passive = _passive_wanted(facts, want)
    steps = passive_step(facts, passive)
    if generation == "unified":
        steps += _unified_install_steps(facts, want, passive, label)
    if current is None or (package is not None and current != package.org_id):
        steps.append({"name": "run_script", "script": "onboarding_script", "kind": "onboarding"})
    if want.remove_mma_workspace and want.remove_mma_workspace.lower() in _host_view.mma_workspaces(facts):
        # the MMA-based sensor gives way to the unified one only after onboarding succeeded.
        steps.append({"name": "remove_mma_workspace", "workspace_id": want.remove_mma_workspace})
    if generation == "unified":
        steps += _hardening_steps(facts, want, steps)
    return steps


def _hardening_steps(facts: dict, want: Want, planned: list[dict]) -> list[dict]:
    """R-41 and R-42, both opt-in, after the unified solution is installed and onboarded."""
    hardening = facts.get("hardening") or {}
    steps = []
    if want.intermediate_ca and os_release(facts) == (6, 3):
        if want.intermediate_ca["thumbprint"] not in (hardening.get("ca_thumbprints") or []):
            md4ws = _host_view.md4ws_product(facts)
            installing = any(s["name"] == "install_msi" for s in planned)
            if md4ws and not installing and version_tuple(md4ws.get("version")) < SENSE_FOR_INTERCA:
                raise Refused(f"the sensor is {md4ws.get('version')}, older than 10.8048.22439.1065: update it first "
                              "(KB5005292), then import the intermediate CA certificate (R-13, R-41).")
            steps.append(_installer_step("import_certificate", {**want.intermediate_ca}))
    if want.network_protection:
        if not _host_view.network_protection_on(facts):
            steps.append({"name": "set_network_protection"})
    return steps


def _scep_steps(facts: dict, want: Want) -> list[dict]:
    """R-24, opt-in: only where SCEP is installed, cloud protection membership Advanced."""
    if want.scep_cloud_protection and _host_view.scep_product(facts) and (facts.get("hardening") or {}).get("scep_spynet_reporting") != 2:
        return [{"name": "set_scep_cloud_protection"}]
    return []


def _unified_install_steps(facts: dict, want: Want, passive: bool | None, label: str) -> list[dict]:
    steps = []
    defender = facts.get("defender") or {}
    if os_release(facts)[:1] == (10,) and not defender.get("feature_installed"):
        steps.append({"name": "enable_defender_feature", "stop_if_reboot": True})
    if _host_view.md4ws_product(facts) is None:
        installer = _checked_installer(facts, want, "msi", "md4ws.msi", label, "R-20")
        steps.append(_installer_step("install_msi", installer,
                                     properties="FORCEPASSIVEMODE=1" if passive else "", stop_if_reboot=True))
    return steps


def _downlevel_steps(facts: dict, want: Want, label: str) -> list[dict]:
    if not want.workspace_id or not want.has_workspace_key:
        raise Refused(f"{label} is onboarded through the Microsoft Monitoring Agent: set workspace_id and "
                      "workspace_key of the Defender for Endpoint workspace (R-23).")
    steps = []
    if not (facts.get("mma") or {}).get("installed"):
        installer = _checked_installer(facts, want, "exe", "the Microsoft Monitoring Agent setup", label, "R-23")
        steps.append(_installer_step("install_mma", installer))
    if want.workspace_id.lower() not in _host_view.mma_workspaces(facts):
        steps.append({"name": "add_mma_workspace", "workspace_id": want.workspace_id, "key": "workspace_key",
                      "cloud_type": 1 if want.cloud == "us_government" else 0})
    return steps


def plan_offboard(facts: dict, want: Want) -> list[dict]:
    gen = classify(facts)
    if gen.generation == "unsupported":
        raise Refused(gen.unsupported_reason)
    generation = gen.generation
    current = onboarded_to(facts, generation)
    package = want.package
    steps: list[dict] = []
    if generation == "downlevel":
        if want.uninstall and (facts.get("mma") or {}).get("installed"):
            product = _host_view.mma_product(facts) or {}
            steps.append({"name": "uninstall_msi", "product_code": product.get("product_code", ""),
                          "what": "Microsoft Monitoring Agent"})
        elif want.workspace_id and want.workspace_id.lower() in _host_view.mma_workspaces(facts):
            steps.append({"name": "remove_mma_workspace", "workspace_id": want.workspace_id})
        elif current and not want.workspace_id and not want.uninstall:
            raise Refused(f"{gen.os_label} reports through the Microsoft Monitoring Agent: set workspace_id (the MDE "
                          "workspace to remove) or uninstall: true (R-62).")
        return steps
    md4ws = _host_view.md4ws_product(facts)
    tamper = bool((facts.get("defender") or {}).get("is_tamper_protected"))
    if want.uninstall and generation == "unified" and md4ws and tamper:
        raise Refused("tamper protection is on: the unified solution cannot be uninstalled (install.ps1 exit 38); "
                      "turn tamper protection off for this device in the Defender portal, then run again.")
    if current:
        if package is None:
            raise Refused("the host is onboarded: set offboarding_package to offboard it (R-60).")
        orgs = {package.org_id, *package.org_ids}
        if current not in orgs:
            raise Refused(f"the offboarding package is for org {package.org_id} but the host is onboarded to org "
                          f"{current}; download the offboarding package of that org.")
        steps.append({"name": "run_script", "script": "offboarding_script", "kind": "offboarding"})
    if want.uninstall and generation == "unified" and md4ws:
        # never before offboarding; the steps stop at the first failure, so a failed offboarding keeps it.
        steps.append({"name": "uninstall_msi", "product_code": md4ws.get("product_code", ""),
                      "what": md4ws.get("name", "md4ws")})
    return steps
