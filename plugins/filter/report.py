# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the fleet report (documented in mde_report_row.yml, mde_fleet_report.yml, mde_report_csv.yml,
mde_report_html.yml, mde_report_start.yml, mde_report_interrupted_runs.yml, mde_report_in_progress.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.defender.endpoint.plugins.plugin_utils.report import fleet as _report
from ansible_collections.defender.endpoint.plugins.plugin_utils.report import html as _report_html


def _plain(value):
    """Ansible's lazy containers as plain dicts and lists, all the way down."""
    if isinstance(value, dict) or (hasattr(value, "keys") and hasattr(value, "items")):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def mde_report_row(result, assessment=None, action="onboard", check_mode=False):
    return _report.row(_plain(result or {}), _plain(assessment or {}), action, bool(check_mode))


def mde_fleet_report(hostvars, hosts, row_var="mde_host_report", dry_run=False, playbook="onboard", generated="",
                     run_id="", job_id="", defender_for_cloud=None, interrupted_runs=None):
    rows = {}
    for name in hosts:
        value = (hostvars.get(name) or {}).get(row_var)
        if value:
            rows[name] = _plain(value)
    try:
        return _report.fleet(rows, list(hosts), dry_run, playbook, str(generated or ""), str(run_id or ""),
                             str(job_id or ""), _plain(defender_for_cloud), interrupted=_plain(interrupted_runs))
    except _report.ReportError as exc:
        raise AnsibleFilterError(str(exc)) from None


def mde_report_start(playbook, hosts=None, check_mode=False, run_id="", job_id=""):
    try:
        return _report.start_marker(str(playbook or ""), _plain(hosts) or [], bool(check_mode), str(run_id or ""),
                                    str(job_id or ""))
    except _report.ReportError as exc:
        raise AnsibleFilterError(str(exc)) from None


def mde_report_interrupted_runs(report_dir, exclude=""):
    return _report.interrupted_runs(str(report_dir), str(exclude or ""))


def mde_report_in_progress(report_dir):
    return _report.in_progress_run(str(report_dir))


def mde_report_csv(report):
    return _report.to_csv(_plain(report))


def mde_report_html(report):
    return _report_html.render(_plain(report))


class FilterModule:
    def filters(self):
        return {"mde_report_row": mde_report_row, "mde_fleet_report": mde_fleet_report,
                "mde_report_csv": mde_report_csv, "mde_report_html": mde_report_html,
                "mde_report_start": mde_report_start, "mde_report_interrupted_runs": mde_report_interrupted_runs,
                "mde_report_in_progress": mde_report_in_progress}
