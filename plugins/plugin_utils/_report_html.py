# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report as one self-contained HTML page: no script, no external file, readable on a laptop
screen without scrolling sideways (fixed table layout, wrapping cells).

Internal use only: the interface may change without notice.
"""

from __future__ import annotations

from html import escape

from ansible_collections.defender.endpoint.plugins.plugin_utils._report import STATUSES

COLOURS = {"onboarded": "#2e7d32", "offboarded": "#1565c0", "failed": "#c62828", "unsupported": "#6d4c41",
           "unreachable": "#ef6c00", "skipped": "#757575"}
_ORDER = {s: i for i, s in enumerate(("failed", "unreachable", "skipped", "unsupported", "onboarded", "offboarded"))}

_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,Segoe UI,Arial,sans-serif;margin:0 auto;padding:16px;max-width:1200px;color:#222}
h1{font-size:1.4em;margin:0 0 4px}
.meta{color:#555;margin:0 0 12px}
.dry{background:#fff3cd;border:1px solid #e0c36a;padding:8px;margin:8px 0}
.cards{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0 16px}
.card{flex:1 1 120px;border-radius:6px;padding:8px;color:#fff}
.card b{display:block;font-size:1.6em}
.bars{margin:0 0 16px}
.bar-row{display:flex;align-items:center;gap:8px;margin:4px 0}
.bar-label{flex:0 0 110px;font-weight:600}
.bar{flex:1 1 auto;display:flex;height:18px;background:#eee;border-radius:3px;overflow:hidden}
.bar span{display:block;height:100%}
.bar-count{flex:0 0 40px;text-align:right}
table{width:100%;border-collapse:collapse;table-layout:fixed}
th,td{border-bottom:1px solid #ddd;padding:6px;text-align:left;vertical-align:top;overflow-wrap:anywhere;
word-break:break-word;font-size:.9em}
th{background:#f4f4f4}
.badge{display:inline-block;padding:1px 6px;border-radius:3px;color:#fff;font-size:.85em}
.legend span{display:inline-block;margin-right:12px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
"""


def _bar(counts: dict) -> str:
    total = sum(counts.values()) or 1
    parts = "".join(f'<span style="width:{100 * n / total:.1f}%;background:{COLOURS[s]}" title="{s}: {n}"></span>'
                    for s, n in counts.items() if n)
    return f'<div class="bar">{parts}</div>'


def render(report: dict) -> str:
    summary = report["summary"]
    title = f"Defender for Endpoint fleet report - {escape(report['playbook'])}"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{title}</title><style>{_CSS}</style></head><body>", f"<h1>{title}</h1>",
           f'<p class="meta">{summary["total"]} hosts - generated {escape(report["generated"])} - '
           f'{summary["changed"]} changed</p>']
    if report.get("dry_run"):
        out.append('<p class="dry"><b>Dry run</b> (check mode): nothing was changed on any host; the rows say what '
                   "would run.</p>")
    out.append('<div class="cards">')
    for status in STATUSES:
        out.append(f'<div class="card" style="background:{COLOURS[status]}"><b>{summary["by_status"][status]}</b>'
                   f"{status}</div>")
    out.append("</div><h2>By generation</h2><div class=\"bars\">")
    for generation, counts in sorted(summary["by_generation"].items()):
        out.append(f'<div class="bar-row"><span class="bar-label">{escape(generation)}</span>{_bar(counts)}'
                   f'<span class="bar-count">{sum(counts.values())}</span></div>')
    legend = "".join(f'<span><i style="background:{c}"></i>{s}</span>' for s, c in COLOURS.items())
    out.append(f'</div><p class="legend">{legend}</p>')
    out.append("<h2>Hosts</h2><table><colgroup>" + "".join(
        f'<col style="width:{w}%">' for w in (12, 8, 13, 8, 12, 7, 26, 14)) + "</colgroup>")
    out.append("<thead><tr><th>host</th><th>generation</th><th>OS</th><th>status</th><th>org id</th>"
               "<th>AV mode</th><th>reason</th><th>next action</th></tr></thead><tbody>")
    rows = sorted(report["hosts"].items(), key=lambda item: (_ORDER.get(item[1]["status"], 9), item[0]))
    for name, entry in rows:
        cells = [name, entry.get("generation"), entry.get("os")]
        badge = f'<span class="badge" style="background:{COLOURS.get(entry["status"], "#555")}">' \
                f'{escape(entry["status"])}</span>'
        tail = [entry.get("org_id"), entry.get("av_running_mode"), entry.get("reason"), entry.get("next_action")]
        out.append("<tr>" + "".join(f"<td>{escape(str(c or ''))}</td>" for c in cells) + f"<td>{badge}</td>"
                   + "".join(f"<td>{escape(str(c or ''))}</td>" for c in tail) + "</tr>")
    out.append("</tbody></table></body></html>")
    return "\n".join(out) + "\n"
