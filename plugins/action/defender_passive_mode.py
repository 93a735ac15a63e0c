# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of defender.endpoint.defender_passive_mode: probe -> plan -> apply -> verify (R-30, R-31)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.defender.endpoint.plugins.plugin_utils import _executor, _flow, _host_view, _linux_plan, _steps
from ansible_collections.defender.endpoint.plugins.plugin_utils._settings_plan import (
    linux_passive_outcome, passive_outcome, plan_passive)
from ansible_collections.defender.endpoint.plugins.plugin_utils._windows_plan import Refused

ARGUMENT_SPEC = {
    "enabled": {"type": "bool", "required": True},
    "force": {"type": "bool", "default": False},
    "extra_av_services": {"type": "list", "elements": "str", "default": []},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        result = super().run(tmp, task_vars)
        del tmp
        args = _flow.arguments(self, ARGUMENT_SPEC)
        if args["force"] and args["enabled"]:
            raise AnsibleActionFail("force applies to enabled: false (leaving passive mode beside another real-time "
                                    "product); with enabled: true it would do nothing: remove it.")
        windows = _executor.is_windows(self)
        facts = _executor.probe(self, task_vars or {}, args["extra_av_services"])
        try:
            planner = plan_passive if windows else _linux_plan.plan_passive
            steps = planner(facts, args["enabled"], args["force"])
        except Refused as exc:
            raise AnsibleActionFail(str(exc)) from None
        if steps and self._task.diff:
            result["diff"] = {"before": self._setting(facts, windows), "after": self._wanted(steps[0], windows),
                              "prepared": _steps.describe(steps[0])}
        if steps and self._task.check_mode:
            return dict(result, changed=True, steps=_flow.public_steps(steps, "planned"), **self._state(facts))
        if steps:
            applied = _flow.apply(self, task_vars or {}, facts, steps, {}, 60, args["extra_av_services"])
            if applied.failed:
                return dict(result, failed=True, changed=False, failed_step=applied.failed["name"],
                            msg=_steps.failure_message(applied.failed), **self._state(applied.facts))
            facts = applied.facts
            result["steps"] = _flow.shown_records(applied.records)
        problems, warnings = (passive_outcome if windows else linux_passive_outcome)(facts, args["enabled"])
        result.update(changed=bool(steps), **self._state(facts))
        if warnings:
            result["warnings"] = warnings
        if problems:
            result.update(failed=True, msg="; ".join(problems) + ".")
        return result

    @staticmethod
    def _setting(facts: dict, windows: bool) -> dict:
        if windows:
            return {"force_defender_passive_mode": (facts.get("mde") or {}).get("force_passive_mode")}
        return {"enforcement_level": _host_view.managed_setting(facts, "antivirusEngine", "enforcementLevel")}

    @staticmethod
    def _wanted(step: dict, windows: bool) -> dict:
        if windows:
            return {"force_defender_passive_mode": step["value"]}
        return {"enforcement_level": step["settings"]["antivirusEngine"]["enforcementLevel"]}

    @staticmethod
    def _state(facts: dict) -> dict:
        if facts.get("platform") == "linux":
            return {"enforcement_level": _host_view.managed_setting(facts, "antivirusEngine", "enforcementLevel"),
                    "av_running_mode": _host_view.av_running_mode(facts),
                    "third_party_av": [c.get("comm") for c in facts.get("fanotify_conflicts") or []]}
        return {"force_passive_mode": (facts.get("mde") or {}).get("force_passive_mode"),
                "av_running_mode": _host_view.av_running_mode(facts),
                "third_party_av": facts.get("third_party_av") or [],
                "tamper_protected": bool((facts.get("defender") or {}).get("is_tamper_protected"))}
