# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The step registry: every step the executors know, declared once, with its platform, what it does, how it reads
in a diff or a plan, what it changes in the host's view, what a failure means and the exit codes it documents.

Internal use only: the interface may change without notice.

``describe``, ``expected_view`` and ``failure_message`` read the registry; the executors' step tables
(``mde_host.ps1``'s switch, ``mde_host_linux``'s ``STEPS``), the lab's models and the step lists of the module
docs are checked against it (tests/unit/test_step_registry.py).

A step is a dict with ``name`` and its arguments.  Secrets are never in a step: steps name a key of
the executor's ``secrets`` argument (no_log) instead.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Callable, Mapping

# What the exit codes of the documented commands mean (the onboarding and offboarding scripts, msiexec;
# docs/packages.md and docs/generations.md).
_MSI_CODES = {
    1602: "the installation was cancelled",
    1603: "a fatal error occurred during installation",
    1618: "another installation is already in progress (retried, still busy)",
    1619: "the package could not be opened",
    1620: "the package could not be opened (not a valid Windows Installer package)",
    1638: "another version of this product is already installed",
}
_ONBOARDING_CODES = {
    5: "the previous offboarding value could not be deleted",
    10: "the OnboardingInfo value could not be written",
    15: "the Sense service did not reach RUNNING within the script's wait",
    35: "the OnboardingState value did not appear",
    40: "OnboardingState did not become 1",
    65: "the script did not run as an administrator",
}
_OFFBOARDING_CODES = {
    5: "the OnboardingInfo value could not be deleted",
    10: "the offboarding value could not be written",
    15: "the Sense service did not stop within the script's wait",
    65: "the script did not run as an administrator",
}


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of an executor.

    ``describe(step)`` is the line of a diff or plan listing (never a secret); ``effect(view, step, org_id)``
    changes the host's view as the step will once it succeeded; ``failure(record, what, codes)`` is the sentence
    for a failed run of it (None: the generic sentence); ``exit_codes`` maps a variant of the step (its ``kind``,
    ``""`` for all) to what each documented exit code means; ``why`` says when a planner chooses it (the plan's
    -vvv trace).
    """

    name: str
    platform: str
    description: str
    describe: Callable[[dict], str]
    effect: Callable[[dict, dict, "str | None"], None] | None = None
    failure: Callable[[dict, str, Mapping], "str | None"] | None = None
    exit_codes: Mapping[str, Mapping[int, str]] = dataclasses.field(default_factory=dict)
    why: str = ""

    def codes(self, step: dict) -> Mapping[int, str]:
        return self.exit_codes.get(step.get("kind") or "", self.exit_codes.get("", {}))


def _set(key: str, value) -> Callable[[dict, dict, "str | None"], None]:
    def effect(view: dict, step: dict, org_id) -> None:
        del step, org_id
        view[key] = value
    return effect


def _file(step: dict) -> str:
    return step.get("file_name") or step.get("path")


# ---- Windows (mde_host.ps1) ----

def _installer_failure(record: dict, what: str, codes: Mapping) -> str | None:
    rc, detail_text = record.get("rc"), str(record.get("detail", ""))
    if record.get("timed_out"):
        return None
    if rc is None and detail_text.startswith("file not found"):
        return (f"step '{what}' found no installer on the host ({record['detail']}); give its path as the host "
                "sees it (installer_remote: true) or a path on the controller to copy, then run again.")
    if record.get("signature"):
        return (f"step '{what}' refused the installer: its Authenticode signature is {record['signature']}; "
                "use the package as downloaded from Microsoft (install.ps1 exit 15).")
    if "mpasdesc" in detail_text.lower() or "-310" in detail_text:
        return (f"step '{what}' failed with {rc}: 'Cannot find mpasdesc.dll, -310 WinDefend', the known 2012 R2 "
                "failure after an OS update on a slow disk (R-21); the installer rolled back: restart the host, "
                "use the latest md4ws.msi and run again.")
    detail = f" ({record['detail']})" if record.get("detail") else ""
    return f"step '{what}' failed with exit code {rc}: {codes.get(rc, 'see the installer log')}{detail}."


def _script_failure(record: dict, what: str, codes: Mapping) -> str | None:
    if record.get("timed_out"):
        return None
    rc = record.get("rc")
    detail = f" ({record['detail']})" if record.get("detail") else ""
    meaning = codes.get(rc, "see the Application event log (source WDATPOnboarding / WDATPOffboarding)")
    return (f"step '{what}' failed with exit code {rc}: {meaning}{detail}; the host's sensor state was read "
            "back and is reported; fix the cause and run again.")


def _uninstall_effect(view: dict, step: dict, org_id) -> None:
    del org_id
    view["mma_workspaces" if step.get("what", "").startswith("Microsoft Monitoring Agent") else "md4ws"] = None


def _add_workspace_effect(view: dict, step: dict, org_id) -> None:
    del org_id
    view["mma_workspaces"] = sorted(set((view["mma_workspaces"] or []) + [step["workspace_id"].lower()]))


def _remove_workspace_effect(view: dict, step: dict, org_id) -> None:
    del org_id
    view["mma_workspaces"] = [w for w in view["mma_workspaces"] or [] if w != step["workspace_id"].lower()]


def _install_mma_effect(view: dict, step: dict, org_id) -> None:
    del step, org_id
    view["mma_workspaces"] = view["mma_workspaces"] or []


def _script_effect(view: dict, step: dict, org_id) -> None:
    view["onboarded_org"] = org_id if step["kind"] == "onboarding" else None


def _describe_workspace(step: dict) -> str:
    cloud = " (US Government cloud)" if step.get("cloud_type") == 1 else ""
    return f"add workspace {step['workspace_id']} to the MMA{cloud}, key ********, reload (R-23/R-25)"


def _describe_msi(step: dict) -> str:
    props = f" {step['properties']}" if step.get("properties") else ""
    return f"msiexec /i {_file(step)} /quiet{props} (R-20)"


_WINDOWS = (
    Step("set_passive_mode", "windows", "Sets the ForceDefenderPassiveMode registry value.",
         lambda s: f"set ForceDefenderPassiveMode = {s['value']} (R-30/R-31)",
         lambda view, s, org: view.__setitem__("force_defender_passive_mode", s["value"]),
         why=("ForceDefenderPassiveMode on the host differs from the passive mode asked for (or another "
              "anti-malware product needs passive mode)")),
    Step("enable_defender_feature", "windows", "Installs the Windows-Defender feature (a restart follows).",
         lambda s: "install the Windows-Defender feature (R-12)", _set("defender_feature", True),
         why="Windows Server 2016 or later without the Windows-Defender feature"),
    Step("install_msi", "windows", "Installs md4ws.msi with msiexec, after checking its signature.",
         _describe_msi, _set("md4ws", "installed"), _installer_failure, {"": _MSI_CODES},
         why="the unified solution (md4ws) is not installed"),
    Step("uninstall_msi", "windows", "Uninstalls a product (md4ws or the MMA) by its product code.",
         lambda s: f"msiexec /x {s['product_code']} /quiet ({s.get('what', 'product')}, R-61/R-62)",
         _uninstall_effect, _installer_failure, {"": _MSI_CODES},
         why="uninstall: true and the product is installed"),
    Step("install_mma", "windows", "Installs the Microsoft Monitoring Agent from its setup program.",
         lambda s: f"install the Microsoft Monitoring Agent from {_file(s)} (R-23)",
         _install_mma_effect, _installer_failure, {"": _MSI_CODES},
         why="the Microsoft Monitoring Agent is not installed"),
    Step("add_mma_workspace", "windows", "Adds a workspace to the MMA (its key from the secrets) and reloads it.",
         _describe_workspace, _add_workspace_effect,
         why="the workspace is not configured in the MMA (or reconfigure: true)"),
    Step("remove_mma_workspace", "windows", "Removes a workspace from the MMA and reloads it.",
         lambda s: f"remove workspace {s['workspace_id']} from the MMA, reload (R-62)", _remove_workspace_effect,
         why="the workspace is configured in the MMA and is to be removed (or re-keyed)"),
    Step("set_mma_proxy", "windows", "Sets the MMA's proxy (its password from the secrets).",
         lambda s: f"set the MMA proxy to {s.get('proxy_url') or '(none)'} (R-40)",
         why="a proxy is given for a workspace being added (or reconfigure: true)"),
    Step("run_script", "windows", "Runs the onboarding or offboarding script (from the secrets).",
         lambda s: f"run the {s['kind']} script (R-{'21' if s['kind'] == 'onboarding' else '60'})",
         _script_effect, _script_failure, {"onboarding": _ONBOARDING_CODES, "offboarding": _OFFBOARDING_CODES},
         why=("the sensor does not report to the package's org (onboarding) or still reports to it "
              "(offboarding)")),
    Step("import_certificate", "windows", "Imports an intermediate CA certificate into the machine's CA store.",
         lambda s: f"import {_file(s)} into Cert:\\LocalMachine\\Ca (R-41)",
         why="Windows Server 2012 R2 without the given intermediate CA certificate"),
    Step("set_network_protection", "windows", "Turns network protection on with Set-MpPreference.",
         lambda s: ("Set-MpPreference EnableNetworkProtection Enabled, AllowNetworkProtectionOnWinServer, "
                    "AllowNetworkProtectionDownLevel, AllowDatagramProcessingOnWinServer (R-42)"),
         why="network_protection: true and network protection is not on"),
    Step("set_scep_cloud_protection", "windows", "Sets SCEP cloud protection membership to Advanced.",
         lambda s: "set SCEP cloud protection membership to Advanced (SpyNetReporting = 2, R-24)",
         why="scep_cloud_protection: true and SCEP's cloud protection is not Advanced"),
    Step("detection_test", "windows", "Runs the documented detection test command line.",
         lambda s: "run the detection test command line in C:\\test-MDATP-test (R-52)",
         why="the detection test was asked for on an onboarded host"),
)


# ---- Linux (mde_host_linux) ----

def _repository_failure(record: dict, what: str, codes: Mapping) -> str | None:
    del codes
    return (f"step '{what}' failed: {record.get('detail') or 'no detail'}; make sure the host reaches Microsoft's "
            "repository (directly or through https_proxy), or set mdatp_repository: false to install from the "
            "host's own repositories.")


def _package_failure(record: dict, what: str, codes: Mapping) -> str | None:
    del codes
    return (f"step '{what}' failed with exit code {record.get('rc')}: {record.get('detail') or 'no detail'}; "
            "nothing else was changed after it; fix the package source and run again.")


def _health_failure(record: dict, what: str, codes: Mapping) -> str | None:
    del codes
    return (f"step '{what}' gave up after {record.get('timeout')} s: {record.get('detail') or 'no detail'}; the "
            "files were written, mdatp has not taken them yet; look at 'mdatp health' on the host and run again "
            "(raise health_timeout for slow first definitions).")


def _describe_managed(step: dict) -> str:
    pairs = [f"{section}.{key} = {value}" for section, values in sorted(step["settings"].items())
             for key, value in sorted(values.items())]
    return f"set {', '.join(pairs)} in mdatp_managed.json (R-30, R-40)"


def _managed_effect(view: dict, step: dict, org_id) -> None:
    del org_id
    for values in step["settings"].values():
        for key, value in values.items():
            view["enforcement_level" if key == "enforcementLevel" else key] = value


def _describe_health(step: dict) -> str:
    goal = "licence gone" if step["until"] == "unlicensed" else f"licensed to org {step.get('org_id')} and healthy"
    return f"wait up to {step['timeout']} s for mdatp health: {goal} (R-51)"


_LINUX = (
    Step("setup_repository", "linux", "Configures Microsoft's package repository and its signing key.",
         lambda s: (f"configure Microsoft's '{s['channel']}' repository for {s['distro']} {s['version']} "
                    f"and its signing key ({s['package_manager']})"),
         _set("repository", True), _repository_failure,
         why="mdatp is to be installed from Microsoft's repository, which is not configured"),
    Step("install_package", "linux", "Installs the mdatp package (a given version) with the package manager.",
         lambda s: (f"{s['package_manager']} install {s['package']}" +
                    (f" version {s['version']}" if s.get("version") else "")),
         lambda view, s, org: view.__setitem__("mdatp", s.get("version") or "installed"),
         _package_failure,
         why="mdatp is not installed (or not the version asked for)"),
    Step("remove_package", "linux", "Removes the mdatp package.",
         lambda s: f"{s['package_manager']} remove {s['package']}", _set("mdatp", None), _package_failure,
         why="uninstall: true and mdatp is installed"),
    Step("merge_managed_config", "linux", "Merges settings into mdatp_managed.json.",
         _describe_managed, _managed_effect,
         why="mdatp_managed.json does not hold the settings asked for"),
    Step("write_secret_file", "linux", "Writes a file whose content comes from the secrets (mode 0600).",
         lambda s: f"write {s['path']} (mode {s.get('mode', '0600')}, content not shown)",
         lambda view, s, org: view.__setitem__("onboarded_org", org if s["secret"] == "onboarding_json" else None),
         why="the sensor is not licensed to the package's org (onboarding) or still is (offboarding)"),
    Step("remove_file", "linux", "Removes a file.", lambda s: f"remove {s['path']}",
         why="a file of the other state (an offboarding file on onboarding) is on the host"),
    Step("wait_health", "linux", "Waits for mdatp health to reach a state (licensed and healthy, or unlicensed).",
         _describe_health, failure=_health_failure,
         why="a file mdatp reads was written: its health is waited for"),
    Step("av_detection", "linux", "Writes the EICAR test file and waits for mdatp to report it.",
         lambda s: (f"write the EICAR test file under /tmp, wait up to {s.get('timeout', 60)} s for mdatp threat "
                    "list to report it, delete it (R-52)"),
         why="real-time protection is on, so mdatp detects the EICAR test file"),
    Step("run_edr_script", "linux", "Runs Microsoft's EDR test script (staged by the controller).",
         lambda s: f"run Microsoft's EDR test script {_file(s)} (R-52)",
         why="edr_script was given"),
)


# ---- Azure Arc: the Connected Machine agent, both platforms (mde_host.ps1 and mde_host_linux) ----

# What the agent's error codes and ARM's answers mean, and what to do (docs/azure-arc.md).
_AZCM_CODES = {
    "AZCM0018": "the agent did not run elevated: run it as an administrator (Windows) or root (Linux)",
    "AZCM0155": "the agent did not run elevated: run it as an administrator (Windows) or root (Linux)",
    "AZCM0026": ("the agent could not reach Azure (network error): let the host reach the Azure Arc endpoints, "
                 "directly or through proxy, or give private_link_scope when the machines use Private Link"),
    "AZCM0041": ("Azure refused the credentials: the access token obtained on the controller was not accepted; "
                 "check the service principal's tenant (tenant_id) and that its secret has not expired"),
    "AZCM0044": ("a machine resource with this name already exists in the resource group: set resource_name to "
                 "another name, or delete the old resource in Azure"),
    "AZCM0067": ("the agent is already connected: run with allow_move: true to disconnect it and connect it as "
                 "asked"),
    "AZCM0153": ("the Connected Machine agent does not support this operating system: this host cannot reach "
                 "Defender for Cloud through Azure Arc; keep it on Defender for Endpoint directly (R-72)"),
}
_ARM_CODES = {
    "AuthorizationFailed": ("the identity has no right to create Arc machines there: give it the role 'Azure "
                            "Connected Machine Onboarding' on the resource group"),
    "MissingSubscriptionRegistration": ("the subscription has not registered the resource providers of Azure Arc: "
                                        "register Microsoft.HybridCompute and Microsoft.GuestConfiguration "
                                        "(az provider register --namespace ...)"),
    "ResourceGroupNotFound": "the resource group does not exist: create it, or set resource_group to an existing one",
    "InvalidAuthenticationToken": ("Azure refused the access token obtained on the controller: check the "
                                   "cloud_environment and tenant_id of the sign-in"),
    "ResourceNotFound": ("the machine's Azure resource is gone: disconnect with force_local_only: true to clear "
                         "the agent locally"),
}


def _arc_failure(record: dict, what: str, codes: Mapping) -> str | None:
    del codes
    if record.get("timed_out"):
        return None
    code, arm = record.get("error_code"), record.get("arm_code")
    meaning = _AZCM_CODES.get(code) or _ARM_CODES.get(arm)
    shown = " / ".join(c for c in (code, arm) if c)
    detail = f" ({record['detail']})" if record.get("detail") else ""
    if meaning:
        return f"step '{what}' failed with {shown}: {meaning}; nothing after it ran{detail}."
    rc = record.get("rc")
    return (f"step '{what}' failed{f' with exit code {rc}' if rc is not None else ''}{detail}; run 'azcmagent "
            "show' and 'azcmagent check' on the host (docs/azure-arc.md), fix the cause and run again.")


def _install_arc_failure(record: dict, what: str, codes: Mapping) -> str | None:
    if record.get("error_code") or record.get("arm_code"):
        return _arc_failure(record, what, codes)
    if record.get("signature") or str(record.get("detail", "")).startswith("file not found"):
        return _installer_failure(record, what, codes)
    return None


def _describe_connect(step: dict) -> str:
    name = f"machine {step['resource_name']}" if step.get("resource_name") else "a machine named after the host"
    labels = (("private_link_scope", "private link scope"), ("correlation_id", "correlation id"))
    extra = "".join(f", {label} {step[key]}" for key, label in labels if step.get(key))
    tags = f", tags {', '.join(f'{k}={v}' for k, v in sorted(step['tags'].items()))}" if step.get("tags") else ""
    return (f"azcmagent connect: {name} in resource group {step['resource_group']} of subscription "
            f"{step['subscription_id']}, {step['location']}, tenant {step['tenant_id']}, {step['cloud']}{tags}{extra} "
            "(access token from the controller in a file deleted after use, R-72)")


def _describe_install_arc(step: dict) -> str:
    if step.get("from_repository"):
        return f"{step.get('package_manager')} install azcmagent (the Connected Machine agent, from the repository)"
    return f"install the Azure Connected Machine agent from {_file(step)}"


def _arc_effect(**values) -> Callable[[dict, dict, "str | None"], None]:
    def effect(view: dict, step: dict, org_id) -> None:
        del org_id
        arc = view.setdefault("arc", {})
        for key, value in values.items():
            arc[key] = step.get(value[1:]) if isinstance(value, str) and value.startswith("=") else value
    return effect


_ARC = (
    Step("install_arc_agent", "both",
         "Installs the Azure Connected Machine agent (a checked installer or the repository).",
         _describe_install_arc, _arc_effect(installed=True), _install_arc_failure, {"": _MSI_CODES},
         why="the Azure Connected Machine agent is not installed"),
    Step("arc_set_proxy", "both", "Sets (or clears) the Connected Machine agent's proxy (azcmagent config).",
         lambda s: (f"azcmagent config set proxy.url {s['proxy_url']}" if s.get("proxy_url")
                    else "azcmagent config clear proxy.url"),
         _arc_effect(https_proxy="=proxy_url"), _arc_failure,
         why="the agent's proxy differs from the proxy asked for"),
    Step("arc_connect", "both", "Connects the machine to Azure Arc with an access token from the secrets (a file).",
         _describe_connect,
         _arc_effect(status="Connected", subscription_id="=subscription_id", resource_group="=resource_group",
                     location="=location", tenant_id="=tenant_id", resource_name="=resource_name"),
         _arc_failure, why="the agent holds no Azure machine (or it is to be moved)"),
    Step("arc_disconnect", "both", "Disconnects the machine from Azure Arc (with the token, or locally only).",
         lambda s: ("azcmagent disconnect --force-local-only (the Azure resource is left as it is)"
                    if s.get("force_local_only") else
                    "azcmagent disconnect (deletes the Azure machine resource; access token from the controller)"),
         _arc_effect(status="Disconnected", subscription_id=None, resource_group=None, resource_name=None),
         _arc_failure, why="state: absent, or allow_move: true for a machine connected elsewhere"),
)

STEPS: dict[str, Step] = {step.name: step for step in _WINDOWS + _LINUX + _ARC}


def names(platform: str) -> list[str]:
    """The step names of one platform's executor, in the registry's order (steps of platform "both" included)."""
    return [step.name for step in STEPS.values() if step.platform in (platform, "both")]


def describe(step: dict) -> str:
    """One line for a diff or a plan listing; never holds a secret."""
    entry = STEPS.get(step["name"])
    return entry.describe(step) if entry else step["name"]


def expected_view(view: dict, steps: list[dict], org_id: str | None) -> dict:
    """The host's view (see ``view_of``) as it will be once every step has succeeded."""
    after = copy.deepcopy(view)
    for step in steps:
        entry = STEPS.get(step["name"])
        if entry and entry.effect:
            entry.effect(after, step, org_id)
    return after


def failure_message(record: dict) -> str:
    """One sentence: which step failed, why, and what to do."""
    name, rc, step = record.get("name"), record.get("rc"), record.get("step")
    what = describe(step) if step else name
    entry = STEPS.get(name)
    hint = entry.failure(record, what, entry.codes(step or {})) if entry and entry.failure else None
    if hint:
        return hint
    if record.get("timed_out"):
        return (f"step '{what}' did not finish within {record.get('timeout')} s and was stopped; look at the host's "
                "Application event log and installer logs, then run again (raise step_timeout if the host is slow).")
    detail = f" ({record['detail']})" if record.get("detail") else ""
    return f"step '{what}' failed{': ' + str(rc) if rc is not None else ''}{detail}."
