"""The HTML fleet report at 22 hosts (the lab fleet through playbooks/onboard.yml) and at 1,000 hosts (the lab's
real rows under 1,000 names, through the report role), laid out in headless Chromium at 1024 px: no sideways
scrolling, badges and headers that never break inside a word, hosts that need action first, and the search,
filters and sorting working; plus a check that the page refers to nothing outside itself."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import pytest

from conftest import LAB, ROOT, Lab
from windows_lab import fleet_files

PLAYBOOKS = ROOT / "playbooks"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
UNAVAILABLE = ROOT / ".build" / "browser-unavailable"
SHOTS = ROOT / ".build" / "report-screenshots"
WHY = (UNAVAILABLE.read_text().strip() if UNAVAILABLE.exists() else
       "Chromium is not installed here (bash scripts/setup_browser.sh installs Debian's chromium)")
needs_chromium = pytest.mark.skipif(not CHROMIUM, reason=WHY)
HOSTILE = '"><img src="https://example.invalid/x.png"><script>document.title="pwned"</script>'

# Runs in the page after its own script: measures the layout, then drives the controls like a user would, and
# writes what it saw as JSON into <pre id="probe">, which --dump-dom prints.
PROBE = r"""
<script>
(function () {
  var out = {scroll: document.documentElement.scrollWidth, inner: window.innerWidth, bad: [], title: document.title};
  function within(el, box) {
    var r = el.getBoundingClientRect(), p = box.getBoundingClientRect();
    return r.left >= p.left - 0.5 && r.right <= p.right + 0.5;
  }
  document.querySelectorAll("#hosts th").forEach(function (th) {
    var b = th.querySelector("button");
    if (th.scrollWidth > th.clientWidth || !within(b, th) || b.getClientRects().length !== 1) {
      out.bad.push("header " + th.textContent);
    }
  });
  document.querySelectorAll(".badge, .word, .chg").forEach(function (el) {
    if (!within(el, el.closest("td")) || el.getClientRects().length !== 1) { out.bad.push("cell " + el.textContent); }
  });
  document.querySelectorAll(".card").forEach(function (el) {
    if (el.scrollWidth > el.clientWidth) { out.bad.push("card " + el.textContent); }
  });
  var rows = Array.prototype.slice.call(document.querySelectorAll("#hosts tbody tr"));
  out.attention_order = rows.map(function (r) { return r.getAttribute("data-attention"); }).join("");
  out.images = document.images.length + document.querySelectorAll("[src],link,iframe,object,embed").length;
  out.controls_hidden = document.getElementById("controls").hidden;
  function visible() {
    rows = Array.prototype.slice.call(document.querySelectorAll("#hosts tbody tr"));
    return rows.filter(function (r) { return getComputedStyle(r).display !== "none"; });
  }
  function names() { return visible().map(function (r) { return r.getAttribute("data-host"); }); }
  var q = document.getElementById("q"), fs = document.getElementById("fs"), fg = document.getElementById("fg");
  function set(el, value, type) { el.value = value; el.dispatchEvent(new Event(type)); }
  out.all = visible().length;
  set(q, "SRV2019", "input");
  out.search = names();
  out.shown = document.getElementById("shown").textContent;
  set(q, "", "input");
  set(fs, "attention", "change");
  out.attention = visible().length;
  set(fs, "probe_failed", "change");
  out.probe_failed = visible().length;
  set(fs, "", "change");
  set(fg, "linux", "change");
  out.linux = visible().length;
  set(fs, "onboarded", "change");
  out.linux_onboarded = visible().length;
  set(fg, "", "change");
  set(fs, "", "change");
  var host = document.querySelector("#hosts th button");
  host.click();
  out.sorted_up = names();
  host.click();
  out.sorted_down = names();
  out.aria = document.querySelector("#hosts th").getAttribute("aria-sort");
  document.querySelector('.card[data-status="unsupported"]').click();
  out.card = [fs.value, visible().length];
  out.ms = Math.round(performance.now());
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}());
</script>
"""


def _chromium(tmp_path, page, *args, height=1400):
    profile = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
           f"--window-size=1024,{height}", *args, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def _probe(tmp_path, html: str) -> dict:
    page = tmp_path / "probe.html"
    page.write_text(html.replace("</body>", PROBE + "</body>"))
    dom = _chromium(tmp_path, page, "--dump-dom").stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                      .replace("&amp;", "&"))


def _screenshot(tmp_path, page, name, capsys):
    """A 1024 px wide screenshot, kept in .build/report-screenshots (pytest's tmp folders are soon rotated)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / name
    shot.unlink(missing_ok=True)
    proc = _chromium(tmp_path, page, f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 20000, proc.stderr[-2000:]
    with capsys.disabled():
        print(f"\n[report screenshot] {shot}")
    return shot


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    base = tmp_path_factory.mktemp("html")
    packages, fleet_vars = fleet_files(base)
    lab = Lab(base / "state")
    small = base / "report-22"
    proc = lab.playbook(PLAYBOOKS / "onboard.yml", "-e", f"@{fleet_vars}", inventory=LAB / "inventory.yml",
                        MDE_REPORT_DIR=str(small))
    assert (small / "report.html").exists(), proc.stdout[-4000:]
    rows = json.loads((small / "report.json").read_text())["hosts"]
    # 1,000 hosts: the lab's real rows under fleet-like names, one with a hostile name and reason
    real = sorted(rows.items())
    hosts = {}
    for i in range(1000):
        name, row = real[i % len(real)]
        hosts[f"{name}-{i:04d}.corp.example.com"] = row
    hosts[HOSTILE] = dict(real[0][1], reason=HOSTILE)
    hosts.pop(f"{real[0][0]}-0000.corp.example.com")
    inventory = base / "fleet-1000.json"
    inventory.write_text(json.dumps({"all": {"hosts": {n: {"mde_host_report": r} for n, r in hosts.items()}}}))
    big = base / "report-1000"
    started = time.monotonic()
    proc = lab.playbook(ROOT / "tests" / "integration" / "playbooks" / "report_only.yml", inventory=inventory,
                        MDE_REPORT_DIR=str(big))
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-4000:]
    return {"22": small, "1000": big, "seconds_1000": seconds}


def _report(pages, size):
    folder = pages[size]
    return folder, json.loads((folder / "report.json").read_text()), (folder / "report.html").read_text()


@pytest.mark.parametrize("size", ["22", "1000"])
def test_the_page_refers_to_nothing_outside_itself(pages, size):
    _folder, report, html = _report(pages, size)
    assert len(report["hosts"]) == int(size)
    assert not re.search(r"""(?:src|href|action|data|poster|srcset)\s*=\s*["']?\s*(?:[a-z]+:)?//""", html, re.I)
    assert "@import" not in html and not re.search(r"url\s*\(", html, re.I)
    assert not re.search(r"<(?:link|iframe|object|embed|img|base)\b", html, re.I)
    assert "default-src 'none'" in html                   # and the browser is told to refuse any request
    if size == "1000":
        assert HOSTILE not in html and "&lt;img src=&quot;https://example.invalid/x.png&quot;&gt;" in html


@needs_chromium
@pytest.mark.parametrize("size", ["22", "1000"])
def test_the_page_reads_at_1024px_in_chromium(pages, size, tmp_path, capsys):
    folder, report, html = _report(pages, size)
    seen = _probe(tmp_path, html)
    assert seen["scroll"] <= seen["inner"] == 1024, f"the page is {seen['scroll']}px wide in a 1024px window"
    assert seen["bad"] == [], "broken inside a word or overflowing its cell"
    attention = report["summary"]["attention"]
    assert attention > 0 and seen["attention_order"] == "1" * attention + "0" * (int(size) - attention)
    assert seen["images"] == 0 and seen["title"].startswith("Defender for Endpoint fleet report")
    assert seen["controls_hidden"] is False
    shot = _screenshot(tmp_path, folder / "report.html", f"report-{size}-hosts-1024.png", capsys)
    written = f"; the report role wrote it in {pages['seconds_1000']:.1f} s" if size == "1000" else ""
    with capsys.disabled():
        print(f"[report {size} hosts] {len(html)} bytes of HTML, laid out and driven in Chromium in {seen['ms']} ms"
              f"{written}; screenshot {shot.stat().st_size} bytes")


@needs_chromium
@pytest.mark.parametrize("size", ["22", "1000"])
def test_search_filters_and_sorting_work_in_chromium(pages, size, tmp_path):
    _folder, report, html = _report(pages, size)
    seen = _probe(tmp_path, html)
    hosts = report["hosts"]
    names = sorted(h.lower() for h in hosts)
    assert seen["all"] == len(hosts)
    assert sorted(seen["search"]) == [h for h in names if "srv2019" in h] and seen["search"]
    assert seen["shown"] == f"{len(seen['search'])} of {len(hosts)} hosts shown"
    assert seen["attention"] == report["summary"]["attention"]
    assert seen["probe_failed"] == report["summary"]["by_status"]["probe_failed"]
    linux = [r for r in hosts.values() if r["generation"] == "linux"]
    assert seen["linux"] == len(linux) > 0
    assert seen["linux_onboarded"] == len([r for r in linux if r["status"] == "onboarded"])
    assert seen["sorted_up"] == names and seen["sorted_down"] == names[::-1] and seen["aria"] == "descending"
    assert seen["card"] == ["unsupported", report["summary"]["by_status"]["unsupported"]]


def test_the_page_is_complete_without_its_script(pages):
    """With scripts off, every host is in the page, needing-action first, and the controls stay hidden."""
    _folder, report, html = _report(pages, "22")
    body = html.split("<script>")[0]
    order = re.findall(r'<tr(?: class="need")? data-host="([^"]+)"[^>]*data-attention="(\d)"', body)
    assert len(order) == 22 and [a for _h, a in order] == sorted((a for _h, a in order), reverse=True)
    assert '<div class="controls" id="controls" hidden>' in body
