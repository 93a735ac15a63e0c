# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of defender.endpoint.defender_passive_mode: probe -> plan -> apply -> verify (R-30, R-31)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import host_view as _host_view
from ansible_collections.defender.endpoint.plugins.plugin_utils.linux import plan as _linux_plan
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.action import ASSESSMENT_SPEC, HostAction
from ansible_collections.defender.endpoint.plugins.plugin_utils.linux.verify import linux_passive_outcome
from ansible_collections.defender.endpoint.plugins.plugin_utils.windows.settings import passive_outcome, plan_passive


class ActionModule(HostAction):
    ARGUMENT_SPEC = {
        "enabled": {"type": "bool", "required": True},
        "force": {"type": "bool", "default": False},
        "extra_av_services": {"type": "list", "elements": "str", "default": []},
        **ASSESSMENT_SPEC,
    }

    def parse(self, run):
        if run.args["force"] and run.args["enabled"]:
            raise AnsibleActionFail("force applies to enabled: false (leaving passive mode beside another real-time "
                                    "product); with enabled: true it would do nothing: remove it.")

    def plan(self, run):
        return (plan_passive if run.windows else _linux_plan.plan_passive)(run.facts, run.args["enabled"],
                                                                           run.args["force"])

    def view(self, run):
        if run.windows:
            return {"force_defender_passive_mode": (run.facts.get("mde") or {}).get("force_passive_mode")}
        return {"enforcement_level": _host_view.managed_setting(run.facts, "antivirusEngine", "enforcementLevel")}

    def state(self, run):
        facts = run.facts
        if not run.windows:
            return {"enforcement_level": _host_view.managed_setting(facts, "antivirusEngine", "enforcementLevel"),
                    "av_running_mode": _host_view.av_running_mode(facts),
                    "third_party_av": [c.get("comm") for c in facts.get("fanotify_conflicts") or []]}
        return {"force_passive_mode": (facts.get("mde") or {}).get("force_passive_mode"),
                "av_running_mode": _host_view.av_running_mode(facts),
                "third_party_av": facts.get("third_party_av") or [],
                "tamper_protected": bool((facts.get("defender") or {}).get("is_tamper_protected"))}

    def outcome(self, run):
        return (passive_outcome if run.windows else linux_passive_outcome)(run.facts, run.args["enabled"])
