# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of defender.endpoint.mde_info: one probe, then a pure reading of the facts."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.defender.endpoint.plugins.plugin_utils import _executor, _flow, _host_view
from ansible_collections.defender.endpoint.plugins.plugin_utils._generation import classify
from ansible_collections.defender.endpoint.plugins.plugin_utils._prerequisites import check

ARGUMENT_SPEC = {
    "extra_av_services": {"type": "list", "elements": "str", "default": []},
}


def summarize(facts: dict) -> dict:
    """Everything mde_info returns, computed from the probe's facts alone."""
    generation = classify(facts)
    missing, warnings = check(facts, generation.generation)
    supported = generation.generation != "unsupported"
    return {
        "generation": generation.generation,
        "unsupported_reason": generation.unsupported_reason,
        "os": dict(facts.get("os") or {}, label=generation.os_label),
        "onboarded": _host_view.onboarded(facts),
        "org_id": _host_view.org_id(facts),
        "av_running_mode": _host_view.av_running_mode(facts),
        "missing_prerequisites": missing,
        "prerequisite_warnings": warnings,
        "ready": supported and not missing,
        "host_facts": facts,
    }


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        result = super().run(tmp, task_vars)
        del tmp
        args = _flow.arguments(self, ARGUMENT_SPEC)
        facts = _executor.probe(self, task_vars or {}, args["extra_av_services"])
        result.update(summarize(facts), changed=False)
        return result
