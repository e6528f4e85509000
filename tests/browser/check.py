#!/usr/bin/env python3
"""Browser check of the retain dashboard (notes/ui-contract.md) with headless Chromium over raw CDP.

  check.py report FILE [--screenshots DIR]          a self-contained report, opened from file:// offline
  check.py serve URL [--token T] [--screenshots DIR] a running `retain serve` (api mode)

For every page of every analysis (and the customer pages) it asserts: no console error, no
uncaught exception, no Log error entry (CSP violations land there), no failed request, only
allowed URLs requested (report: file/data/blob; serve: the server's origin, data, blob), every
panel rendered with `data-panel`/`data-kind`, and the marks ECharts drew (one graphic element per
data item) equal to the count computed here from the page JSON. On the at-risk page it sets filters,
checks the match count and the exported CSV. Prints one line per page; exits 1 on the first failing
page (with every problem found on it), 2 on a setup problem. Always stops Chromium.

Needs only the standard library and `websockets` (Debian: python3-websockets) and `chromium`.
"""
import argparse
import asyncio
import base64
import collections
import csv
import io
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

try:
    import websockets
except ImportError:  # pragma: no cover
    sys.exit("check.py needs the 'websockets' module (Debian: apt-get install python3-websockets; "
             "run with /usr/bin/python3)")

PAGE_ORDER = ["overview", "segments", "value", "retention", "at-risk", "campaigns", "models", "production"]
ROW_KEYS = ["customer_id", "segment", "stage", "churn_risk", "p_alive", "expected_purchases", "clv",
            "historic_value", "value_at_risk", "next_purchase", "reasons"]
WIDTH, HEIGHT = 1280, 900


class CheckFailed(Exception):
    """A check failed: message says what and where."""


class SetupFailed(Exception):
    """Chromium or the target could not be started / reached."""


# ------------------------------------------------------------------------------------ Chromium

class Chromium:
    def __init__(self, exe, timeout):
        self.exe, self.timeout = exe, timeout
        self.proc = None
        self.profile = tempfile.mkdtemp(prefix="retain-check-")
        self.stderr_tail = collections.deque(maxlen=40)
        self._drain = None

    async def start(self):
        args = [self.exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                "--disable-dev-shm-usage", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={self.profile}", "--remote-debugging-port=0", "about:blank"]
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True)   # own process group: stop() ends chromium and its children only
        except FileNotFoundError:
            raise SetupFailed(f"cannot run {self.exe!r} (install chromium or pass --chromium PATH)")
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SetupFailed("chromium did not print its DevTools URL within %ds; stderr:\n%s"
                                  % (self.timeout, "\n".join(self.stderr_tail)))
            try:
                line = await asyncio.wait_for(self.proc.stderr.readline(), left)
            except asyncio.TimeoutError:
                continue
            if not line:
                raise SetupFailed("chromium exited before it was ready; stderr:\n" + "\n".join(self.stderr_tail))
            text = line.decode("utf-8", "replace").rstrip()
            self.stderr_tail.append(text)
            m = re.search(r"DevTools listening on (ws://\S+)", text)
            if m:
                self._drain = asyncio.ensure_future(self._drain_stderr())   # keep the pipe from filling up
                return m.group(1)

    async def _drain_stderr(self):
        while True:
            line = await self.proc.stderr.readline()
            if not line:
                return
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip())

    def kill_now(self):
        """Synchronous, idempotent: SIGTERM the process group, SIGKILL after 5 s."""
        p = self.proc
        if p is not None and p.returncode is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            for _ in range(50):
                try:
                    pid, _status = os.waitpid(p.pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid:
                    break
                time.sleep(0.1)
            # children (renderers, zygote) leave the group shortly after the browser process;
            # whatever is left after 3 s more gets SIGKILL (the group is ours alone: start_new_session)
            for i in range(31):
                try:
                    os.killpg(p.pid, signal.SIGKILL if i == 30 else 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        if self._drain:
            self._drain.cancel()
        shutil.rmtree(self.profile, ignore_errors=True)


# ------------------------------------------------------------------------------------ CDP

class CDP:
    """One websocket to the browser; flat sessions; events fanned out to listeners."""

    def __init__(self, ws, timeout):
        self.ws, self.timeout = ws, timeout
        self.next_id = 0
        self.pending = {}
        self.listeners = []
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if "id" in msg:
                    fut = self.pending.pop(msg["id"], None)
                    if fut and not fut.done():
                        if "error" in msg:
                            fut.set_exception(CheckFailed("CDP %s failed: %s" % (fut.method, msg["error"].get("message"))))
                        else:
                            fut.set_result(msg.get("result", {}))
                else:
                    for fn in list(self.listeners):
                        try:
                            fn(msg.get("method"), msg.get("params", {}), msg.get("sessionId"))
                        except Exception as e:   # a listener bug must not stop the reader (every wait would time out)
                            print(f"check.py: event handler failed on {msg.get('method')}: {e!r}", file=sys.stderr)
        except websockets.exceptions.ConnectionClosed:
            pass
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(SetupFailed("the DevTools connection closed (did chromium crash?)"))

    async def send(self, method, params=None, session=None, timeout=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        fut = asyncio.get_running_loop().create_future()
        fut.method = method
        self.pending[self.next_id] = fut
        await self.ws.send(json.dumps(msg))
        try:
            return await asyncio.wait_for(fut, timeout or self.timeout)
        except asyncio.TimeoutError:
            raise CheckFailed(f"CDP {method} got no answer within {timeout or self.timeout}s")


class Page:
    """A tab: records console/log errors, exceptions, requests and failures as they happen."""

    def __init__(self, cdp, session, allowed_url):
        self.cdp, self.session, self.allowed_url = cdp, session, allowed_url
        self.problems = []       # (text) since the last take_problems()
        self.warnings = []
        self.requests = {}       # requestId → url
        self.expected_status = set()   # (status, url-suffix) allowed once, e.g. the wrong-token 401
        cdp.listeners.append(self._on_event)

    def _on_event(self, method, p, session):
        if session != self.session:
            return
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            if p.get("type") in ("error", "assert"):
                self.problems.append(f"console.{p['type']}: {text}")
            elif p.get("type") == "warning":
                self.warnings.append(text)
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            desc = (d.get("exception") or {}).get("description") or d.get("text")
            self.problems.append(f"uncaught exception: {desc} at {d.get('url', '')}:{d.get('lineNumber')}")
        elif method == "Log.entryAdded":
            e = p.get("entry", {})
            if e.get("level") == "error":
                if e.get("source") == "network" and any(f"status of {st}" in e.get("text", "") and (e.get("url") or "").endswith(sfx)
                                                       for st, sfx in self.expected_status):
                    return
                self.problems.append(f"log error ({e.get('source')}): {e.get('text')} {e.get('url', '')}".rstrip())
            elif e.get("level") == "warning":
                self.warnings.append(e.get("text", ""))
        elif method == "Network.requestWillBeSent":
            url = p["request"]["url"]
            self.requests[p["requestId"]] = url
            why = self.allowed_url(url)
            if why:
                self.problems.append(f"request to a forbidden URL: {url[:200]} ({why})")
        elif method == "Network.responseReceived":
            st = p["response"].get("status", 0)
            url = p["response"].get("url", "")
            if st >= 400:
                key = next(((s, sfx) for s, sfx in self.expected_status if s == st and url.endswith(sfx)), None)
                if key:
                    return
                self.problems.append(f"HTTP {st} for {url[:200]}")
        elif method == "Network.loadingFailed":
            url = self.requests.get(p["requestId"], "?")
            # An <a download> of a blob: URL turns into a download; Chromium reports the navigation
            # request as aborted. That is the download working, not a failure.
            if p.get("canceled") and url.startswith("blob:"):
                return
            self.problems.append(f"request failed: {url[:200]} ({p.get('errorText')}{', blocked: ' + p['blockedReason'] if p.get('blockedReason') else ''})")

    def take_problems(self):
        out, self.problems = self.problems, []
        return out

    async def send(self, method, params=None, timeout=None):
        return await self.cdp.send(method, params, self.session, timeout)

    async def eval(self, expr, timeout=None):
        r = await self.send("Runtime.evaluate", {"expression": expr, "awaitPromise": True, "returnByValue": True},
                            timeout)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise CheckFailed("page script failed: %s" % ((d.get("exception") or {}).get("description") or d.get("text")))
        return r.get("result", {}).get("value")

    async def wait_for(self, expr, timeout, what):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = await self.eval(expr)
            if last:
                return last
            await asyncio.sleep(0.1)
        raise CheckFailed(f"timed out after {timeout}s waiting for {what} (last: {last!r}); "
                          f"problems so far: {self.problems[:5]}")


async def open_page(cdp, allowed_url, offline):
    target = await cdp.send("Target.createTarget", {"url": "about:blank"})
    att = await cdp.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
    page = Page(cdp, att["sessionId"], allowed_url)
    for dom in ("Runtime", "Log", "Network", "Page"):
        await page.send(dom + ".enable")
    await page.send("Emulation.setDeviceMetricsOverride", {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    if offline:
        await page.send("Network.emulateNetworkConditions",
                        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    return page


# ------------------------------------------------------------------------------------ expectations

def expected_marks(chart):
    """Marks the contract promises for a chart (one per non-null data item)."""
    if chart is None or chart.get("kind") == "kpis":
        return 0
    kind = chart["kind"]
    if kind in ("bar", "line"):
        return sum(v is not None for s in chart.get("series", []) for v in s.get("values", []))
    if kind == "heatmap":
        return sum(1 for c in chart.get("cells", []) if len(c) > 2 and c[2] is not None)
    if kind == "scatter":
        return sum(len(s.get("points", [])) for s in chart.get("series", []))
    raise CheckFailed(f"unknown chart kind {kind!r} in the page JSON")


def filter_rows(rows, segment, min_risk, sort="value_at_risk", order="desc"):
    """The contract's filter/sort: nulls last, ties by customer_id ascending."""
    out = [r for r in rows if (not segment or r["segment"] == segment) and (min_risk is None or r["churn_risk"] >= min_risk)]
    present = [r for r in out if r.get(sort) is not None]
    missing = sorted((r for r in out if r.get(sort) is None), key=lambda r: r["customer_id"])
    present.sort(key=lambda r: r["customer_id"])
    present.sort(key=lambda r: r[sort], reverse=(order == "desc"))
    return present + missing


def csv_number(v):
    """A number as the server (Rust f64 Display) and the browser (String(n)) write it."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return repr(v) if isinstance(v, float) else str(v)


def rows_csv(rows):
    """The exact CSV `GET …/customers?format=csv` answers (Rust csv crate defaults: \\n line ends,
    quotes only when needed; reasons as format!("{} {:+.4}"))."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ROW_KEYS)
    for r in rows:
        w.writerow(["; ".join(f"{x['feature']} {x['contribution']:+.4f}" for x in r.get("reasons") or []) if k == "reasons"
                    else "" if r.get(k) is None else csv_number(r[k]) if isinstance(r[k], (int, float)) else str(r[k])
                    for k in ROW_KEYS])
    return buf.getvalue()


MARKS_JS = r"""(() => {
  const out = [];
  for (const el of document.querySelectorAll('[data-panel]')) {
    const rec = {panel: el.dataset.panel, kind: el.dataset.kind, marks: 0, instance: false, series: [],
                 role: el.getAttribute('role'), label: el.getAttribute('aria-label') || ''};
    const inst = window.echarts ? echarts.getInstanceByDom(el) : null;
    if (inst) {
      rec.instance = true;
      const model = inst.getModel();
      for (let i = 0; i < model.getSeriesCount(); i++) {
        const s = model.getSeriesByIndex(i), d = s.getData();
        let drawn = 0;
        for (let k = 0; k < d.count(); k++) if (d.getItemGraphicEl(k) != null) drawn++;
        rec.series.push({name: s.name, type: s.subType, items: d.count(), drawn});
        rec.marks += drawn;
      }
      // Hover the first drawn item of every series: custom tooltip formatters must not throw.
      for (let i = 0; i < model.getSeriesCount(); i++) {
        const d = model.getSeriesByIndex(i).getData();
        for (let k = 0; k < d.count(); k++) {
          if (d.getItemGraphicEl(k) != null) { inst.dispatchAction({type: 'showTip', seriesIndex: i, dataIndex: k}); break; }
        }
      }
      inst.dispatchAction({type: 'hideTip'});
      inst.dispatchAction({type: 'updateAxisPointer', currTrigger: 'leave'});
      inst.dispatchAction({type: 'downplay'});
    }
    out.push(rec);
  }
  const sections = [...document.querySelectorAll('main section.panel')].map((s) => {
    const hid = s.getAttribute('aria-labelledby');
    const h = hid && document.getElementById(hid);
    const tb = s.querySelector('details table tbody');
    return {title: h ? h.textContent : null, rows: tb ? tb.rows.length : null};
  });
  const unlabelled = [...document.querySelectorAll('input, select, textarea')]
    .filter((e) => !e.hidden && e.offsetParent !== null && !e.labels.length && !e.getAttribute('aria-label')).map((e) => e.id || e.outerHTML.slice(0, 60));
  const h1 = document.querySelector('main h1');
  return {charts: out, sections, unlabelled, h1: h1 ? h1.textContent : null,
          text: document.querySelector('main').innerText.slice(0, 400)};
})()"""


def compare_page(page_json, got, where):
    """Problems between a Page's JSON and what the browser drew."""
    problems = []
    panels = (page_json or {}).get("panels", [])
    by_id = {c["panel"]: c for c in got["charts"]}
    want = {p["id"]: p for p in panels if p.get("chart")}
    for pid in by_id.keys() - want.keys():
        if pid not in ("",):
            problems.append(f"{where}: chart container data-panel={pid!r} has no chart in the page JSON")
    for pid, p in want.items():
        c = by_id.get(pid)
        kind = p["chart"]["kind"]
        if c is None:
            problems.append(f"{where}: panel {pid!r} ({kind}) was not rendered (no [data-panel={pid!r}])")
            continue
        if c["kind"] != kind:
            problems.append(f"{where}: panel {pid!r} has data-kind={c['kind']!r}, the JSON says {kind!r}")
        exp = expected_marks(p["chart"])
        if kind != "kpis" and not c["instance"]:
            problems.append(f"{where}: panel {pid!r} ({kind}) has no ECharts instance")
        elif c["marks"] != exp:
            problems.append(f"{where}: panel {pid!r} ({kind}) drew {c['marks']} marks, expected {exp} "
                            f"(series: {c['series']})")
        if kind != "kpis" and (c["role"] != "img" or not c["label"].strip()):
            problems.append(f"{where}: chart {pid!r} lacks role=img / aria-label")
    titles = [s["title"] for s in got["sections"]]
    for p in panels:
        if p.get("title") and p["title"] not in titles:
            problems.append(f"{where}: no section titled {p['title']!r}")
        rows = len((p.get("table") or {}).get("rows", []))
        sec = next((s for s in got["sections"] if s["title"] == p.get("title")), None)
        if sec and p.get("table") and sec["rows"] != min(rows, 100):
            problems.append(f"{where}: table of {p['id']!r} shows {sec['rows']} rows, expected {min(rows, 100)}")
    if got["unlabelled"]:
        problems.append(f"{where}: form controls without a label: {got['unlabelled']}")
    return problems


# ------------------------------------------------------------------------------------ the run

class Run:
    def __init__(self, args, cdp, page, data_src):
        self.args, self.cdp, self.page, self.src = args, cdp, page, data_src
        self.multi = len(data_src.analyses) > 1
        self.shots = args.screenshots
        self.totals = collections.Counter()
        self.drawn_ms = []   # (page, ms from the route to the last chart drawn)
        self.download_root = tempfile.mkdtemp(prefix="downloads-", dir=args.profile_dir)   # removed with the profile

    def hash_for(self, aid, page, arg=None):
        h = "#/" + page + ("/" + urllib.parse.quote(arg, safe="") if arg is not None else "")
        return h + ("?analysis=" + urllib.parse.quote(aid, safe="") if self.multi else "")

    async def goto(self, h, page_name):
        changed = await self.page.eval(
            "((h) => { if (location.hash === h) return false; window.__retainReady = false; location.hash = h; return true; })(%s)"
            % json.dumps(h))
        await self.wait_ready(page_name, h)
        return changed

    async def wait_ready(self, page_name, what):
        await self.page.wait_for("window.__retainReady === true && document.body.dataset.page === %s" % json.dumps(page_name),
                                 self.args.timeout, f"page {what} to be ready (window.__retainReady)")

    def fail_if(self, problems, where):
        problems = list(problems) + self.page.take_problems()
        if problems:
            raise CheckFailed(f"{where}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems[:30]))

    async def check_view(self, label, page_json, shot_name):
        if self.shots:   # first: the mark probe below hovers items (tooltips, axis pointers)
            await self.screenshot(shot_name)
        got = await self.page.eval(MARKS_JS)
        problems = compare_page(page_json, got, label)
        if page_json is not None and got["h1"] != page_json.get("title"):
            problems.append(f"{label}: heading is {got['h1']!r}, expected {page_json.get('title')!r}")
        await self.panel_csv(page_json, label, problems)
        self.fail_if(problems, label)
        charts = len(got["charts"])
        marks = sum(c["marks"] for c in got["charts"])
        self.totals["pages"] += 1
        self.totals["marks"] += marks
        drawn = await self.page.eval("window.__retainDrawnMs || 0")
        self.drawn_ms.append((label, drawn))
        print(f"{label}: {charts} charts, {marks} marks, 0 errors, drawn in {drawn:,.0f} ms", flush=True)
        return got

    async def panel_csv(self, page_json, label, problems):
        """Download the first panel's CSV and compare it with the panel's table."""
        panel = next((p for p in (page_json or {}).get("panels", []) if p.get("table")), None)
        if not panel:
            return
        title = panel.get("title") or panel["id"]
        button = ("[...document.querySelectorAll('main section.panel .panel-head button')]"
                  ".find((b) => b.getAttribute('aria-label') === %s)" % json.dumps("Download CSV: " + title))
        text = await self.download(button, f"{label} CSV of {panel['id']!r}")
        rows = list(csv.reader(io.StringIO(text)))
        header = [c.get("label") or c["key"] for c in panel["table"]["columns"]]
        if not rows or rows[0] != header:
            problems.append(f"{label}: CSV header {rows[:1]} != {header}")
        elif len(rows) - 1 != len(panel["table"]["rows"]):
            problems.append(f"{label}: CSV of {panel['id']!r} has {len(rows) - 1} rows, the table {len(panel['table']['rows'])}")

    async def click(self, element_expr, what):
        """Clicks an element with the mouse, as a person does. A script's `click()` would not do for
        downloads: Chromium lets a page start one download without user input, then holds the rest
        until the person interacts (its download request limiter), and a held download never begins."""
        at = await self.page.eval("(() => { const el = %s; if (!el) return null; el.scrollIntoView({block: 'center'});"
                                  " const r = el.getBoundingClientRect();"
                                  " const x = r.left + r.width / 2, y = r.top + r.height / 2;"
                                  " const hit = document.elementFromPoint(x, y);"
                                  " return {x, y, covered: hit && !el.contains(hit) ? (hit.outerHTML || '').slice(0, 160) : null}; })()"
                                  % element_expr)
        if not at:
            raise CheckFailed(f"{what}: the button to click is missing")
        if at.get("covered"):
            raise CheckFailed(f"{what}: the button is covered by {at['covered']}")
        for kind in ("mousePressed", "mouseReleased"):
            await self.page.send("Input.dispatchMouseEvent",
                                 {"type": kind, "x": at["x"], "y": at["y"], "button": "left", "clickCount": 1})

    async def download(self, element_expr, what):
        """Clicks an element that downloads; returns the downloaded file's text. Download events are
        collected from before the click on, so a small file that completes at once is not missed."""
        d = tempfile.mkdtemp(dir=self.download_root)
        await self.cdp.send("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": d, "eventsEnabled": True})
        events = {"begin": None, "state": None}

        def on(method, p, session):
            if method == "Browser.downloadWillBegin" and events["begin"] is None:
                events["begin"] = p
            elif method == "Browser.downloadProgress" and events["begin"] and p.get("guid") == events["begin"]["guid"] \
                    and p.get("state") in ("completed", "canceled"):
                events["state"] = p["state"]
        self.cdp.listeners.append(on)
        try:
            # Chromium holds a download that follows the page's previous one too closely (its
            # download request limiter), and a held download never begins: pause as a person would.
            await asyncio.sleep(0.5)
            await self.click(element_expr, what)
            deadline = time.monotonic() + self.args.timeout
            while events["state"] is None:
                if time.monotonic() > deadline:
                    raise CheckFailed(f"{what}: no completed download within {self.args.timeout}s "
                                      f"({'it began' if events['begin'] else 'it never began'})")
                await asyncio.sleep(0.05)
        finally:
            self.cdp.listeners.remove(on)
        if events["state"] != "completed":
            raise CheckFailed(f"{what}: download was canceled")
        name = events["begin"].get("suggestedFilename") or ""
        if not name.endswith(".csv"):
            raise CheckFailed(f"{what}: downloaded file is named {name!r}, expected *.csv")
        files = os.listdir(d)
        if len(files) != 1:
            raise CheckFailed(f"{what}: expected one downloaded file in {d}, found {files}")
        with open(os.path.join(d, files[0]), encoding="utf-8") as f:
            return f.read()

    async def screenshot(self, name):
        m = await self.page.send("Page.getLayoutMetrics")
        height = max(HEIGHT, int(math.ceil(m["cssContentSize"]["height"])))
        await self.page.send("Emulation.setDeviceMetricsOverride", {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False})
        await asyncio.sleep(0.5)   # the page re-lays out charts on resize (debounced)
        shot = await self.page.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False}, timeout=60)
        await self.page.send("Emulation.setDeviceMetricsOverride", {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
        os.makedirs(self.shots, exist_ok=True)
        with open(os.path.join(self.shots, name + ".png"), "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        await asyncio.sleep(0.2)

    def shot_name(self, aid, name):
        return (slug(aid) + "-" if self.multi else "") + slug(name)

    async def all_pages(self):
        for a in self.src.analyses:
            aid = a["analysis_id"]
            for name in PAGE_ORDER:
                label = (aid + " " if self.multi else "") + name
                await self.goto(self.hash_for(aid, name), name)
                if name in a.get("pages", []):
                    pj = self.src.page(aid, name)
                    await self.check_view(label, pj, self.shot_name(aid, name))
                    if name == "at-risk":
                        await self.at_risk(a, pj, label)
                else:
                    got = await self.page.eval(MARKS_JS)
                    problems = [] if "no transaction log" in got["text"] else [f"{label}: no 'missing page' message: {got['text'][:120]!r}"]
                    if got["charts"]:
                        problems.append(f"{label}: a missing page drew charts")
                    self.fail_if(problems, label)
                    print(f"{label}: not in this analysis (message shown), 0 errors", flush=True)
                    if self.shots:
                        await self.screenshot(self.shot_name(aid, name))
            await self.customers(a)

    async def customers(self, a):
        aid = a["analysis_id"]
        ids = self.src.customer_ids(aid)
        lookup = (aid + " " if self.multi else "") + "customer lookup"
        await self.goto(self.hash_for(aid, "customer"), "customer")
        await self.check_view(lookup, None, self.shot_name(aid, "customer-lookup"))
        for i, cid in enumerate(ids):
            label = (aid + " " if self.multi else "") + "customer " + cid
            if i == 0:
                # the search box: type the id, press the button
                await self.page.eval("document.getElementById('customer-id').focus()")
                await self.page.send("Input.insertText", {"text": cid})
                await self.page.eval("window.__retainReady = false; document.getElementById('customer-go').click(); true")
                await self.wait_ready("customer", label + " (via the search box)")
                h = await self.page.eval("location.hash")
                if urllib.parse.unquote(h.split("?")[0]) != "#/customer/" + cid:
                    raise CheckFailed(f"{label}: the search box led to {h!r}")
            else:
                await self.goto(self.hash_for(aid, "customer", cid), "customer")
            await self.check_view(label, self.src.customer_page(aid, cid), self.shot_name(aid, "customer-" + cid))

    async def at_risk(self, a, pj, label):
        aid = a["analysis_id"]
        ids = ["at-risk-segment", "at-risk-stage", "at-risk-min-risk", "at-risk-min-value", "at-risk-sort", "at-risk-apply",
               "at-risk-count", "at-risk-table", "at-risk-export"]
        missing = await self.page.eval("%s.filter((id) => !document.getElementById(id))" % json.dumps(ids))
        if missing:
            raise CheckFailed(f"{label}: missing elements #{', #'.join(missing)}")
        await self.page.wait_for("document.getElementById('at-risk-count').dataset.count !== undefined", self.args.timeout,
                                 f"{label}: the customer list to load")
        unfiltered = self.src.customer_total(aid, None, None)
        shown = int(await self.page.eval("document.getElementById('at-risk-count').dataset.count"))
        if shown != unfiltered:
            raise CheckFailed(f"{label}: unfiltered #at-risk-count is {shown}, expected {unfiltered}")
        rows = await self.page.eval("document.querySelectorAll('#at-risk-table tbody tr').length")
        if rows != max(1, min(100, unfiltered)):
            raise CheckFailed(f"{label}: the list shows {rows} rows, expected {min(100, unfiltered)}")
        if unfiltered > 100:
            await self.page.eval("document.getElementById('at-risk-count').removeAttribute('data-count'); "
                                 "document.getElementById('at-risk-next').click(); true")
            await self.page.wait_for("document.getElementById('at-risk-count').dataset.count !== undefined", self.args.timeout,
                                     f"{label}: the next list page")
            rows = await self.page.eval("document.querySelectorAll('#at-risk-table tbody tr').length")
            if rows != min(100, unfiltered - 100):
                raise CheckFailed(f"{label}: page 2 of the list shows {rows} rows, expected {min(100, unfiltered - 100)}")

        segment, min_risk = self.src.pick_segment(aid, pj)
        await self.page.eval("""(() => {
            const set = (id, v) => { const el = document.getElementById(id); el.value = v;
              el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true}));
              if (el.value !== v) throw new Error('cannot set #' + id + ' to ' + v); };
            set('at-risk-segment', %s); set('at-risk-min-risk', %s);
            document.getElementById('at-risk-count').removeAttribute('data-count');
            document.getElementById('at-risk-apply').click(); return true; })()""" % (json.dumps(segment), json.dumps(str(min_risk))))
        await self.page.wait_for("document.getElementById('at-risk-count').dataset.count !== undefined", self.args.timeout,
                                 f"{label}: the filtered list")
        expected = self.src.customer_total(aid, segment, min_risk)
        got = int(await self.page.eval("document.getElementById('at-risk-count').dataset.count"))
        text = await self.page.eval("document.getElementById('at-risk-count').textContent")
        problems = []
        if got != expected:
            problems.append(f"{label}: segment={segment!r} min risk {min_risk}: #at-risk-count {got}, expected {expected}")
        if f"{expected:,}" not in text:
            problems.append(f"{label}: #at-risk-count text {text!r} does not show {expected:,}")
        rows = await self.page.eval("document.querySelectorAll('#at-risk-table tbody tr').length")
        if rows != max(1, min(100, expected)):
            problems.append(f"{label}: the filtered list shows {rows} rows, expected {min(100, expected)}")
        csv_text = await self.download("document.getElementById('at-risk-export')", f"{label} export")
        recs = list(csv.reader(io.StringIO(csv_text)))
        if not recs or recs[0] != ROW_KEYS:
            problems.append(f"{label}: export header {recs[:1]} != {ROW_KEYS}")
        elif len(recs) - 1 != expected:
            problems.append(f"{label}: export has {len(recs) - 1} rows, expected {expected}")
        else:
            want = self.src.export_csv(aid, segment, min_risk)
            if csv_text != want:
                got_lines, want_lines = csv_text.split("\n"), want.split("\n")
                k = next((i for i, (a, b) in enumerate(zip(got_lines, want_lines)) if a != b), min(len(got_lines), len(want_lines)))
                problems.append(f"{label}: export differs from the server's CSV at line {k + 1}: "
                                f"{got_lines[k:k + 1]!r} != {want_lines[k:k + 1]!r}")
        self.fail_if(problems, label)
        print(f"{label}: filters segment={segment!r} min risk {min_risk} → {expected:,} customers; export {expected:,} rows, 0 errors",
              flush=True)
        if self.shots:
            await self.screenshot(self.shot_name(aid, "at-risk-filtered"))


def slug(s):
    return re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-") or "page"


# ------------------------------------------------------------------------------------ data sources

class EmbeddedData:
    """Expectations from the report's own #retain-data block."""

    def __init__(self, html):
        m = re.search(r'<script type="application/json" id="retain-data">(.*?)</script>', html, re.S)
        if not m:
            raise SetupFailed("the report has no <script type=\"application/json\" id=\"retain-data\">")
        self.data = json.loads(m.group(1))
        self.analyses = self.data.get("analyses", [])
        if not self.analyses:
            raise SetupFailed("the report's data has no analyses")

    def page(self, aid, name):
        return self.data["pages"][aid][name]

    def customer_page(self, aid, cid):
        return self.data["customer_pages"][aid][cid]

    def customer_ids(self, aid):
        return list(self.data.get("customer_pages", {}).get(aid, {}))

    def rows(self, aid):
        return self.data.get("customers", {}).get(aid, {}).get("rows", [])

    def customer_total(self, aid, segment, min_risk):
        return len(filter_rows(self.rows(aid), segment, min_risk))

    def export_csv(self, aid, segment, min_risk):
        return rows_csv(filter_rows(self.rows(aid), segment, min_risk))

    def pick_segment(self, aid, pj):
        """The listed segment with the most rows at churn risk ≥ 0.5 (a non-trivial filter)."""
        counts = collections.Counter(r["segment"] for r in self.rows(aid) if r["churn_risk"] >= 0.5)
        segs = (pj.get("filters") or {}).get("segments") or list(counts)
        if not segs:
            raise CheckFailed(f"{aid}: the at-risk page has no segments to filter by")
        return max(segs, key=lambda s: (counts.get(s, 0), s)), 0.5


class ApiData:
    """Expectations fetched from the same JSON endpoints the page uses."""

    def __init__(self, base, token, timeout):
        self.base, self.token, self.timeout = base.rstrip("/"), token, timeout
        self.analyses = self.get("/v1/analyses").get("analyses", [])
        if not self.analyses:
            raise SetupFailed(f"{base} has no analyses to check")
        self._pages = {}

    def fetch(self, path):
        req = urllib.request.Request(self.base + path, headers={"Accept": "application/json"})
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            hint = " (the server has auth on: pass --token with a read-scope API token)" if e.code == 401 else ""
            raise CheckFailed(f"GET {path}: HTTP {e.code} {e.read()[:200]!r}{hint}")
        except urllib.error.URLError as e:
            raise SetupFailed(f"GET {self.base + path}: {e.reason}")

    def get(self, path):
        return json.loads(self.fetch(path))

    def q(self, s):
        return urllib.parse.quote(s, safe="")

    def page(self, aid, name):
        return self.get(f"/v1/analyses/{self.q(aid)}/pages/{self.q(name)}")

    def customer_page(self, aid, cid):
        return self.get(f"/v1/analyses/{self.q(aid)}/customers/{self.q(cid)}")

    def customer_ids(self, aid):
        return [str(r["customer_id"]) for r in self.get(f"/v1/analyses/{self.q(aid)}/customers?limit=3&offset=0").get("rows", [])]

    def query(self, segment, min_risk):
        p = {}
        if segment:
            p["segment"] = segment
        if min_risk is not None:
            p["min_churn_risk"] = str(min_risk)
        return urllib.parse.urlencode(p)

    def customer_total(self, aid, segment, min_risk):
        return self.get(f"/v1/analyses/{self.q(aid)}/customers?{self.query(segment, min_risk)}&limit=1&offset=0")["total"]

    def export_csv(self, aid, segment, min_risk):
        return self.fetch(f"/v1/analyses/{self.q(aid)}/customers?{self.query(segment, min_risk)}&format=csv")

    def pick_segment(self, aid, pj):
        segs = (pj.get("filters") or {}).get("segments") or []
        if not segs:
            raise CheckFailed(f"{aid}: the at-risk page has no segments to filter by")
        return max(segs, key=lambda s: (self.customer_total(aid, s, 0.5), s)), 0.5


# ------------------------------------------------------------------------------------ modes

async def run(args, chromium):
    ws_url = await chromium.start()
    async with websockets.connect(ws_url, max_size=None, ping_interval=None, open_timeout=args.timeout) as ws:
        cdp = CDP(ws, args.timeout)
        if args.mode == "report":
            path = os.path.abspath(args.target)
            with open(path, encoding="utf-8") as f:
                html = f.read()
            csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)"', html)
            if not csp or "connect-src 'none'" not in csp.group(1) or "'unsafe-eval'" in csp.group(1):
                raise CheckFailed("the report has no strict Content-Security-Policy <meta> (connect-src 'none', no unsafe-eval)")
            src = EmbeddedData(html)

            def allowed(url):
                scheme = url.split(":", 1)[0].lower()
                return None if scheme in ("file", "data", "blob", "about") else f"scheme {scheme} in an offline report"
            page = await open_page(cdp, allowed, offline=True)
            base_url = "file://" + urllib.parse.quote(path)
            first = src.analyses[0]["analysis_id"]
            run_ = Run(args, cdp, page, src)
            await page.send("Page.navigate", {"url": base_url + run_.hash_for(first, "overview")})
            await run_.wait_ready("overview", "overview (first load)")
        else:
            src = ApiData(args.target, args.token, args.timeout)
            origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(args.target))

            def allowed(url):
                scheme = url.split(":", 1)[0].lower()
                if scheme in ("data", "blob", "about"):
                    return None
                u = urllib.parse.urlsplit(url)
                return None if f"{u.scheme}://{u.netloc}" == origin else f"not the server's origin {origin}"
            page = await open_page(cdp, allowed, offline=False)
            run_ = Run(args, cdp, page, src)
            first = src.analyses[0]["analysis_id"]
            await page.send("Page.navigate", {"url": args.target.rstrip("/") + "/" + run_.hash_for(first, "overview")})
            await page.wait_for("window.__retainReady === true && !!document.body.dataset.page", args.timeout, "the dashboard to start")
            if await page.eval("document.body.dataset.page") == "sign-in":
                await sign_in(args, page, run_)
            await run_.wait_ready("overview", "overview (first load)")
        run_.fail_if([], "first load")
        try:
            await run_.all_pages()
        finally:
            shutil.rmtree(run_.download_root, ignore_errors=True)
        if page.warnings:
            print(f"note: {len(page.warnings)} console warning(s), e.g. {page.warnings[0][:160]!r}")
        print(f"OK: {run_.totals['pages']} pages, {run_.totals['marks']:,} marks, 0 errors")
        if run_.drawn_ms:
            slowest = max(run_.drawn_ms, key=lambda d: d[1])
            print(f"slowest page to draw: {slowest[0]} in {slowest[1]:,.0f} ms")


async def sign_in(args, page, run_):
    if not args.token:
        raise CheckFailed("the server asks for a token (sign-in form shown); pass --token")
    missing = await page.eval("['signin-token', 'signin-submit'].filter((id) => !document.getElementById(id))")
    if missing:
        raise CheckFailed(f"sign-in form lacks #{', #'.join(missing)}")

    async def submit(token):
        await page.eval("(() => { const i = document.getElementById('signin-token'); i.value = ''; i.focus(); "
                        "document.getElementById('signin-error').textContent = ''; return true; })()")
        await page.send("Input.insertText", {"text": token})   # typed, as a person would paste it
        await page.eval("window.__retainReady = false; document.getElementById('signin-submit').click(); true")

    page.expected_status = {(401, "/v1/analyses")}
    await submit("not-a-valid-token-" + str(os.getpid()))
    await page.wait_for("(document.getElementById('signin-error') || {}).textContent", args.timeout, "the refusal message")
    msg = await page.eval("document.getElementById('signin-error').textContent")
    if "refused" not in msg.lower():
        raise CheckFailed(f"a wrong token showed {msg!r}, expected 'that token was refused'")
    if args.screenshots:
        await run_.screenshot("sign-in")
    await asyncio.sleep(0.3)
    page.expected_status = set()
    page.take_problems()   # the 401 above was the point of the exercise
    await submit(args.token)
    await page.wait_for("window.__retainReady === true && document.body.dataset.page !== 'sign-in' || "
                        "((document.getElementById('signin-error') || {}).textContent || '')",
                        args.timeout, "sign-in with the token")
    err = await page.eval("document.body.dataset.page === 'sign-in' ? document.getElementById('signin-error').textContent : ''")
    if err:
        raise CheckFailed(f"sign-in with --token failed: {err!r}")
    print("sign-in: wrong token refused, --token accepted", flush=True)


def main():
    ap = argparse.ArgumentParser(description="Browser check of the retain dashboard (headless Chromium, raw CDP).")
    sub = ap.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("report", help="a self-contained report HTML file (opened offline from file://)")
    r.add_argument("target", metavar="FILE")
    s = sub.add_parser("serve", help="a running `retain serve`")
    s.add_argument("target", metavar="URL")
    s.add_argument("--token", help="API token with read scope (when the server has auth on)")
    for p in (r, s):
        p.add_argument("--screenshots", metavar="DIR", help="save a full-page PNG (1280 wide) per page")
        p.add_argument("--chromium", default=os.environ.get("CHROMIUM", "chromium"), help="browser binary (default: %(default)s)")
        p.add_argument("--timeout", type=float, default=30.0, help="seconds for each wait (default: %(default)s)")
    args = ap.parse_args()
    if args.mode == "report" and not os.path.isfile(args.target):
        sys.exit(f"check.py: no such file {args.target}")

    chromium = Chromium(args.chromium, args.timeout)
    args.profile_dir = chromium.profile

    async def guarded():
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):   # Ctrl-C / kill: cancel, so `finally` stops chromium
            loop.add_signal_handler(sig, task.cancel)
        try:
            await run(args, chromium)
        finally:
            chromium.kill_now()

    code = 0
    try:
        asyncio.run(guarded())
    except CheckFailed as e:
        print(f"FAIL: {e}", file=sys.stderr)
        code = 1
    except SetupFailed as e:
        print(f"SETUP FAILED: {e}", file=sys.stderr)
        code = 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted", file=sys.stderr)
        code = 130
    finally:
        chromium.kill_now()
    sys.exit(code)


if __name__ == "__main__":
    main()
