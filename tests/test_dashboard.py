"""The web dashboard and its HTML report, looked at in a real headless Chromium.

Screenshots go to ``$K6HOST_SCREENSHOTS`` when it is set (else the test's
temporary folder), for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import websocket  # websocket-client (a test extra): the DevTools protocol runs over a WebSocket

from conftest import k6host
from prometheus_server import free_port

SCRIPT = """
import { Socket } from "k6/x/tcp"
import { check, sleep } from "k6"
export const options = {
  vus: 3,
  duration: "4s",
  thresholds: { tcp_socket_duration: ["p(95)<1000"], tcp_errors: ["count<1"] },
}
export default async function () {
  const s = new Socket()
  const got = new Promise((resolve) => s.on("data", resolve))
  await s.connect(Number(__ENV.TCP_ECHO_PORT), __ENV.TCP_ECHO_HOST)
  await s.write("dashboard")
  check(await got, { "echoed": (d) => d.length === 9, "not empty": (d) => d.length > 0 })
  s.destroy()
  sleep(0.02)
}
"""
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--remote-allow-origins=*", "--window-size=1300,1900"]


def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("K6HOST_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Chromium:
    """Headless Chromium driven over the DevTools protocol."""

    def __init__(self, workdir: Path):
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            pytest.skip("no chromium program: .ci/run installs Debian's package (apt-get install chromium)")
        port = free_port()
        self.process = subprocess.Popen(
            [binary, *CHROME_FLAGS, f"--user-data-dir={workdir / 'profile'}", f"--remote-debugging-port={port}",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        target = None
        while time.monotonic() < deadline and target is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as response:
                    target = next((t for t in json.load(response) if t["type"] == "page"), None)
            except OSError:
                time.sleep(0.2)
        if target is None:
            self.close()
            raise RuntimeError("chromium did not open its DevTools port in 30 s")
        self.ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=30)
        self._id = 0

    def call(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def wait_for(self, expression: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(f"!!({expression})"):
            if time.monotonic() > deadline:
                raise AssertionError(f"page never showed {expression}: {self.evaluate('document.body.innerText')}")
            time.sleep(0.1)

    def screenshot(self, path: Path) -> None:
        import base64

        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def page_state(self) -> dict:
        """What the page shows: cards, table rows (cells as text), status."""
        return self.evaluate("""(() => {
          const rows = (id) => [...document.querySelectorAll('#' + id + ' tbody tr')]
            .map((tr) => [...tr.cells].map((td) => td.textContent))
          const cards = {}
          document.querySelectorAll('.card').forEach((c) =>
            cards[c.querySelector('.label').textContent] = c.querySelector('.value').textContent)
          return { status: document.getElementById('status').textContent, cards,
                   metrics: rows('metrics'), checks: rows('checks'), thresholds: rows('thresholds'),
                   charts: document.querySelectorAll('.uplot canvas').length,
                   points: document.querySelectorAll('.uplot').length }
        })()""")

    def close(self) -> None:
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def summary_lines(stdout: str) -> dict[str, list[str]]:
    """The text summary's metric lines: name -> the cells after the dots."""
    lines = {}
    for line in stdout.splitlines():
        match = re.match(r"^\s+(?:[✓✗] )?([a-z_]+(?:\{[^}]*\})?)\.+: (.*)$", line)
        if match:
            lines[match.group(1)] = match.group(2).split()
    return lines


def check_against_summary(shown: dict, summary: dict, text: dict[str, list[str]]) -> None:
    rows = {row[0]: " ".join(row[1:]).split() for row in shown["metrics"]}
    for name in ("iterations", "tcp_sockets", "tcp_reads", "tcp_writes", "data_sent", "data_received",
                 "iteration_duration", "tcp_socket_duration", "tcp_socket_connecting", "vus_max"):
        assert rows[name] == text[name], name
    assert rows["checks"] == text["checks_succeeded"]
    iterations = summary["metrics"]["iterations"]["count"]
    assert shown["cards"]["Iterations"] == str(int(iterations))
    assert shown["cards"]["Sockets opened"] == str(int(summary["metrics"]["tcp_sockets"]["count"]))
    assert shown["cards"]["Checks passed"] == "100.00%"
    checks = {row[0]: row[1:] for row in shown["checks"]}
    assert checks == {"echoed": [str(int(iterations)), "0"], "not empty": [str(int(iterations)), "0"]}
    assert sorted(shown["thresholds"]) == [["tcp_errors", "count<1", "passed"],
                                           ["tcp_socket_duration", "p(95)<1000", "passed"]]


@pytest.fixture
def chromium(tmp_path):
    browser = Chromium(tmp_path)
    yield browser
    browser.close()


def test_live_page_then_report_show_the_summary_numbers(tmp_path, echo, chromium):
    script = tmp_path / "dash.js"
    script.write_text(SCRIPT)
    port = free_port()
    report = tmp_path / "report.html"
    export = tmp_path / "summary.json"
    env = {**os.environ, "K6_WEB_DASHBOARD": "true", "K6_WEB_DASHBOARD_PORT": str(port),
           "K6_WEB_DASHBOARD_HOST": "127.0.0.1", "K6_WEB_DASHBOARD_PERIOD": "500ms",
           "K6_WEB_DASHBOARD_EXPORT": str(report), "TCP_ECHO_HOST": echo.host, "TCP_ECHO_PORT": str(echo.port)}
    run = subprocess.Popen([sys.executable, "-m", "k6host", "run", "--summary-export", str(export), str(script)],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/state", timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and run.poll() is None, "the dashboard never answered"
                time.sleep(0.1)
        chromium.goto(f"http://127.0.0.1:{port}/")
        # While it runs: the page fills in by itself, snapshot after snapshot.
        chromium.wait_for("document.getElementById('status').textContent === 'running'")
        chromium.wait_for("Number(document.getElementById('card-iterations').textContent) > 0")
        first = int(chromium.evaluate("Number(document.getElementById('card-iterations').textContent)"))
        chromium.wait_for(f"Number(document.getElementById('card-iterations').textContent) > {first}")
        chromium.wait_for("document.getElementById('card-vus').textContent === '3'")  # sampled each second
        live = chromium.page_state()
        assert live["status"] == "running"
        assert live["charts"] >= 4
        chromium.screenshot(screenshots(tmp_path) / "dashboard-live.png")
        stdout, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, stderr
    summary = json.loads(export.read_text())
    text = summary_lines(stdout)
    # The end: the page kept the summary the server sent before it went away.
    chromium.wait_for("document.getElementById('status').textContent === 'finished'")
    final = chromium.page_state()
    check_against_summary(final, summary, text)
    chromium.screenshot(screenshots(tmp_path) / "dashboard-finished.png")

    # The report: one file, nothing fetched, the same numbers.
    html = report.read_text()
    assert not re.search(r"<(script|link)[^>]+(src|href)=", html), "the report must not load anything"
    chromium.goto(report.as_uri())
    chromium.wait_for("document.getElementById('status').textContent === 'finished'")
    shown = chromium.page_state()
    check_against_summary(shown, summary, text)
    assert shown["charts"] >= 4
    snapshots = json.loads(re.search(r'<script id="k6host-data" type="application/json">(.*?)</script>', html,
                                     re.S).group(1))["snapshots"]
    assert len(snapshots) >= 5  # a 4 s test at 500 ms
    assert abs(sum(s["iterations"] for s in snapshots) * 0.5 - summary["metrics"]["iterations"]["count"]) \
        < 0.3 * summary["metrics"]["iterations"]["count"]
    chromium.screenshot(screenshots(tmp_path) / "report.png")


def test_out_flag_with_arguments_and_export_only(tmp_path, echo):
    script = tmp_path / "dash.js"
    script.write_text(SCRIPT.replace('duration: "4s"', 'duration: "1s"'))
    report = tmp_path / "r.html"
    done = k6host("run", "-q", "--out", f"web-dashboard=port=-1&period=200ms&export={report}", str(script),
                  env={"TCP_ECHO_HOST": echo.host, "TCP_ECHO_PORT": str(echo.port)})
    assert done.returncode == 0, done.stderr
    html = report.read_text()
    assert '"finished": true' in html and "uPlot" in html


@pytest.mark.parametrize("env, message", [
    ({"K6_WEB_DASHBOARD": "maybe"}, "K6_WEB_DASHBOARD: 'maybe' is not a boolean (true or false)"),
    ({"K6_WEB_DASHBOARD": "true", "K6_WEB_DASHBOARD_PORT": "http"},
     "could not create the 'web-dashboard' output: port: 'http' is not a number"),
    ({"K6_WEB_DASHBOARD": "true", "K6_WEB_DASHBOARD_PORT": "70000"},
     "could not create the 'web-dashboard' output: port: 70000 is not between -1 and 65535"),
    ({"K6_WEB_DASHBOARD": "true", "K6_WEB_DASHBOARD_PERIOD": "soon"},
     "could not create the 'web-dashboard' output: period: time: invalid duration \"soon\""),
    ({"K6_WEB_DASHBOARD": "true", "K6_WEB_DASHBOARD_OPEN": "please"},
     "could not create the 'web-dashboard' output: open: 'please' is not a boolean (true or false)"),
    ({"K6_WEB_DASHBOARD": "true", "K6_WEB_DASHBOARD_EXPORT": "no/such/dir/r.html"},
     "could not create the 'web-dashboard' output: export: the folder of no/such/dir/r.html does not exist"),
])
def test_bad_settings_are_named(tmp_path, env, message):
    script = tmp_path / "s.js"
    script.write_text("export default function () {}\n")
    done = k6host("run", "-q", str(script), env=env, cwd=tmp_path)
    assert done.returncode == 255
    assert message in done.stderr.replace('\\"', '"')
    assert "Traceback" not in done.stderr


def test_a_taken_port_and_a_bad_argument_are_named(tmp_path):
    import socket

    script = tmp_path / "s.js"
    script.write_text("export default function () {}\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = k6host("run", "-q", "--out", f"web-dashboard=host=127.0.0.1&port={port}", str(script))
    assert done.returncode == 255
    assert f"could not create the 'web-dashboard' output: listen tcp 127.0.0.1:{port}: address already in use" \
        in done.stderr
    bad = k6host("run", "-q", "--out", "web-dashboard=colour=blue", str(script))
    assert bad.returncode == 255
    assert "invalid argument 'colour=blue'" in bad.stderr
