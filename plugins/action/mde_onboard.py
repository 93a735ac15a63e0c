# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of defender.endpoint.mde_onboard: probe -> plan -> (check mode: stop) -> apply -> verify."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import apply as _apply
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import files as _files
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import inputs as _inputs
from ansible_collections.defender.endpoint.plugins.plugin_utils.windows.certificates import CertificateError, read_certificate
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.generation import classify
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.action import ASSESSMENT_SPEC, HostAction
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.host_view import common_state
from ansible_collections.defender.endpoint.plugins.plugin_utils.linux.onboarding import LinuxOnboarding
from ansible_collections.defender.endpoint.plugins.plugin_utils.windows.onboarding import WindowsOnboarding
from ansible_collections.defender.endpoint.plugins.plugin_utils.packages.parse import PackageError, parse_package
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.steps import failure_message

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
    **ASSESSMENT_SPEC,
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
    return _files.local_file(path, "installer", "give the installer file itself (md4ws.msi, or MMASetup-AMD64.exe "
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


class ActionModule(HostAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    MAY_BE_EMPTY = ("proxy",)
    CONSTRAINTS = {"required_if": [("installer_remote", True, ("installer",))],
                   "required_by": {"workspace_key": "workspace_id"}}
    NUMBERED_DIFF = True

    def parse(self, run):
        args = run.args
        _check_inputs(args, self._task.args)
        # Packages are parsed before the host is touched: an expired or wrong package costs no round trip.
        package = _package(args, "onboarding" if args["state"] == "present" else "offboarding",
                           "windows" if run.windows else "linux")
        certificate = None
        if run.windows and args["intermediate_ca_certificate"]:
            try:
                certificate = read_certificate(args["intermediate_ca_certificate"])
            except CertificateError as exc:
                raise AnsibleActionFail(str(exc)) from None
        onboarding = WindowsOnboarding if run.windows else LinuxOnboarding
        platform = onboarding(args, package, _installer(args) if run.windows else None, certificate)
        run.context.update(package=package, platform=platform)

    def probe(self, run):
        platform = run.context["platform"]
        return self.facts_or_probe(run, platform.probe_secrets(), platform.probe_paths())

    def plan(self, run):
        classified, package = classify(run.facts), run.context["package"]
        run.context["generation"] = classified.generation
        run.result.update(generation=classified.generation, os_label=classified.os_label,
                          package=package.summary() if package else None)
        return run.context["platform"].plan(run.facts)

    def refused(self, run, exc):
        return dict(run.result, failed=True, msg=str(exc), changed=False, **self.state(run))

    def secrets(self, run):
        return run.context["platform"].secrets()

    def timeout(self, run):
        return run.args["step_timeout"]

    def view(self, run):
        return run.context["platform"].view(run.facts, run.context["generation"])

    def org_id(self, run):
        return run.context["package"].org_id if run.context["package"] else None

    def state(self, run):
        return dict(common_state(run.facts), **run.context["platform"].state(run.facts, run.context["generation"]))

    def unchanged(self, run):
        run.result.update(changed=False, steps=[], reboot_required=False)
        return self.verify(run, changed=False)

    def planned(self, run):
        run.result.update(changed=True, steps=_apply.public_steps(run.steps, "planned"), reboot_required=False,
                          msg="check mode: nothing was changed; 'steps' lists what would run.", **self.state(run))
        return run.result

    def _applied(self, run):
        records = run.applied.records
        run.result.update(changed=any(r.get("status") == "ok" for r in records), steps=self.records(run),
                          reboot_required=run.applied.reboot_required)

    def failed(self, run):
        self._applied(run)
        run.result.update(failed=True, failed_step=run.applied.failed["name"],
                          msg=failure_message(run.applied.failed), **self.state(run))
        return run.result

    def done(self, run):
        self._applied(run)
        if run.applied.reboot_required and any(r.get("status") == "skipped" for r in run.applied.records):
            run.result.update(self.state(run), onboarded=False, msg=(
                "the host must restart before the remaining steps can run: restart it (for example with "
                "ansible.windows.win_reboot) and run this task again."))
            return run.result
        return self.verify(run, changed=run.result["changed"])

    def verify(self, run, changed):
        run.result.update(changed=changed, **self.state(run))
        problems, warnings = run.context["platform"].verify(run.facts, run.context["generation"])
        run.result["verified"] = not problems
        if warnings:
            run.result["warnings"] = warnings
        if problems:
            done = "after the steps ran" if run.applied else "and nothing was planned to fix it"
            run.result.update(failed=True, msg=f"verification failed {done}: {'; '.join(problems)}.")
        return run.result
