# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The executors' step vocabulary, seen from the controller: how a step reads in a diff, what it
changes in the host's view, and what a failed step means for the user.

Internal use only: the interface may change without notice.

A step is a dict with ``name`` and its arguments.  Secrets are never in a step: steps name a key of
the executor's ``secrets`` argument (no_log) instead.
"""

from __future__ import annotations

import copy

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


def describe(step: dict) -> str:
    """One line for a diff or a plan listing; never holds a secret."""
    name = step["name"]
    if name == "set_passive_mode":
        return f"set ForceDefenderPassiveMode = {step['value']} (R-30/R-31)"
    if name == "enable_defender_feature":
        return "install the Windows-Defender feature (R-12)"
    if name == "install_msi":
        props = f" {step['properties']}" if step.get("properties") else ""
        return f"msiexec /i {step.get('file_name') or step.get('path')} /quiet{props} (R-20)"
    if name == "uninstall_msi":
        return f"msiexec /x {step['product_code']} /quiet ({step.get('what', 'product')}, R-61/R-62)"
    if name == "install_mma":
        return f"install the Microsoft Monitoring Agent from {step.get('file_name') or step.get('path')} (R-23)"
    if name == "add_mma_workspace":
        cloud = " (US Government cloud)" if step.get("cloud_type") == 1 else ""
        return f"add workspace {step['workspace_id']} to the MMA{cloud}, key ********, reload (R-23/R-25)"
    if name == "remove_mma_workspace":
        return f"remove workspace {step['workspace_id']} from the MMA, reload (R-62)"
    if name == "set_mma_proxy":
        return f"set the MMA proxy to {step.get('proxy_url') or '(none)'} (R-40)"
    if name == "run_script":
        return f"run the {step['kind']} script (R-{'21' if step['kind'] == 'onboarding' else '60'})"
    if name == "import_certificate":
        return f"import {step.get('file_name') or step.get('path')} into Cert:\\LocalMachine\\Ca (R-41)"
    if name == "set_network_protection":
        return ("Set-MpPreference EnableNetworkProtection Enabled, AllowNetworkProtectionOnWinServer, "
                "AllowNetworkProtectionDownLevel, AllowDatagramProcessingOnWinServer (R-42)")
    if name == "set_scep_cloud_protection":
        return "set SCEP cloud protection membership to Advanced (SpyNetReporting = 2, R-24)"
    if name == "detection_test":
        return "run the detection test command line in C:\\test-MDATP-test (R-52)"
    return _describe_linux(step)


def _describe_linux(step: dict) -> str:
    name = step["name"]
    if name == "setup_repository":
        return (f"configure Microsoft's '{step['channel']}' repository for {step['distro']} {step['version']} "
                f"and its signing key ({step['package_manager']})")
    if name == "install_package":
        version = f" version {step['version']}" if step.get("version") else ""
        return f"{step['package_manager']} install {step['package']}{version}"
    if name == "remove_package":
        return f"{step['package_manager']} remove {step['package']}"
    if name == "merge_managed_config":
        pairs = [f"{section}.{key} = {value}" for section, values in sorted(step["settings"].items())
                 for key, value in sorted(values.items())]
        return f"set {', '.join(pairs)} in mdatp_managed.json (R-30, R-40)"
    if name == "write_secret_file":
        return f"write {step['path']} (mode {step.get('mode', '0600')}, content not shown)"
    if name == "remove_file":
        return f"remove {step['path']}"
    if name == "av_detection":
        return (f"write the EICAR test file under /tmp, wait up to {step.get('timeout', 60)} s for mdatp threat list "
                "to report it, delete it (R-52)")
    if name == "run_edr_script":
        return f"run Microsoft's EDR test script {step.get('file_name') or step.get('path')} (R-52)"
    if name == "wait_health":
        goal = ("licence gone" if step["until"] == "unlicensed"
                else f"licensed to org {step.get('org_id')} and healthy")
        return f"wait up to {step['timeout']} s for mdatp health: {goal} (R-51)"
    return name


def expected_view(view: dict, steps: list[dict], org_id: str | None) -> dict:
    """The host's view (see ``view_of``) as it will be once every step has succeeded."""
    after = copy.deepcopy(view)
    for step in steps:
        name = step["name"]
        if name == "set_passive_mode":
            after["force_defender_passive_mode"] = step["value"]
        elif name == "enable_defender_feature":
            after["defender_feature"] = True
        elif name == "install_msi":
            after["md4ws"] = "installed"
        elif name == "uninstall_msi":
            if step.get("what", "").startswith("Microsoft Monitoring Agent"):
                after["mma_workspaces"] = None
            else:
                after["md4ws"] = None
        elif name == "install_mma":
            after["mma_workspaces"] = after["mma_workspaces"] or []
        elif name == "add_mma_workspace":
            after["mma_workspaces"] = sorted(set((after["mma_workspaces"] or []) + [step["workspace_id"].lower()]))
        elif name == "remove_mma_workspace":
            after["mma_workspaces"] = [w for w in after["mma_workspaces"] or [] if w != step["workspace_id"].lower()]
        elif name == "run_script":
            after["onboarded_org"] = org_id if step["kind"] == "onboarding" else None
        elif name == "setup_repository":
            after["repository"] = True
        elif name == "install_package":
            after["mdatp"] = step.get("version") or "installed"
        elif name == "remove_package":
            after["mdatp"] = None
        elif name == "merge_managed_config":
            for values in step["settings"].values():
                for key, value in values.items():
                    after["enforcement_level" if key == "enforcementLevel" else key] = value
        elif name == "write_secret_file":
            after["onboarded_org"] = org_id if step["secret"] == "onboarding_json" else None
    return after


def failure_message(record: dict) -> str:
    """One sentence: which step failed, why, and what to do."""
    name, rc = record.get("name"), record.get("rc")
    what = describe(record.get("step") or {"name": name}) if record.get("step") else name
    linux = _linux_failure(record, what)
    if linux:
        return linux
    if record.get("timed_out"):
        return (f"step '{what}' did not finish within {record.get('timeout')} s and was stopped; look at the host's "
                "Application event log and installer logs, then run again (raise step_timeout if the host is slow).")
    detail = f" ({record['detail']})" if record.get("detail") else ""
    if name in ("install_msi", "uninstall_msi", "install_mma"):
        if rc is None and str(record.get("detail", "")).startswith("file not found"):
            return (f"step '{what}' found no installer on the host ({record['detail']}); give its path as the host "
                    "sees it (installer_remote: true) or a path on the controller to copy, then run again.")
        if record.get("signature"):
            return (f"step '{what}' refused the installer: its Authenticode signature is {record['signature']}; "
                    "use the package as downloaded from Microsoft (install.ps1 exit 15).")
        if "mpasdesc" in str(record.get("detail", "")).lower() or "-310" in str(record.get("detail", "")):
            return (f"step '{what}' failed with {rc}: 'Cannot find mpasdesc.dll, -310 WinDefend', the known 2012 R2 "
                    "failure after an OS update on a slow disk (R-21); the installer rolled back: restart the host, "
                    "use the latest md4ws.msi and run again.")
        meaning = _MSI_CODES.get(rc, "see the installer log")
        return f"step '{what}' failed with exit code {rc}: {meaning}{detail}."
    if name == "run_script":
        codes = _ONBOARDING_CODES if (record.get("step") or {}).get("kind") == "onboarding" else _OFFBOARDING_CODES
        meaning = codes.get(rc, "see the Application event log (source WDATPOnboarding / WDATPOffboarding)")
        return (f"step '{what}' failed with exit code {rc}: {meaning}{detail}; the host's sensor state was read "
                "back and is reported; fix the cause and run again.")
    return f"step '{what}' failed{': ' + str(rc) if rc is not None else ''}{detail}."


def _linux_failure(record: dict, what: str) -> str | None:
    name, detail = record.get("name"), record.get("detail") or "no detail"
    if name == "setup_repository":
        return (f"step '{what}' failed: {detail}; make sure the host reaches Microsoft's repository (directly or "
                "through https_proxy), or set mdatp_repository: false to install from the host's own repositories.")
    if name in ("install_package", "remove_package"):
        return (f"step '{what}' failed with exit code {record.get('rc')}: {detail}; nothing else was changed after "
                "it; fix the package source and run again.")
    if name == "wait_health":
        return (f"step '{what}' gave up after {record.get('timeout')} s: {detail}; the files were written, mdatp has "
                "not taken them yet; look at 'mdatp health' on the host and run again (raise health_timeout for "
                "slow first definitions).")
    return None
