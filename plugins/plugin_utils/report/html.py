# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report as one self-contained HTML page that reads at fleet size.

Internal use only: the interface may change without notice.

Everything is inline (style and one small script; no external file, font, image or network request), so the
page opens from a file, a mail attachment or an AWX artifact alike.  Hosts that need action come first; the
script adds a host-name search, status and generation filters and sortable columns, and the page is complete
without it.  The layout fits 1024 px without scrolling sideways: fixed column widths, cells that wrap, and
status badges and headers that never break inside a word.
"""

from __future__ import annotations

import json
from html import escape

from ansible_collections.defender.endpoint.plugins.plugin_utils.report.fleet import ATTENTION, STATUSES

COLOURS = {"failed": "#c62828", "probe_failed": "#ad1457", "unreachable": "#e65100", "restart_required": "#6a1b9a",
           "pending": "#00838f", "unsupported": "#6d4c41", "skipped": "#616161", "onboarded": "#2e7d32",
           "offboarded": "#1565c0"}
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; form-action 'none'"
RANK = {s: i for i, s in enumerate(STATUSES)}
# (header, share of the table's width in %) of the host table; the widths are fixed so that 1,000 rows lay out fast.
HOST_COLUMNS = (("host", 13), ("generation", 9), ("OS", 11), ("status", 12), ("org id", 11), ("AV mode", 8),
                ("reason", 23), ("next action", 13))
# The same with the Azure Arc / Defender for Identity column, when a host has either section.
HOST_COLUMNS_AZURE = (("host", 12), ("generation", 8), ("OS", 10), ("status", 11), ("org id", 9), ("AV mode", 7),
                      ("reason", 18), ("next action", 11), ("Arc / Identity", 14))
CLOUD_COLUMNS = (("subscription_id", "subscription"), ("plan", "plan"), ("mde_integration", "MDE integration"),
                 ("unified_solution", "unified solution"), ("linux", "Linux"),
                 ("vulnerability_assessment", "vulnerability assessment"), ("changed", "changed"))

_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,"Segoe UI",Arial,sans-serif;margin:0 auto;padding:16px;max-width:1280px;color:#222;
font-size:14px}
h1{font-size:1.4em;margin:0 0 4px}
h2{font-size:1.15em;margin:18px 0 6px}
.meta{color:#444;margin:0 0 10px}
.meta code{font-size:.95em}
.note{padding:8px 10px;margin:8px 0;border-radius:4px}
.dry{background:#fff3cd;border:1px solid #e0c36a}
.attention{background:#fdecea;border:1px solid #e57373}
.fine{background:#e8f5e9;border:1px solid #81c784}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(96px,1fr));gap:8px;margin:8px 0 12px}
.card{border:0;border-radius:6px;padding:6px 8px;color:#fff;text-align:left;font:inherit;font-size:.9em;
cursor:pointer;overflow-wrap:normal;word-break:keep-all}
.card b{display:block;font-size:1.5em}
.card.zero{opacity:.45}
.bar-row{display:flex;align-items:center;gap:8px;margin:4px 0}
.bar-label{flex:0 0 110px;font-weight:600;white-space:nowrap}
.bar{flex:1 1 auto;display:flex;height:16px;background:#eee;border-radius:3px;overflow:hidden}
.bar span{display:block;height:100%}
.bar-count{flex:0 0 48px;text-align:right}
.legend{margin:4px 0 0;color:#444}
.legend span{display:inline-block;margin-right:12px;white-space:nowrap}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
.controls{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;margin:6px 0 8px;padding:8px;
background:#f6f6f6;border-radius:4px}
.controls label{white-space:nowrap}
.controls input{width:16em;max-width:100%}
.controls[hidden]{display:none}
table{width:100%;border-collapse:collapse;table-layout:fixed}
th,td{border-bottom:1px solid #ddd;padding:5px 4px;text-align:left;vertical-align:top;font-size:.92em}
td{overflow-wrap:anywhere;word-break:break-word}
th{background:#f0f0f0;overflow-wrap:normal;word-break:keep-all;hyphens:manual}
#hosts th{white-space:nowrap}
th button{all:unset;cursor:pointer;font-weight:700}
th button:focus-visible{outline:2px solid #1565c0}
th[aria-sort=ascending] button::after{content:"\\2191"}
th[aria-sort=descending] button::after{content:"\\2193"}
tr[hidden]{display:none}
.badge{display:inline-block;padding:1px 5px;border-radius:3px;color:#fff;font-size:.86em;white-space:nowrap}
.word{white-space:nowrap}
.chg{display:block;font-size:.8em;color:#555;margin-top:2px;white-space:nowrap}
.need td:first-child{box-shadow:inset 3px 0 #c62828}
.small{font-size:.85em}
.stale{background:#fff3e0;border:1px solid #ffb74d}
.stale ul{margin:4px 0 0;padding-left:20px}
.az{display:block}
"""

_SCRIPT = """
(function () {
  var table = document.getElementById("hosts"), body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows), heads = table.tHead.rows[0].cells;
  var q = document.getElementById("q"), fs = document.getElementById("fs"), fg = document.getElementById("fg");
  var shown = document.getElementById("shown"), sorted = -1, dir = 1;
  document.getElementById("controls").hidden = false;
  function filter() {
    var text = q.value.trim().toLowerCase(), s = fs.value, g = fg.value, n = 0;
    rows.forEach(function (r) {
      var ok = (!text || r.getAttribute("data-host").indexOf(text) >= 0) &&
        (!s || (s === "attention" ? r.getAttribute("data-attention") === "1" : r.getAttribute("data-status") === s)) &&
        (!g || r.getAttribute("data-generation") === g);
      r.hidden = !ok;
      if (ok) { n += 1; }
    });
    shown.textContent = n + " of " + rows.length + " hosts shown";
  }
  function key(r, i) {
    var c = r.cells[i];
    return c.hasAttribute("data-sort") ? c.getAttribute("data-sort") : c.textContent.toLowerCase();
  }
  Array.prototype.forEach.call(heads, function (th, i) {
    th.querySelector("button").addEventListener("click", function () {
      dir = sorted === i ? -dir : 1;
      sorted = i;
      rows.sort(function (a, b) {
        var x = key(a, i), y = key(b, i);
        var ha = a.getAttribute("data-host"), hb = b.getAttribute("data-host");
        return (x < y ? -1 : x > y ? 1 : 0) * dir || (ha < hb ? -1 : ha > hb ? 1 : 0);
      });
      var part = document.createDocumentFragment();
      rows.forEach(function (r) { part.appendChild(r); });
      body.appendChild(part);
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll(".card"), function (card) {
    card.addEventListener("click", function () { fs.value = card.getAttribute("data-status"); filter(); });
  });
  q.addEventListener("input", filter);
  fs.addEventListener("change", filter);
  fg.addEventListener("change", filter);
  filter();
}());
"""


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _bar(counts: dict) -> str:
    total = sum(counts.values()) or 1
    parts = "".join(f'<span style="width:{100 * n / total:.2f}%;background:{COLOURS.get(s, "#555")}" '
                    f'title="{escape(s)}: {n}"></span>' for s, n in counts.items() if n)
    return f'<div class="bar">{parts}</div>'


def _badge(status: str) -> str:
    return f'<span class="badge" style="background:{COLOURS.get(status, "#555")}">{escape(status)}</span>'


def _arc_text(arc: dict) -> str:
    parts = [f"Arc: {arc.get('status')}"]
    parts += [str(arc[k]) for k in ("resource_id", "error_code") if arc.get(k)]
    extension = arc.get("extension") or {}
    if extension.get("name") or extension.get("state"):
        parts.append(" ".join(str(extension[k]) for k in ("name", "state") if extension.get(k)))
    if arc.get("reason"):
        parts.append(str(arc["reason"]))
    return " - ".join(parts)


def _identity_text(identity: dict) -> str:
    sensor = identity.get("sensor") or "no sensor"
    state = "ready" if identity.get("ready") else ("running" if identity.get("running") else "not running")
    text = f"Identity: {sensor}" + (f" {identity['version']}" if identity.get("version") else "")
    if identity.get("sensor"):
        text += f", {state}"
    return text + (f" - {identity['reason']}" if identity.get("reason") else "")


def _azure_cell(entry: dict) -> str:
    """The Arc / Defender for Identity details of one host, each on its own line (empty when it has neither)."""
    lines = []
    if isinstance(entry.get("arc"), dict):
        lines.append(_arc_text(entry["arc"]))
    if isinstance(entry.get("defender_for_identity"), dict):
        lines.append(_identity_text(entry["defender_for_identity"]))
    sort = escape(_text((entry.get("arc") or {}).get("status")) if isinstance(entry.get("arc"), dict) else "")
    body = "".join(f'<span class="az">{escape(line)}</span>' for line in lines)
    return f'<td class="small" data-sort="{sort}">{body}</td>'


def _interrupted(runs: list) -> list:
    """The banner naming earlier runs that started and wrote no report (interrupted, or still running)."""
    if not runs:
        return []
    items = "".join(f"<li><code>{escape(_text(r.get('run_id')))}</code> ({escape(_text(r.get('playbook')))}), "
                    + (f"started {escape(_text(r['started']))} (UTC)" if r.get("started") else "start time unknown")
                    + "</li>" for r in runs)
    return [f'<div class="note stale" id="interrupted"><b>{len(runs)} earlier run(s) started and wrote no report</b>: '
            "each was interrupted (stopped, killed, the controller lost) or is still running. Its hosts may have "
            "been changed since the report they last appeared in; run the playbook again for a current report "
            f"(docs/report.md, \"Interrupted runs\").<ul>{items}</ul></div>"]


def _host_row(name: str, entry: dict, azure: bool = False) -> str:
    status = entry.get("status") or "unreachable"
    generation = entry.get("generation") or "unknown"
    attention = "1" if entry.get("needs_attention") else "0"
    changed = ""
    if entry.get("changed"):
        changed = '<span class="chg">changed</span>'
    elif entry.get("changed") is None:
        changed = '<span class="chg" title="the connection broke after the host was read: a step may have run">' \
            "changed?</span>"
    # a long host name breaks after a dot rather than anywhere
    cells = [f'<td data-sort="{escape(name.lower())}">{escape(name).replace(".", ".<wbr>")}</td>',
             f'<td><span class="word">{escape(generation)}</span></td>',
             f"<td>{escape(_text(entry.get('os')))}</td>",
             f'<td data-sort="{RANK.get(status, 99):02d}">{_badge(status)}{changed}</td>',
             f'<td class="small">{escape(_text(entry.get("org_id")))}</td>',
             f"<td>{escape(_text(entry.get('av_running_mode')))}</td>",
             f"<td>{escape(_text(entry.get('reason')))}</td>",
             f"<td>{escape(_text(entry.get('next_action')))}</td>"]
    if azure:
        cells.append(_azure_cell(entry))
    marker = ' class="need"' if attention == "1" else ""
    return (f'<tr{marker} data-host="{escape(name.lower())}" data-status="{escape(status)}" '
            f'data-generation="{escape(generation)}" data-attention="{attention}">' + "".join(cells) + "</tr>")


def _cloud(section: list) -> list:
    out = ["<h2>Defender for Cloud</h2>"]
    if not section:
        return out + ["<p>No subscription was configured in this run.</p>"]
    out.append("<table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for _k, h in CLOUD_COLUMNS) + "</tr></thead>"
               "<tbody>")
    for entry in section:
        cells = "".join(f"<td>{escape(_text(entry.get(k)))}</td>" for k, _h in CLOUD_COLUMNS)
        out.append(f"<tr>{cells}</tr>")
        if entry.get("failed") or entry.get("msg"):
            out.append(f'<tr><td colspan="{len(CLOUD_COLUMNS)}" class="small">{escape(_text(entry.get("msg")))}'
                       "</td></tr>")
    return out + ["</tbody></table>"]


def render(report: dict) -> str:
    summary = report["summary"]
    by_status = summary["by_status"]
    title = f"Defender for Endpoint fleet report: {escape(report['playbook'])}"
    run = escape(report.get("run_id") or "")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           # the browser itself refuses any request the page might make: nothing leaves the machine
           f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
           f"<title>{title} ({run})</title><style>{_CSS}</style></head><body>", f"<h1>{title}</h1>",
           f'<p class="meta">run <code id="run-id">{run}</code> - generated <time id="generated">'
           f'{escape(report["generated"])}</time> (UTC) - {summary["total"]} hosts - {summary["changed"]} changed</p>']
    if report.get("dry_run"):
        out.append('<p class="note dry"><b>Dry run</b> (check mode): nothing was changed on any host; '
                   f'{summary.get("would_change", 0)} hosts would change, and their rows say what would run.</p>')
    if summary.get("needs_attention"):
        parts = ", ".join(f"{by_status[s]} {s}" for s in ATTENTION if by_status.get(s))
        out.append(f'<p class="note attention" id="attention"><b>{summary["attention"]} hosts need action</b> '
                   f"({parts}): they are listed first, with the next action for each.</p>")
    else:
        out.append('<p class="note fine" id="attention"><b>No host needs action.</b></p>')
    out.extend(_interrupted(summary.get("interrupted_runs") or []))
    out.append('<div class="cards">')
    for status in STATUSES:
        zero = " zero" if not by_status.get(status) else ""
        out.append(f'<button type="button" class="card{zero}" data-status="{status}" '
                   f'style="background:{COLOURS[status]}"><b>{by_status.get(status, 0)}</b>'
                   f'{status.replace("_", "_<wbr>")}</button>')
    out.append('</div><h2>By generation</h2><div class="bars">')
    for generation, counts in sorted(summary["by_generation"].items()):
        out.append(f'<div class="bar-row"><span class="bar-label">{escape(generation)}</span>{_bar(counts)}'
                   f'<span class="bar-count">{sum(counts.values())}</span></div>')
    legend = "".join(f'<span><i style="background:{COLOURS[s]}"></i>{s}</span>' for s in STATUSES)
    out.append(f'</div><p class="legend">{legend}</p>')
    if "defender_for_cloud" in report:
        out.extend(_cloud(report["defender_for_cloud"]))
    generations = sorted({(e.get("generation") or "unknown") for e in report["hosts"].values()})
    status_options = '<option value="">every status</option><option value="attention">needs action</option>' + \
        "".join(f'<option value="{s}">{s}</option>' for s in STATUSES)
    generation_options = '<option value="">every generation</option>' + \
        "".join(f'<option value="{escape(g)}">{escape(g)}</option>' for g in generations)
    out.append('<h2>Hosts</h2><div class="controls" id="controls" hidden>'
               '<label>Host name <input type="search" id="q" placeholder="search" autocomplete="off"></label>'
               f'<label>Status <select id="fs">{status_options}</select></label>'
               f'<label>Generation <select id="fg">{generation_options}</select></label>'
               '<span id="shown"></span><span class="small">Click a header to sort.</span></div>')
    azure = any(isinstance(e.get("arc"), dict) or isinstance(e.get("defender_for_identity"), dict)
                for e in report["hosts"].values())
    columns = HOST_COLUMNS_AZURE if azure else HOST_COLUMNS
    out.append('<table id="hosts"><colgroup>' + "".join(f'<col style="width:{w}%">' for _h, w in columns)
               + "</colgroup><thead><tr>"
               + "".join(f'<th><button type="button">{escape(h)}</button></th>' for h, _w in columns)
               + "</tr></thead><tbody>")
    rows = sorted(report["hosts"].items(),
                  key=lambda item: (RANK.get(item[1].get("status"), 99), item[0].lower()))
    out.extend(_host_row(name, entry, azure) for name, entry in rows)
    out.append(f"</tbody></table><script>{_SCRIPT}</script></body></html>")
    return "\n".join(out) + "\n"
