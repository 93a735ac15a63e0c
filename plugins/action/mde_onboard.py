# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of defender.endpoint.mde_onboard: probe -> plan -> (check mode: stop) -> apply -> verify."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import apply as _apply
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.action import ASSESSMENT_SPEC, HostAction
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.generation import classify
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.host_view import common_state
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.steps import failure_message
from ansible_collections.defender.endpoint.plugins.plugin_utils.linux.onboarding import LinuxOnboarding
from ansible_collections.defender.endpoint.plugins.plugin_utils.packages.onboard_inputs import check_arguments, installer, package_for
from ansible_collections.defender.endpoint.plugins.plugin_utils.windows.certificates import CertificateError, read_certificate
from ansible_collections.defender.endpoint.plugins.plugin_utils.windows.onboarding import WindowsOnboarding

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


class ActionModule(HostAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    MAY_BE_EMPTY = ("proxy",)
    CONSTRAINTS = {"required_if": [("installer_remote", True, ("installer",))],
                   "required_by": {"workspace_key": "workspace_id"}}
    NUMBERED_DIFF = True

    def parse(self, run):
        args = run.args
        check_arguments(args, self._task.args)
        # Packages are parsed before the host is touched: an expired or wrong package costs no round trip.
        package = package_for(args, "onboarding" if args["state"] == "present" else "offboarding",
                              "windows" if run.windows else "linux")
        certificate = None
        if run.windows and args["intermediate_ca_certificate"]:
            try:
                certificate = read_certificate(args["intermediate_ca_certificate"])
            except CertificateError as exc:
                raise AnsibleActionFail(str(exc)) from None
        onboarding = WindowsOnboarding if run.windows else LinuxOnboarding
        platform = onboarding(args, package, installer(args) if run.windows else None, certificate)
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
