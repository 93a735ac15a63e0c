# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the fleet report (documented in mde_report_row.yml, mde_fleet_report.yml, mde_report_csv.yml,
mde_report_html.yml)."""

from __future__ import annotations

from ansible_collections.defender.endpoint.plugins.plugin_utils import _report, _report_html


def mde_report_row(result, assessment=None, action="onboard", check_mode=False):
    return _report.row(dict(result or {}), dict(assessment or {}), action, bool(check_mode))


def mde_fleet_report(hostvars, hosts, row_var="mde_host_report", dry_run=False, playbook="onboard", generated=""):
    rows = {}
    for name in hosts:
        value = (hostvars.get(name) or {}).get(row_var)
        if value:
            rows[name] = dict(value)
    return _report.fleet(rows, list(hosts), dry_run, playbook, str(generated))


def mde_report_csv(report):
    return _report.to_csv(report)


def mde_report_html(report):
    return _report_html.render(report)


class FilterModule:
    def filters(self):
        return {"mde_report_row": mde_report_row, "mde_fleet_report": mde_fleet_report,
                "mde_report_csv": mde_report_csv, "mde_report_html": mde_report_html}
