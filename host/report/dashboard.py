"""The web dashboard (``K6_WEB_DASHBOARD=true`` or ``--out web-dashboard``) and its HTML report.

While the test runs, ``http://HOST:PORT/`` shows VUs, the iteration rate and
the tcp_* metrics over time, the metrics table, checks and thresholds. The
page gets its data by server-sent events (``/events``), as k6's dashboard
does: the history when it connects, then one snapshot every period, then
the end-of-test summary. ``K6_WEB_DASHBOARD_EXPORT=FILE`` writes the same page
as one self-contained HTML file at the end (the charting library, the code
and the data inlined; nothing is fetched when it is opened), and
``/report`` serves that file while the test runs.

The charts use uPlot (MIT, vendored in ``static/`` with its licence). Rows of
numbers are formatted here, with the summary's own functions, so the report
shows what the summary prints; the final rows come from the summary's data.

Settings, as k6 1.1.0 names them (the variables, or ``--out
web-dashboard=host=...&port=...``): host (default localhost), port (default
5665; 0 picks a free one, -1 serves nothing), period (default 10s), open
(open a browser), export (the report's file name).
"""

from __future__ import annotations

import http.server
import json
import queue
import threading
import time
import urllib.parse
import webbrowser
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from k6host.run.durations import parse_seconds
from k6host.run.metrics import BUILTIN, DEFAULT_TREND_STATS, TIME, TREND, Metric, Sample, SINKS, TrendSink
from k6host.report.summary import _flat_checks, _non_trend_values, humanize_value

STATIC = Path(__file__).with_name("static")
_KEYS = ("host", "port", "period", "open", "export")
_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}
# The per-period series the charts draw: name -> (metric, what of it).
_RATES = {"iterations": "iterations", "sockets": "tcp_sockets", "errors": "tcp_errors", "timeouts": "tcp_timeouts",
          "sent": "data_sent", "received": "data_received"}
_PERCENTILES = (50, 90, 95, 99)


class DashboardError(ValueError):
    """A K6_WEB_DASHBOARD_* setting that cannot be used; the message names it."""


def _settings(arg: str, env: Mapping[str, str]) -> dict[str, str]:
    given = {key: env[f"K6_WEB_DASHBOARD_{key.upper()}"] for key in _KEYS if env.get(f"K6_WEB_DASHBOARD_{key.upper()}")}
    for pair in filter(None, arg.split("&")):
        key, sep, value = pair.partition("=")
        if not sep or key not in _KEYS:
            raise DashboardError(f"invalid argument {pair!r}: expected one of {', '.join(k + '=...' for k in _KEYS)}")
        given[key] = value
    return given


def enabled(env: Mapping[str, str]) -> bool:
    """``K6_WEB_DASHBOARD``: whether the dashboard is on without ``--out web-dashboard``."""
    text = env.get("K6_WEB_DASHBOARD", "")
    if text in _TRUE:
        return True
    if text == "" or text in _FALSE:
        return False
    raise DashboardError(f"K6_WEB_DASHBOARD: {text!r} is not a boolean (true or false)")


def _rows(metrics: dict[str, dict[str, Any]], stats: list[str], unit: str | None) -> list[list[str]]:
    """One row per metric: its name, then the cells the end-of-test summary prints for it."""
    rows = []
    for name in sorted(metrics):
        metric = metrics[name]
        if metric["type"] == TREND:
            cells = [f"{stat}={humanize_value(metric['values'].get(stat), metric, unit)}" for stat in stats]
        else:
            cells = _non_trend_values(metric, unit)
        rows.append([name, *cells])
    return rows


class WebDashboard:
    """The output: folds samples every period and serves them; writes the report at the end."""

    name = "web-dashboard"

    def __init__(self, arg: str = "", *, env: Mapping[str, str] | None = None, thresholds: Iterable[Any] = (),
                 script: str = "", warn: Callable[[str], None] | None = None):

        given = _settings(arg, env or {})
        self.host = given.get("host", "localhost")
        try:
            self.port = int(given.get("port", "5665"))
        except ValueError:
            raise DashboardError(f"port: {given['port']!r} is not a number") from None
        if not -1 <= self.port <= 65535:
            raise DashboardError(f"port: {self.port} is not between -1 and 65535")
        try:
            self.period = parse_seconds(given.get("period", "10s"))
        except ValueError as exc:
            raise DashboardError(f"period: {exc}") from None
        if self.period <= 0:
            raise DashboardError(f"period: {given.get('period')!r} must be more than zero")
        opener = given.get("open", "false")
        if opener not in _TRUE | _FALSE:
            raise DashboardError(f"open: {opener!r} is not a boolean (true or false)")
        self.export = given.get("export") or None
        if self.export and not Path(self.export).resolve().parent.is_dir():
            raise DashboardError(f"export: the folder of {self.export} does not exist")
        self._warn = warn or (lambda message: None)
        self._thresholds = list(thresholds)
        self._lock = threading.Lock()
        self._queue: list[tuple[Sample, Metric]] = []
        self._started = time.time()
        self._metrics: dict[str, tuple[Metric, Any]] = {}
        self._checks: dict[str, list[int]] = {}
        self._vus = 0.0
        self._state: dict[str, Any] = {
            "script": Path(script).name, "period": self.period, "started": self._started,
            "snapshots": [], "rows": [], "checks": [], "thresholds": [], "finished": False,
        }
        self._clients: list[queue.Queue] = []
        # Guards the state and the client list: a client joining gets the state and then every
        # event after it, none twice. (Separate from _lock, which VUs take to add samples.)
        self._state_lock = threading.Lock()
        self._stopped = threading.Event()
        self._closed = False
        self._server: http.server.ThreadingHTTPServer | None = None
        if self.port != -1:
            try:
                self._server = _Server((self.host, self.port), _Handler, self)
            except OSError as exc:
                reason = exc.strerror or str(exc)  # worded as Go words it, as k6 prints it
                raise DashboardError(f"listen tcp {self.host}:{self.port}: {reason[:1].lower()}{reason[1:]}") from None
            self.port = self._server.server_address[1]
            threading.Thread(target=self._server.serve_forever, name="k6host-dashboard-http", daemon=True).start()
        self.url = f"http://{self.host}:{self.port}" if self._server else None
        self.description = f"{self.name} ({self.url or 'no server'}{', report ' + self.export if self.export else ''})"
        self._folder = threading.Thread(target=self._fold_loop, name="k6host-dashboard", daemon=True)
        self._folder.start()
        if opener in _TRUE and self.url:
            threading.Thread(target=webbrowser.open, args=(self.url,), daemon=True).start()

    def add(self, sample: Sample, metric: Metric) -> None:
        with self._lock:
            self._queue.append((sample, metric))

    # -- folding ------------------------------------------------------------------------
    def _fold_loop(self) -> None:
        last = time.time()
        while not self._stopped.wait(self.period):
            now = time.time()
            self._fold(now - last)
            last = now

    def _fold(self, seconds: float, chart: bool = True) -> None:
        """Fold the queued samples into the totals, and (with ``chart``) a snapshot of the last ``seconds``."""
        with self._lock:
            batch, self._queue = self._queue, []
        counts = dict.fromkeys(_RATES.values(), 0.0)
        durations = TrendSink()
        passes = total = 0
        for sample, metric in batch:
            entry = self._metrics.get(metric.name)
            if entry is None:
                compact = metric.type == TREND and metric.contains == TIME and metric.name in BUILTIN
                entry = self._metrics[metric.name] = (metric, TrendSink(compact) if compact else SINKS[metric.type]())
            entry[1].add(sample.value, sample.time)
            name = metric.name
            if name in counts:
                counts[name] += sample.value
            elif name == "vus":
                self._vus = sample.value
            elif name == "tcp_socket_duration":
                durations.add(sample.value, 0.0)
            elif name == "checks":
                check = self._checks.setdefault(sample.tags.get("check", ""), [0, 0])
                check[0 if sample.value else 1] += 1
                passes += bool(sample.value)
                total += 1
        elapsed = time.time() - self._started
        snapshot: dict[str, Any] = {"t": round(time.time(), 3), "vus": self._vus}
        for key, name in _RATES.items():
            snapshot[key] = counts[name] / seconds if seconds > 0 else 0.0
        count = durations.stat("count")
        for p in _PERCENTILES:
            snapshot[f"p{p}"] = durations.percentile(p) if count else None
        snapshot["checks"] = passes / total if total else None
        metrics = {name: {"type": m.type, "contains": m.contains, "values": sink.values(elapsed, DEFAULT_TREND_STATS)}
                   for name, (m, sink) in self._metrics.items()}
        update = {
            "rows": _rows(metrics, DEFAULT_TREND_STATS, None),
            "checks": [[name, p, f] for name, (p, f) in self._checks.items()],
            "thresholds": [[t.metric_key, t.source, bool(t.ok)] for t in self._thresholds],
        }
        with self._state_lock:
            if chart:
                self._state["snapshots"].append(snapshot)
                update["snapshot"] = snapshot
            self._publish("snapshot", update)

    def _last_fold(self) -> None:
        """What came after the last period: into the totals; charted only if it spans half a period
        (a rate over a sliver of time, with samples that arrive late, draws a spike that never was)."""
        snapshots = self._state["snapshots"]
        since = time.time() - (snapshots[-1]["t"] if snapshots else self._started)
        self._fold(since, chart=since >= self.period / 2)

    # -- the end ------------------------------------------------------------------------
    def end_of_test(self, data: dict[str, Any]) -> None:
        """The summary's data: the final rows, checks and thresholds, exactly as it has them."""
        self._stopped.set()
        self._folder.join()
        self._last_fold()
        options = data.get("options", {})
        stats = options.get("summaryTrendStats") or DEFAULT_TREND_STATS
        unit = options.get("summaryTimeUnit") or None
        thresholds = [[name, source, bool(state["ok"])] for name, metric in sorted(data["metrics"].items())
                      for source, state in metric.get("thresholds", {}).items()]
        final = {
            "rows": _rows(data["metrics"], stats, unit),
            "checks": [[c["name"], c["passes"], c["fails"]] for c in _flat_checks(data["root_group"])],
            "thresholds": thresholds,
            "duration": data["state"]["testRunDurationMs"] / 1000.0,
            "finished": True,
        }
        with self._state_lock:
            self._publish("summary", final)

    def close(self) -> None:
        """Write the report (if asked for) and stop serving; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if not self._stopped.is_set():  # no summary came (the run failed early): the last fold
            self._stopped.set()
            self._folder.join()
            self._last_fold()
        if self.export:
            try:
                Path(self.export).write_text(self.report(), encoding="utf-8")
            except OSError as exc:
                self._warn(f"web-dashboard: cannot write the report {self.export}: {exc.strerror or exc}")
        with self._state_lock:
            self._publish("end", {})
            for client in self._clients:
                client.put(None)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- pages --------------------------------------------------------------------------
    def state_json(self) -> str:
        with self._state_lock:
            return _script_json(self._state)

    def page(self) -> str:
        """The live page: assets from the server, data by events."""
        head = ('<link rel="stylesheet" href="/static/uPlot.min.css">'
                '<script src="/static/uPlot.iife.min.js"></script>')
        return _template().replace("<!--HEAD-->", head).replace(
            "<!--DATA-->", '<script>window.K6HOST_LIVE = true</script><script src="/static/dashboard.js"></script>')

    def report(self) -> str:
        """The self-contained report: everything inlined."""
        css = (STATIC / "uPlot.min.css").read_text(encoding="utf-8")
        lib = (STATIC / "uPlot.iife.min.js").read_text(encoding="utf-8")
        code = (STATIC / "dashboard.js").read_text(encoding="utf-8")
        head = f"<style>{css}</style><script>{_inline(lib)}</script>"
        data = (f'<script id="k6host-data" type="application/json">{self.state_json()}</script>'
                f"<script>{_inline(code)}</script>")
        return _template().replace("<!--HEAD-->", head).replace("<!--DATA-->", data)

    def _publish(self, event: str, update: dict[str, Any]) -> None:
        """Apply ``update`` to the state and send it to every client; call with _state_lock held."""
        self._state.update({k: v for k, v in update.items() if k != "snapshot"})
        message = f"event: {event}\ndata: {_script_json(update)}\n\n".encode()
        for client in self._clients:
            client.put(message)


def _template() -> str:
    return (STATIC / "dashboard.html").read_text(encoding="utf-8")


def _script_json(value: Any) -> str:
    """JSON that can sit inside a <script> element (no "</" to end it early)."""
    return json.dumps(value, allow_nan=False, default=str).replace("</", "<\\/")


def _inline(code: str) -> str:
    return code.replace("</script", "<\\/script")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, dashboard: WebDashboard):
        self.dashboard = dashboard
        super().__init__(address, handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    _ASSETS = {"/static/uPlot.iife.min.js": "text/javascript", "/static/uPlot.min.css": "text/css",
               "/static/dashboard.js": "text/javascript", "/static/uPlot.LICENSE": "text/plain"}

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        dashboard = self.server.dashboard
        path = urllib.parse.urlsplit(self.path).path
        if path == "/":
            return self._send(200, "text/html; charset=utf-8", dashboard.page().encode())
        if path == "/report":
            return self._send(200, "text/html; charset=utf-8", dashboard.report().encode())
        if path == "/state":
            return self._send(200, "application/json", dashboard.state_json().encode())
        if path in self._ASSETS:
            return self._send(200, self._ASSETS[path], (STATIC / path.rsplit("/", 1)[1]).read_bytes())
        if path == "/events":
            return self._events(dashboard)
        self._send(404, "text/plain", b"not found\n")

    def _send(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _events(self, dashboard: WebDashboard) -> None:
        client: queue.Queue = queue.Queue()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        # The history first; the client list under the same lock, so no snapshot is missed or sent twice.
        with dashboard._state_lock:
            first = f"event: state\ndata: {_script_json(dashboard._state)}\n\n".encode()
            dashboard._clients.append(client)
        try:
            self.wfile.write(first)
            self.wfile.flush()
            while True:
                message = client.get()
                if message is None:
                    return
                self.wfile.write(message)
                self.wfile.flush()
        except OSError:  # the browser went away
            pass
        finally:
            with dashboard._state_lock:
                dashboard._clients.remove(client)

    def log_message(self, *args: Any) -> None:
        pass
