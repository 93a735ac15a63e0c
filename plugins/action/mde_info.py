# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of defender.endpoint.mde_info: one probe, then a pure reading of the facts."""

from __future__ import annotations

import time

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import host_view as _host_view
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.generation import classify
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.action import HostAction
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.prerequisites import check


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
        "defender_for_identity": _host_view.defender_for_identity(facts),
        "host_facts": facts,
    }


class ActionModule(HostAction):
    ARGUMENT_SPEC = {"extra_av_services": {"type": "list", "elements": "str", "default": []}}

    def unchanged(self, run):
        # When and where the facts were read: mde_onboard, defender_passive_mode and mma_workspace take this result
        # as their assessment option instead of probing again (bounded by their assessment_max_age).
        run.result.update(summarize(run.facts), changed=False, probed_at=round(time.time(), 3),
                          probed_host=run.task_vars.get("inventory_hostname"))
        return run.result
