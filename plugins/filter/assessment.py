# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn registered mde_info results into a fleet assessment."""

from __future__ import annotations

DOCUMENTATION = r"""
name: mde_assessment
short_description: Fleet assessment from the mde_info results of every host
version_added: 0.1.0
description:
  - Takes C(hostvars) and a list of host names, reads the result each host registered from
    M(defender.endpoint.mde_info) under O(result_var), and returns C(hosts) (one row per host) and
    C(summary) (counts by status and by generation).
  - A host with no registered result is reported as C(unreachable).
  - Status is one of C(ready), C(not_ready), C(onboarded), C(unsupported), C(failed), C(unreachable).
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  hosts:
    description: The host names to report, usually C(groups['all']).
    type: list
    elements: str
    required: true
  result_var:
    description: Name of the registered mde_info result.
    type: str
    default: mde_assessment
"""

EXAMPLES = r"""
- name: Build the assessment
  ansible.builtin.set_fact:
    fleet: "{{ hostvars | defender.endpoint.mde_assessment(groups['all']) }}"
"""

RETURN = r"""
_value:
  description: C({hosts, summary}).
  type: dict
"""


def _row(result):
    if not result or result.get("unreachable"):
        return {"status": "unreachable", "generation": None, "ready": False, "onboarded": False, "org_id": None,
                "av_running_mode": None, "missing_prerequisites": [],
                "reason": (result or {}).get("msg") or "host did not answer"}
    if result.get("failed"):
        return {"status": "failed", "generation": result.get("generation"), "ready": False, "onboarded": False,
                "org_id": None, "av_running_mode": None, "missing_prerequisites": [],
                "reason": result.get("msg")}
    missing = [item.get("id") for item in result.get("missing_prerequisites") or []]
    if result.get("generation") == "unsupported":
        status, reason = "unsupported", result.get("unsupported_reason")
    elif result.get("onboarded"):
        status, reason = "onboarded", None
    elif result.get("ready"):
        status, reason = "ready", None
    else:
        status, reason = "not_ready", "missing: " + ", ".join(missing)
    return {"status": status, "generation": result.get("generation"), "ready": bool(result.get("ready")),
            "onboarded": bool(result.get("onboarded")), "org_id": result.get("org_id"),
            "av_running_mode": result.get("av_running_mode"), "missing_prerequisites": missing, "reason": reason}


def mde_assessment(hostvars, hosts, result_var="mde_assessment"):
    rows = {}
    for name in hosts:
        result = (hostvars.get(name) or {}).get(result_var)
        rows[name] = _row(dict(result) if result else None)
    summary = {"total": len(rows), "by_status": {}, "by_generation": {}}
    for row in rows.values():
        summary["by_status"][row["status"]] = summary["by_status"].get(row["status"], 0) + 1
        generation = row["generation"] or "unknown"
        summary["by_generation"][generation] = summary["by_generation"].get(generation, 0) + 1
    return {"hosts": rows, "summary": summary}


class FilterModule:
    def filters(self):
        return {"mde_assessment": mde_assessment}
