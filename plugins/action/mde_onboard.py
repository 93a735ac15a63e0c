# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of defender.endpoint.mde_onboard: probe -> plan -> (check mode: stop) -> apply -> verify."""

from __future__ import annotations


from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.defender.endpoint.plugins.plugin_utils import _executor, _flow, _inputs, _steps
from ansible_collections.defender.endpoint.plugins.plugin_utils._certificates import CertificateError, read_certificate
from ansible_collections.defender.endpoint.plugins.plugin_utils._generation import classify
from ansible_collections.defender.endpoint.plugins.plugin_utils._onboard_paths import LinuxPath, WindowsPath, common_state
from ansible_collections.defender.endpoint.plugins.plugin_utils._packages import PackageError, parse_package
from ansible_collections.defender.endpoint.plugins.plugin_utils._windows_plan import Refused

ARGUMENT_SPEC = {
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "onboarding_package": {"type": "list", "elements": "path"},
    "offboarding_package": {"type": "list", "elements": "path"},
    "passive_mode": {"type": "bool"},
    "installer": {"type": "path"},
    "installer_remote": {"type": "bool", "default": False},
    "workspace_id": {"type": "str"},
    "workspace_key": {"type": "str", "no_log": True},
    "cloud": {"type": "str", "choices": ["commercial", "us_government"], "default": "commercial"},
    "allow_org_change": {"type": "bool", "default": False},
    "uninstall": {"type": "bool", "default": False},
    "remove_mma_workspace": {"type": "str"},
    "step_timeout": {"type": "int", "default": 900},
    "extra_av_services": {"type": "list", "elements": "str", "default": []},
    "network_protection": {"type": "bool", "default": False},
    "intermediate_ca_certificate": {"type": "path"},
    "scep_cloud_protection": {"type": "bool", "default": False},
    # Linux hosts (mdatp)
    "allow_conflicts": {"type": "bool", "default": False},
    "mdatp_repository": {"type": "bool", "default": True},
    "mdatp_channel": {"type": "str", "choices": ["prod", "insiders-fast", "insiders-slow"], "default": "prod"},
    "mdatp_repository_url": {"type": "str", "default": "https://packages.microsoft.com"},
    "allow_insecure_repository": {"type": "bool", "default": False},
    "mdatp_version": {"type": "str"},
    "proxy": {"type": "str", "no_log": True},
    "health_timeout": {"type": "int", "default": 300},
}


def _check_inputs(args: dict, raw: dict) -> None:
    """Identifiers, URLs and versions, and options that contradict each other: one sentence, nothing touched."""
    try:
        args["workspace_id"] = _inputs.guid("workspace_id", args["workspace_id"])
        args["remove_mma_workspace"] = _inputs.guid("remove_mma_workspace", args["remove_mma_workspace"])
        args["mdatp_repository_url"] = _inputs.repository_url("mdatp_repository_url", args["mdatp_repository_url"],
                                                              args["allow_insecure_repository"])
        args["mdatp_version"] = _inputs.package_version("mdatp_version", args["mdatp_version"])
        args["proxy"] = _inputs.proxy_url("proxy", args["proxy"])
    except _inputs.InputError as exc:
        raise AnsibleActionFail(str(exc)) from None
    if args["state"] == "present" and args["uninstall"]:
        raise AnsibleActionFail("uninstall applies to state=absent (offboard, then uninstall); with state=present "
                                "it would do nothing: remove it or set state: absent.")
    unused = (["offboarding_package"] if args["state"] == "present" else ["onboarding_package", "remove_mma_workspace"])
    for name in unused:
        if args[name]:
            raise AnsibleActionFail(f"{name} applies to state={'absent' if args['state'] == 'present' else 'present'}"
                                    f"; with state={args['state']} it would not be used: remove it.")
    if "mdatp_repository_url" in raw and not args["mdatp_repository"]:
        raise AnsibleActionFail("mdatp_repository_url is set but mdatp_repository is false (install from the "
                                "host's own repositories): remove one of them.")
    if args["step_timeout"] < 30 or args["health_timeout"] < 0:
        raise AnsibleActionFail("step_timeout must be at least 30 seconds (an MSI install takes minutes) and "
                                "health_timeout cannot be negative.")


def _installer(args: dict) -> dict | None:
    path = args.get("installer")
    if not path:
        return None
    if args["installer_remote"]:
        return {"remote_path": path}
    return _flow.local_file(path, "installer", "give the installer file itself (md4ws.msi, or MMASetup-AMD64.exe "
                            "for downlevel hosts)", " (set installer_remote: true if the path is on the host)")


def _package(args: dict, kind: str, platform: str):
    """The package for this host's platform among the ones given (one task can serve Windows and Linux)."""
    paths = args.get(f"{kind}_package") or []
    parsed = []
    for path in paths:
        try:
            info = parse_package(path, expect_kind=kind)
        except PackageError as exc:
            raise AnsibleActionFail(str(exc)) from None
        if info.platform == platform:
            return info
        parsed.append(f"{path} ({info.platform})")
    if parsed:
        raise AnsibleActionFail(f"this host runs {platform} but {kind}_package has no {platform} package: "
                                f"{', '.join(parsed)}; add the {platform} package of the same tenant.")
    return None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False  # put_file straight into the probe's staging folder: no mkdtemp round trip

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        result = super().run(tmp, task_vars)
        del tmp
        args = _flow.arguments(self, ARGUMENT_SPEC, may_be_empty=("proxy",),
                               required_if=[("installer_remote", True, ("installer",))],
                               required_by={"workspace_key": "workspace_id"})
        _check_inputs(args, self._task.args)
        present = args["state"] == "present"
        windows = _executor.is_windows(self)
        # Packages are parsed before the host is touched: an expired or wrong package costs no round trip.
        package = _package(args, "onboarding" if present else "offboarding", "windows" if windows else "linux")
        certificate = None
        if windows and args["intermediate_ca_certificate"]:
            try:
                certificate = read_certificate(args["intermediate_ca_certificate"])
            except CertificateError as exc:
                raise AnsibleActionFail(str(exc)) from None
        path = (WindowsPath if windows else LinuxPath)(args, package, _installer(args) if windows else None,
                                                       certificate)
        facts = _executor.probe(self, task_vars or {}, args["extra_av_services"], path.probe_secrets(),
                                path.probe_paths())
        classified = classify(facts)
        generation = classified.generation
        result.update(generation=generation, os_label=classified.os_label,
                      package=package.summary() if package else None)
        try:
            steps = path.plan(facts)
        except Refused as exc:
            return dict(result, failed=True, msg=str(exc), changed=False, **self._state(path, facts, generation))
        before = path.view(facts, generation)
        if self._task.diff and steps:
            result["diff"] = {"before": before,
                              "after": _steps.expected_view(before, steps, package.org_id if package else None),
                              "prepared": "\n".join(f"{i}. {_steps.describe(s)}" for i, s in enumerate(steps, 1))}
        if not steps or self._task.check_mode:
            result.update(changed=bool(steps), steps=_flow.public_steps(steps, "planned" if steps else "none"),
                          reboot_required=False)
            return self._finish(result, path, facts, generation, applied=False)
        applied = _flow.apply(self, task_vars or {}, facts, steps, path.secrets(), args["step_timeout"],
                              args["extra_av_services"])
        result.update(changed=any(r.get("status") == "ok" for r in applied.records),
                      steps=_flow.shown_records(applied.records), reboot_required=applied.reboot_required)
        if applied.failed:
            result.update(failed=True, failed_step=applied.failed["name"], msg=_steps.failure_message(applied.failed),
                          **self._state(path, applied.facts, generation))
            return result
        if applied.reboot_required and any(r.get("status") == "skipped" for r in applied.records):
            result.update(self._state(path, applied.facts, generation), onboarded=False, msg=(
                "the host must restart before the remaining steps can run: restart it (for example with "
                "ansible.windows.win_reboot) and run this task again."))
            return result
        return self._finish(result, path, applied.facts, generation, applied=True)

    @staticmethod
    def _state(path, facts: dict, generation: str) -> dict:
        return dict(common_state(facts), **path.state(facts, generation))

    def _finish(self, result, path, facts, generation, applied):
        result.update(self._state(path, facts, generation))
        if result.get("changed") and not applied:
            return dict(result, msg="check mode: nothing was changed; 'steps' lists what would run.")
        problems, warnings = path.verify(facts, generation)
        result["verified"] = not problems
        if warnings:
            result["warnings"] = warnings
        if problems:
            done = "after the steps ran" if applied else "and nothing was planned to fix it"
            result.update(failed=True, msg=f"verification failed {done}: {'; '.join(problems)}.")
        return result
