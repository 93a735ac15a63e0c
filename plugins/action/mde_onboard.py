# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of defender.endpoint.mde_onboard: probe -> plan -> (check mode: stop) -> apply -> verify."""

from __future__ import annotations

import hashlib
import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.defender.endpoint.plugins.plugin_utils import _executor, _flow, _host_view, _steps
from ansible_collections.defender.endpoint.plugins.plugin_utils._generation import classify
from ansible_collections.defender.endpoint.plugins.plugin_utils._packages import PackageError, parse_package
from ansible_collections.defender.endpoint.plugins.plugin_utils._windows_plan import (
    Refused, Want, plan_offboard, plan_onboard)
from ansible_collections.defender.endpoint.plugins.plugin_utils._windows_verify import (
    verify_offboarded, verify_onboarded, view_of)

ARGUMENT_SPEC = {
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "onboarding_package": {"type": "path"},
    "offboarding_package": {"type": "path"},
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
}


def _installer(args: dict) -> dict | None:
    path = args.get("installer")
    if not path:
        return None
    if args["installer_remote"]:
        return {"remote_path": path}
    if not os.path.isfile(path):
        raise AnsibleActionFail(f"installer {path} does not exist on the controller (set installer_remote: true "
                                "if the path is on the host).")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return {"local_path": path, "sha256": digest.hexdigest(), "name": os.path.basename(path)}


def _package(args: dict, kind: str, platform: str):
    path = args.get(f"{kind}_package")
    if not path:
        return None
    try:
        return parse_package(path, expect_kind=kind, expect_platform=platform)
    except PackageError as exc:
        raise AnsibleActionFail(str(exc)) from None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False  # put_file straight into the probe's staging folder: no mkdtemp round trip

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        if args["step_timeout"] < 30:
            raise AnsibleActionFail("step_timeout must be at least 30 seconds (an MSI install takes minutes).")
        present = args["state"] == "present"
        # Packages are parsed before the host is touched: an expired or wrong package costs no round trip.
        if _executor.is_windows(self):
            package = _package(args, "onboarding" if present else "offboarding", "windows")
        else:
            raise AnsibleActionFail("mde_onboard on Linux hosts is not available yet in this version.")
        want = Want(state=args["state"], package=package, passive_mode=args["passive_mode"],
                    installer=_installer(args), workspace_id=args["workspace_id"],
                    has_workspace_key=bool(args["workspace_key"]), cloud=args["cloud"],
                    allow_org_change=args["allow_org_change"], uninstall=args["uninstall"],
                    remove_mma_workspace=args["remove_mma_workspace"])
        facts = _executor.probe(self, task_vars or {}, args["extra_av_services"])
        generation = classify(facts)
        result.update(generation=generation.generation, os_label=generation.os_label,
                      package=package.summary() if package else None)
        try:
            steps = plan_onboard(facts, want) if present else plan_offboard(facts, want)
        except Refused as exc:
            return dict(result, failed=True, msg=str(exc), changed=False, **self._state(facts, generation.generation))
        before = view_of(facts, generation.generation)
        after = _steps.expected_view(before, steps, package.org_id if package and present else None)
        if self._task.diff and steps:
            result["diff"] = {"before": before, "after": after,
                              "prepared": "\n".join(f"{i}. {_steps.describe(s)}" for i, s in enumerate(steps, 1))}
        if not steps or self._task.check_mode:
            status = "planned" if steps else "none"
            result.update(changed=bool(steps), steps=_flow.public_steps(steps, status), reboot_required=False)
            return self._finish(result, facts, generation.generation, args, package, applied=False)
        secrets = {"onboarding_script": package.script} if package and present else {}
        if package and not present:
            secrets["offboarding_script"] = package.script
        if args["workspace_key"]:
            secrets["workspace_key"] = args["workspace_key"]
        applied = _flow.apply(self, task_vars or {}, facts, steps, secrets, args["step_timeout"],
                              args["extra_av_services"])
        result.update(changed=any(r.get("status") == "ok" for r in applied.records),
                      steps=_flow.shown_records(applied.records), reboot_required=applied.reboot_required)
        if applied.failed:
            result.update(failed=True, failed_step=applied.failed["name"], msg=_steps.failure_message(applied.failed),
                          **self._state(applied.facts, generation.generation))
            return result
        if applied.reboot_required and any(r.get("status") == "skipped" for r in applied.records):
            result.update(self._state(applied.facts, generation.generation), onboarded=False, msg=(
                "the host must restart before the remaining steps can run: restart it (for example with "
                "ansible.windows.win_reboot) and run this task again."))
            return result
        return self._finish(result, applied.facts, generation.generation, args, package, applied=True)

    @staticmethod
    def _state(facts: dict, generation: str) -> dict:
        return {"onboarded": _host_view.onboarded(facts), "org_id": _host_view.org_id(facts),
                "av_running_mode": _host_view.av_running_mode(facts),
                "force_passive_mode": (facts.get("mde") or {}).get("force_passive_mode"),
                "md4ws_version": view_of(facts, generation)["md4ws"] if facts else None}

    def _finish(self, result, facts, generation, args, package, applied):
        result.update(self._state(facts, generation))
        if result.get("changed") and not applied:
            return dict(result, msg="check mode: nothing was changed; 'steps' lists what would run.")
        warnings = result.setdefault("warnings", [])
        if args["state"] == "present":
            passive = args["passive_mode"]
            if passive is None and facts.get("third_party_av"):
                passive = True
            if generation == "downlevel":
                passive = None
            problems, notes = verify_onboarded(facts, generation, package.org_id if package else None, passive,
                                               args["workspace_id"])
            warnings.extend(notes)
            if generation == "downlevel":
                warnings.append("the Microsoft Monitoring Agent was retired on 31 August 2024; plan the move to "
                                "Defender for Cloud through Azure Arc (R-71..R-73) or to a supported OS.")
            result["verified"] = not problems
        else:
            problems = verify_offboarded(facts, generation, args["uninstall"])
            result["verified"] = not problems
        if not warnings:
            result.pop("warnings")
        if problems:
            done = "after the steps ran" if applied else "and nothing was planned to fix it"
            result.update(failed=True, msg=f"verification failed {done}: {'; '.join(problems)}.")
        return result
