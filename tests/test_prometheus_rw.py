"""``--out experimental-prometheus-rw`` against a real Prometheus started by the test."""

from __future__ import annotations

import http.server
import json
import threading
import time

import cramjam
import pytest

from k6host.report.prometheus_rw import STALE_NAN, NativeHistogram, stat_suffix
from k6host.report.remote_write_pb import WriteRequest

from conftest import k6host
from prometheus_server import Prometheus, free_port

SCRIPT = """
import { Socket } from "k6/x/tcp"
import { check } from "k6"
export const options = { tags: { testid: __ENV.TESTID } }
export default async function () {
  const s = new Socket()
  const got = new Promise((resolve) => s.on("data", resolve))
  await s.connect({ port: Number(__ENV.TCP_ECHO_PORT), host: __ENV.TCP_ECHO_HOST, tags: { kind: "echo" } })
  await s.write("ping")
  check(await got, { "echoed": (d) => d.length === 4 })
  s.destroy()
}
"""


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "rw.js"
    path.write_text(SCRIPT)
    return path


def run_rw(script, tmp_path, echo, *flags: str, env: dict[str, str], timeout: float = 60):
    export = tmp_path / "summary.json"
    started = time.monotonic()
    done = k6host("run", "-q", "--out", "experimental-prometheus-rw", "--summary-export", str(export), *flags,
                  str(script), env={"TCP_ECHO_HOST": echo.host, "TCP_ECHO_PORT": str(echo.port), **env},
                  timeout=timeout)
    took = time.monotonic() - started
    summary = json.loads(export.read_text()) if export.exists() else None
    return done, summary, took


def one(prometheus: Prometheus, expression: str) -> tuple[dict, float]:
    result = prometheus.query(expression)
    assert len(result) == 1, (expression, result)
    return result[0]["metric"], float(result[0]["value"][1])


def test_counters_trends_and_tags_reach_prometheus(tmp_path, echo, script):
    prometheus = Prometheus(tmp_path / "prom")
    try:
        done, summary, _ = run_rw(script, tmp_path, echo, "-u", "3", "-i", "30", env={
            "K6_PROMETHEUS_RW_SERVER_URL": prometheus.write_url, "K6_PROMETHEUS_RW_PUSH_INTERVAL": "200ms",
            "K6_PROMETHEUS_RW_TREND_STATS": "p(99),avg,max,count", "TESTID": "counters"})
        assert done.returncode == 0, done.stderr
        assert "dropped" not in done.stderr
        metrics = summary["metrics"]
        iterations = metrics["iterations"]["count"]
        assert iterations == 30
        labels, value = one(prometheus, 'k6_iterations_total{testid="counters"}')
        assert value == iterations
        assert labels["scenario"] == "default"
        labels, value = one(prometheus, 'k6_tcp_sockets_total{testid="counters"}')
        assert value == metrics["tcp_sockets"]["count"] == 30
        # The script's tags (options.tags, the connection's tags) and the socket's are labels.
        assert labels["kind"] == "echo" and labels["proto"] == "TCP" and labels["port"] == str(echo.port)
        assert labels["remote_ip"] == "127.0.0.1"
        labels, value = one(prometheus, 'k6_data_sent_total{testid="counters"}')
        assert value == metrics["data_sent"]["count"] == 120
        _, value = one(prometheus, 'k6_checks_rate{testid="counters"}')
        assert value == 1.0
        # Trend stats, time values in seconds; all 30 sockets have one tag set, so one series.
        duration = metrics["tcp_socket_duration"]
        labels, value = one(prometheus, 'k6_tcp_socket_duration_max{testid="counters"}')
        assert labels["kind"] == "echo"
        assert value == pytest.approx(duration["max"] / 1000, rel=1e-6)
        _, value = one(prometheus, 'k6_tcp_socket_duration_avg{testid="counters"}')
        assert value == pytest.approx(duration["avg"] / 1000, rel=1e-6)
        _, value = one(prometheus, 'k6_tcp_socket_duration_count{testid="counters"}')
        assert value == 30
        _, value = one(prometheus, 'k6_iteration_duration_p99{testid="counters"}')
        assert 0 < value <= metrics["iteration_duration"]["max"] / 1000 * (1 + 1e-6)
    finally:
        prometheus.stop()


def test_trends_as_native_histograms(tmp_path, echo, script):
    prometheus = Prometheus(tmp_path / "prom", native_histograms=True)
    try:
        # Long enough for the vus gauge, sampled once a second.
        done, summary, _ = run_rw(script, tmp_path, echo, "-u", "2", "-d", "1500ms", env={
            "K6_PROMETHEUS_RW_SERVER_URL": prometheus.write_url, "K6_PROMETHEUS_RW_PUSH_INTERVAL": "200ms",
            "K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM": "true", "TESTID": "native"})
        assert done.returncode == 0, done.stderr
        assert "dropped" not in done.stderr
        duration = summary["metrics"]["tcp_socket_duration"]
        sockets = summary["metrics"]["tcp_sockets"]["count"]
        assert sockets > 20
        _, count = one(prometheus, 'histogram_count(k6_tcp_socket_duration_seconds{testid="native"})')
        assert count == sockets
        _, total = one(prometheus, 'histogram_sum(k6_tcp_socket_duration_seconds{testid="native"})')
        assert total == pytest.approx(duration["avg"] * sockets / 1000, rel=1e-5)
        _, vus = one(prometheus, 'k6_vus{testid="native"}')
        assert vus == summary["metrics"]["vus"]["value"] == 2
        _, high = one(prometheus, 'histogram_quantile(1, k6_tcp_socket_duration_seconds{testid="native"})')
        # Schema 3 buckets are 2^(1/8) wide: the top bucket's bound is within 9 % above the max.
        assert duration["max"] / 1000 <= high <= duration["max"] / 1000 * 2 ** 0.125 * (1 + 1e-9)
        assert prometheus.query('k6_tcp_socket_duration_p99{testid="native"}') == []
    finally:
        prometheus.stop()


def test_prometheus_stopped_mid_run_does_not_stop_the_test(tmp_path, echo):
    prometheus = Prometheus(tmp_path / "prom")
    script = tmp_path / "long.js"
    script.write_text(SCRIPT.replace("export default", 'import { sleep } from "k6"\nexport default')
                      .replace("s.destroy()", "s.destroy(); sleep(0.05)"))
    killer = threading.Timer(1.0, prometheus.stop)
    killer.start()
    try:
        done, summary, took = run_rw(script, tmp_path, echo, "-u", "2", "-d", "3s", env={
            "K6_PROMETHEUS_RW_SERVER_URL": prometheus.write_url, "K6_PROMETHEUS_RW_PUSH_INTERVAL": "250ms",
            "TESTID": "stopped"})
    finally:
        killer.join()
        prometheus.stop()
    assert done.returncode == 0, done.stderr
    assert summary["metrics"]["iterations"]["count"] > 20
    assert "experimental-prometheus-rw: dropped" in done.stderr
    assert "samples in" in done.stderr and "were not stored" in done.stderr
    assert took < 3 + 8  # the 3 s test, start-up and at most a few seconds for the last push


def test_an_unreachable_endpoint_costs_no_iterations(tmp_path, echo, script):
    dead = f"http://127.0.0.1:{free_port()}/api/v1/write"
    done, summary, took = run_rw(script, tmp_path, echo, "-u", "2", "-i", "40", env={
        "K6_PROMETHEUS_RW_SERVER_URL": dead, "K6_PROMETHEUS_RW_PUSH_INTERVAL": "100ms", "TESTID": "dead"})
    assert done.returncode == 0
    assert summary["metrics"]["iterations"]["count"] == 40
    assert "connection refused" in done.stderr.lower()
    assert "were not stored" in done.stderr
    assert took < 20


class _Capture(http.server.BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self):  # noqa: N802 (the stdlib's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_headers_basic_auth_and_stale_markers_on_the_wire(tmp_path, echo, script):
    """What Prometheus cannot show: the request's headers. A plain HTTP server records them."""
    _Capture.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done, _, _ = run_rw(script, tmp_path, echo, "-i", "3", env={
            "K6_PROMETHEUS_RW_SERVER_URL": f"http://127.0.0.1:{server.server_address[1]}/receive",
            "K6_PROMETHEUS_RW_USERNAME": "k6", "K6_PROMETHEUS_RW_PASSWORD": "s3cret",
            "K6_PROMETHEUS_RW_HEADERS_X-Tenant": "team-a", "K6_PROMETHEUS_RW_HTTP_HEADERS": "X-One:1,X-Two:2",
            "K6_PROMETHEUS_RW_STALE_MARKERS": "true", "TESTID": "wire"})
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    assert len(_Capture.requests) >= 2
    headers, body = _Capture.requests[0]
    assert headers["Authorization"] == "Basic azY6czNjcmV0"  # base64("k6:s3cret")
    assert headers["X-Tenant"] == "team-a" and headers["X-One"] == "1" and headers["X-Two"] == "2"
    assert headers["Content-Encoding"] == "snappy" and headers["Content-Type"] == "application/x-protobuf"
    request = WriteRequest.FromString(bytes(cramjam.snappy.decompress_raw(body)))
    names = {next(l.value for l in ts.labels if l.name == "__name__") for ts in request.timeseries}
    assert {"k6_iterations_total", "k6_tcp_sockets_total", "k6_tcp_socket_duration_p99", "k6_checks_rate"} <= names
    for ts in request.timeseries:
        assert [l.name for l in ts.labels] == sorted(l.name for l in ts.labels)
    # The last request marks every series stale.
    last = WriteRequest.FromString(bytes(cramjam.snappy.decompress_raw(_Capture.requests[-1][1])))
    assert last.timeseries and all(
        ts.samples[0].value != ts.samples[0].value and
        ts.samples[0].SerializeToString() == type(ts.samples[0])(value=STALE_NAN, timestamp=ts.samples[0].timestamp)
        .SerializeToString() for ts in last.timeseries)


@pytest.mark.parametrize("env, message", [
    ({"K6_PROMETHEUS_RW_SERVER_URL": "localhost:9090"}, "K6_PROMETHEUS_RW_SERVER_URL: 'localhost:9090' is not an http"),
    ({"K6_PROMETHEUS_RW_PUSH_INTERVAL": "often"}, 'K6_PROMETHEUS_RW_PUSH_INTERVAL: time: invalid duration "often"'),
    ({"K6_PROMETHEUS_RW_PUSH_INTERVAL": "0s"}, "K6_PROMETHEUS_RW_PUSH_INTERVAL: '0s' must be more than zero"),
    ({"K6_PROMETHEUS_RW_TREND_STATS": "p(99),mean"}, "K6_PROMETHEUS_RW_TREND_STATS: unknown stat 'mean'"),
    ({"K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM": "yes"}, "K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM: 'yes' is not"),
    ({"K6_PROMETHEUS_RW_INSECURE_SKIP_TLS_VERIFY": "2"}, "K6_PROMETHEUS_RW_INSECURE_SKIP_TLS_VERIFY: '2' is not"),
    ({"K6_PROMETHEUS_RW_HTTP_HEADERS": "novalue"}, "K6_PROMETHEUS_RW_HTTP_HEADERS: 'novalue' is not KEY:VALUE"),
    ({"K6_PROMETHEUS_RW_CLIENT_CERTIFICATE": "c.pem"}, "K6_PROMETHEUS_RW_CLIENT_CERTIFICATE and "
     "K6_PROMETHEUS_RW_CLIENT_CERTIFICATE_KEY go together: set both or neither"),
    ({"K6_PROMETHEUS_RW_CLIENT_CERTIFICATE": "c.pem", "K6_PROMETHEUS_RW_CLIENT_CERTIFICATE_KEY": "k.pem"},
     "K6_PROMETHEUS_RW_CLIENT_CERTIFICATE: a client certificate needs an https:// server URL"),
    ({"K6_PROMETHEUS_RW_SERVER_URL": "https://127.0.0.1:1/w", "K6_PROMETHEUS_RW_CLIENT_CERTIFICATE": "no.pem",
      "K6_PROMETHEUS_RW_CLIENT_CERTIFICATE_KEY": "no.key"},
     "K6_PROMETHEUS_RW_CLIENT_CERTIFICATE: cannot load no.pem: [Errno 2] No such file or directory"),
])
def test_bad_settings_are_named(tmp_path, echo, script, env, message):
    done, _, _ = run_rw(script, tmp_path, echo, env={"TESTID": "bad", **env}, timeout=30)
    assert done.returncode == 255
    assert "could not create the 'experimental-prometheus-rw' output: " + message in done.stderr.replace('\\"', '"')
    assert "Traceback" not in done.stderr


def test_an_argument_is_refused(tmp_path, script):
    done = k6host("run", "--out", "experimental-prometheus-rw=http://x", str(script), timeout=30)
    assert done.returncode == 255
    assert "experimental-prometheus-rw takes no argument" in done.stderr


def test_names_and_histogram_buckets():
    assert [stat_suffix(s) for s in ("p(99)", "p(99.9)", "med", "count")] == ["p99", "p999", "med", "count"]
    histogram = NativeHistogram()
    for value in (0.0, 1.0, 1.05, 2.0, 8.0):
        histogram.add(value)
    # 1.0 is the top of bucket 0; 1.05 in bucket 1 (up to 2^(1/8)); 2.0 tops bucket 8; 8.0 tops bucket 24.
    assert histogram.buckets == {0: 1, 1: 1, 8: 1, 24: 1}
    assert histogram.zero == 1 and histogram.count == 5
    from k6host.report.remote_write_pb import Histogram

    message = Histogram()
    histogram.message(message, 0)
    assert [(s.offset, s.length) for s in message.positive_spans] == [(0, 2), (6, 1), (15, 1)]
    assert list(message.positive_deltas) == [1, 0, 0, 0]


def test_a_silent_endpoint_is_not_waited_for(tmp_path, echo, script):
    """A receiver that takes the connection and never answers: pushes pile up and are dropped."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections complete in the backlog; nothing ever reads them
    try:
        slow_script = tmp_path / "slow.js"
        slow_script.write_text(SCRIPT.replace("export default", 'import { sleep } from "k6"\nexport default')
                               .replace("s.destroy()", "s.destroy(); sleep(0.05)"))
        done, summary, took = run_rw(slow_script, tmp_path, echo, "-u", "2", "-d", "2s", env={
            "K6_PROMETHEUS_RW_SERVER_URL": f"http://127.0.0.1:{silent.getsockname()[1]}/w",
            "K6_PROMETHEUS_RW_PUSH_INTERVAL": "1s", "TESTID": "silent"})
    finally:
        silent.close()
    assert done.returncode == 0, done.stderr
    assert summary["metrics"]["iterations"]["count"] > 20
    assert "were not stored" in done.stderr
    assert took < 2 + 8
