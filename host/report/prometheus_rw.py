"""``--out experimental-prometheus-rw``: k6's time series, pushed to a Prometheus remote-write endpoint.

As k6 1.1.0 names them: ``k6_<metric>_total`` for counters (the running
total), ``k6_<metric>`` for gauges (the last value), ``k6_<metric>_rate`` for
rates (passes ÷ all), and for trends either ``k6_<metric>_<stat>`` for each
stat of ``K6_PROMETHEUS_RW_TREND_STATS`` (``p(99)`` → ``_p99``) or, with
``K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM``, one native histogram
``k6_<metric>_seconds``. Time values are in seconds, Prometheus' base unit.
Every tag becomes a label; one series per metric and tag set.

The test never waits for Prometheus. ``add`` only appends to a list; a
background thread folds the list into the series every push interval,
encodes the series that changed (protobuf, snappy) and hands the request to
a sender thread. While a request is still on its way the next one waits in
a one-place outbox; a request pushed out of it, refused or failed is
dropped, counted, and warned about (at most every 10 s, and once at the end).
Counters, rates and trend stats are cumulative, so a dropped request loses
points in time, not counts.
"""

from __future__ import annotations

import base64
import math
import re
import ssl
import struct
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Mapping

from k6host.run.durations import parse_seconds
from k6host import __version__
from k6host.run.metrics import COUNTER, GAUGE, RATE, TIME, TREND, Metric, Sample, TrendSink

DEFAULT_URL = "http://localhost:9090/api/v1/write"
DEFAULT_PUSH_INTERVAL = 5.0
DEFAULT_TREND_STATS = ["p(99)"]
# Prometheus' staleness marker, a NaN with this exact bit pattern.
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
# Native histograms: schema 3 (8 buckets per doubling, about 9 % wide), and
# values at or below a nanosecond count as zero.
SCHEMA = 3
ZERO_THRESHOLD = 1e-9
_WARN_EVERY = 10.0
_FOLD_EVERY = 0.25
_STAT = re.compile(r"^(count|sum|min|max|avg|med|p\((\d+(\.\d+)?)\))$")
_LABEL_BAD = re.compile(r"[^a-zA-Z0-9_]")
_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}

Warn = Callable[[str], None]


class ConfigError(ValueError):
    """A K6_PROMETHEUS_RW_* setting that cannot be used; the message names it."""


def _bool(env: Mapping[str, str], name: str) -> bool:
    text = env.get(name, "")
    if text == "" or text in _FALSE:
        return False
    if text in _TRUE:
        return True
    raise ConfigError(f"{name}: {text!r} is not a boolean (true or false)")


def stat_suffix(stat: str) -> str:
    """``p(99.9)`` → ``p999``, as k6 names the series of a trend stat."""
    return re.sub(r"[().]", "", stat)


class Config:
    """The output's settings, from ``K6_PROMETHEUS_RW_*`` variables (as k6 reads them)."""

    def __init__(self, env: Mapping[str, str]):

        self.url = env.get("K6_PROMETHEUS_RW_SERVER_URL") or DEFAULT_URL
        if not re.match(r"^https?://[^/]+", self.url):
            raise ConfigError(f"K6_PROMETHEUS_RW_SERVER_URL: {self.url!r} is not an http:// or https:// URL")
        interval = env.get("K6_PROMETHEUS_RW_PUSH_INTERVAL")
        try:
            self.push_interval = parse_seconds(interval) if interval else DEFAULT_PUSH_INTERVAL
        except ValueError as exc:
            raise ConfigError(f"K6_PROMETHEUS_RW_PUSH_INTERVAL: {exc}") from None
        if self.push_interval <= 0:
            raise ConfigError(f"K6_PROMETHEUS_RW_PUSH_INTERVAL: {interval!r} must be more than zero")
        stats = env.get("K6_PROMETHEUS_RW_TREND_STATS")
        self.trend_stats = [s.strip() for s in stats.split(",")] if stats else list(DEFAULT_TREND_STATS)
        for stat in self.trend_stats:
            if not _STAT.match(stat):
                raise ConfigError(f"K6_PROMETHEUS_RW_TREND_STATS: unknown stat {stat!r} "
                                  "(expected count, sum, min, max, avg, med or p(N))")
        self.native_histograms = _bool(env, "K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM")
        self.stale_markers = _bool(env, "K6_PROMETHEUS_RW_STALE_MARKERS")
        self.insecure = _bool(env, "K6_PROMETHEUS_RW_INSECURE_SKIP_TLS_VERIFY")
        self.headers: dict[str, str] = {}
        for pair in filter(None, (env.get("K6_PROMETHEUS_RW_HTTP_HEADERS") or "").split(",")):
            key, sep, value = pair.partition(":")
            if not sep or not key.strip():
                raise ConfigError(f"K6_PROMETHEUS_RW_HTTP_HEADERS: {pair!r} is not KEY:VALUE")
            self.headers[key.strip()] = value.strip()
        for name, value in env.items():
            if name.startswith("K6_PROMETHEUS_RW_HEADERS_") and len(name) > len("K6_PROMETHEUS_RW_HEADERS_"):
                self.headers[name[len("K6_PROMETHEUS_RW_HEADERS_"):]] = value
        user, password = env.get("K6_PROMETHEUS_RW_USERNAME"), env.get("K6_PROMETHEUS_RW_PASSWORD")
        if user or password:
            token = base64.b64encode(f"{user or ''}:{password or ''}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        if env.get("K6_PROMETHEUS_RW_BEARER_TOKEN"):
            self.headers["Authorization"] = f"Bearer {env['K6_PROMETHEUS_RW_BEARER_TOKEN']}"
        self.client_cert = env.get("K6_PROMETHEUS_RW_CLIENT_CERTIFICATE") or None
        self.client_key = env.get("K6_PROMETHEUS_RW_CLIENT_CERTIFICATE_KEY") or None
        if bool(self.client_cert) != bool(self.client_key):
            raise ConfigError("K6_PROMETHEUS_RW_CLIENT_CERTIFICATE and K6_PROMETHEUS_RW_CLIENT_CERTIFICATE_KEY "
                              "go together: set both or neither")

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.url.startswith("https:"):
            if self.client_cert:
                raise ConfigError("K6_PROMETHEUS_RW_CLIENT_CERTIFICATE: a client certificate needs an https:// server URL")
            return None
        context = ssl.create_default_context()
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.client_cert:
            try:
                context.load_cert_chain(self.client_cert, self.client_key)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"K6_PROMETHEUS_RW_CLIENT_CERTIFICATE: cannot load {self.client_cert}: {exc}") from None
        return context


# -- series -------------------------------------------------------------------------


def _labels(metric_name: str, tags: Mapping[str, str]) -> list[tuple[str, str]]:
    """Sorted labels; tag names made valid label names, empty values left out (Prometheus reads them as absent)."""
    labels = {"__name__": metric_name}
    for key, value in tags.items():
        if value == "":
            continue
        name = _LABEL_BAD.sub("_", key)
        if name[:1].isdigit():
            name = "_" + name
        labels.setdefault(name, str(value))
    return sorted(labels.items())


class NativeHistogram:
    """A cumulative sparse exponential histogram (Prometheus' native histogram), in seconds."""

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.zero = 0
        self.buckets: dict[int, int] = {}

    def add(self, value: float) -> None:
        self.count += 1
        self.sum += value
        if value <= ZERO_THRESHOLD:
            self.zero += 1
            return
        # Bucket i holds (2^((i-1)/8), 2^(i/8)].
        index = math.ceil(math.log2(value) * (1 << SCHEMA))
        self.buckets[index] = self.buckets.get(index, 0) + 1

    def message(self, histogram: Any, timestamp_ms: int) -> None:
        histogram.count_int = self.count
        histogram.sum = self.sum
        histogram.schema = SCHEMA
        histogram.zero_threshold = ZERO_THRESHOLD
        histogram.zero_count_int = self.zero
        histogram.timestamp = timestamp_ms
        previous_index, previous_count = None, 0
        for index in sorted(self.buckets):
            if previous_index is None or index != previous_index + 1:
                offset = index if previous_index is None else index - previous_index - 1
                histogram.positive_spans.add(offset=offset, length=0)
            histogram.positive_spans[-1].length += 1
            histogram.positive_deltas.append(self.buckets[index] - previous_count)
            previous_index, previous_count = index, self.buckets[index]


class Series:
    """One metric with one tag set: what k6 keeps to send it again at every push."""

    __slots__ = ("labels", "kind", "time", "value", "passes", "total", "trend", "histogram")

    def __init__(self, labels: list[tuple[str, str]], kind: str, time_values: bool, native: bool):
        self.labels = labels
        self.kind = kind
        self.time = time_values
        self.value = 0.0
        self.passes = self.total = 0
        self.trend = TrendSink() if kind == TREND and not native else None
        self.histogram = NativeHistogram() if kind == TREND and native else None

    def add(self, value: float) -> None:
        if self.kind == COUNTER:
            self.value += value
        elif self.kind == GAUGE:
            self.value = value
        elif self.kind == RATE:
            self.total += 1
            self.passes += value != 0
        elif self.histogram is not None:
            self.histogram.add(value / 1000.0 if self.time else value)
        else:
            assert self.trend is not None
            self.trend.add(value, 0.0)


# -- the output ---------------------------------------------------------------------


class PrometheusRemoteWrite:
    """The output: queue samples, fold and push them in the background."""

    name = "experimental-prometheus-rw"

    def __init__(self, arg: str = "", *, env: Mapping[str, str] | None = None, warn: Warn | None = None):
        from k6host.report.remote_write_pb import WriteRequest  # protobuf only for the runs that use this output
        import cramjam

        if arg:
            raise ConfigError(f"{self.name} takes no argument ({arg!r}); "
                              "set K6_PROMETHEUS_RW_SERVER_URL and the other K6_PROMETHEUS_RW_* variables")
        self.config = Config(env if env is not None else {})
        self._ssl = self.config.ssl_context()
        self.description = f"{self.name} ({self.config.url})"
        self._WriteRequest = WriteRequest
        self._compress = cramjam.snappy.compress_raw
        self._warn = warn if warn is not None else (lambda message: None)
        self._queue: list[tuple[Sample, Metric]] = []
        self._lock = threading.Lock()
        self._series: dict[tuple, Series] = {}
        self._changed: dict[tuple, Series] = {}  # since the last request
        # The one-place outbox between the folding thread and the sender.
        self._outbox: tuple[bytes, int] | None = None
        self._outbox_ready = threading.Condition()
        self._stopped = threading.Event()
        self._closed = False
        self.sent_requests = 0
        self.dropped_samples = 0
        self.dropped_requests = 0
        self._drop_lock = threading.Lock()  # the folder and the sender both drop
        self._last_problem = ""
        self._last_warned = 0.0
        self._unwarned = 0
        self._folder = threading.Thread(target=self._fold_loop, name="k6host-prometheus-rw-fold", daemon=True)
        self._sender = threading.Thread(target=self._send_loop, name="k6host-prometheus-rw-send", daemon=True)
        self._folder.start()
        self._sender.start()

    def add(self, sample: Sample, metric: Metric) -> None:
        with self._lock:
            self._queue.append((sample, metric))

    # -- folding ------------------------------------------------------------------------
    def _fold_loop(self) -> None:
        # Folding often keeps the queue short: a push interval's worth of
        # queued samples (100,000 in 5 s of W2) made the garbage collector
        # walk them again and again, a cost every VU paid.
        interval = self.config.push_interval
        next_push = time.monotonic() + interval
        while not self._stopped.wait(max(0.0, min(_FOLD_EVERY, next_push - time.monotonic()))):
            self._absorb()
            if time.monotonic() >= next_push:
                next_push += interval
                self._post(self._request())

    def _fold(self) -> tuple[bytes, int] | None:
        """Fold the queued samples into the series; the request for the changed ones."""
        self._absorb()
        return self._request()

    def _absorb(self) -> None:
        """Fold the queued samples into the series."""
        with self._lock:
            batch, self._queue = self._queue, []
        native = self.config.native_histograms
        # (metric, id(tags)) -> series: VUs share one tags dict between many
        # samples, so most samples skip sorting and hashing their tags. The
        # batch holds the dicts, so their ids stay theirs while it is folded.
        seen: dict[tuple[str, int], Series] = {}
        changed = self._changed
        for sample, metric in batch:
            series = seen.get((metric.name, id(sample.tags)))
            if series is None:
                key = (metric.name, tuple(sorted(sample.tags.items())))
                series = self._series.get(key)
                if series is None:
                    series = self._series[key] = Series(
                        _labels(self._series_name(metric), sample.tags), metric.type, metric.contains == TIME, native
                    )
                seen[(metric.name, id(sample.tags))] = series
                changed[key] = series
            series.add(sample.value)

    def _request(self) -> tuple[bytes, int] | None:
        """The request for the series that changed since the last one."""
        if not self._changed:
            return None
        changed = list(self._changed.values())
        self._changed = {}
        return self._encode(changed)

    def _series_name(self, metric: Metric) -> str:
        """The base name; trend stats add their suffix in _encode."""
        if metric.type == COUNTER:
            return f"k6_{metric.name}_total"
        if metric.type == RATE:
            return f"k6_{metric.name}_rate"
        if metric.type == TREND and self.config.native_histograms and metric.contains == TIME:
            return f"k6_{metric.name}_seconds"
        return f"k6_{metric.name}"

    def _encode(self, changed: list[Series], stale: bool = False) -> tuple[bytes, int]:
        request = self._WriteRequest()
        now = int(time.time() * 1000)
        count = 0

        def add(labels: list[tuple[str, str]], value: float) -> None:
            nonlocal count
            series = request.timeseries.add()
            for name, text in labels:
                series.labels.add(name=name, value=text)
            series.samples.add(value=STALE_NAN if stale else value, timestamp=now)
            count += 1

        for series in changed:
            if series.trend is not None:
                scale = 1000.0 if series.time else 1.0
                name = series.labels[0][1]
                for stat in self.config.trend_stats:
                    value = series.trend.stat(stat)
                    if series.time and stat != "count":
                        value /= scale
                    labels = [("__name__", f"{name}_{stat_suffix(stat)}"), *series.labels[1:]]
                    add(labels, value)
            elif series.histogram is not None:
                if stale:
                    add(series.labels, 0.0)
                    continue
                message = request.timeseries.add()
                for name, text in series.labels:
                    message.labels.add(name=name, value=text)
                series.histogram.message(message.histograms.add(), now)
                count += 1
            elif series.kind == RATE:
                add(series.labels, series.passes / series.total if series.total else 0.0)
            else:
                add(series.labels, series.value)
        return bytes(self._compress(request.SerializeToString())), count

    # -- sending ----------------------------------------------------------------------
    def _post(self, request: tuple[bytes, int] | None) -> None:
        """Hand a request to the sender; one still waiting there is dropped."""
        if request is None:
            return
        with self._outbox_ready:
            if self._outbox is not None:
                self._dropped(self._outbox[1], "the previous push has not finished (Prometheus is slow)")
            self._outbox = request
            self._outbox_ready.notify()

    def _send_loop(self) -> None:
        while True:
            with self._outbox_ready:
                while self._outbox is None and not self._stopped.is_set():
                    self._outbox_ready.wait()
                if self._outbox is None:
                    return
                request, self._outbox = self._outbox, None
            self._send(request, timeout=max(1.0, self.config.push_interval))

    def _send(self, request: tuple[bytes, int], timeout: float) -> None:
        body, count = request
        headers = {
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
            "User-Agent": f"k6host/{__version__}",
            **self.config.headers,
        }
        http_request = urllib.request.Request(self.config.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(http_request, timeout=timeout, context=self._ssl) as response:
                response.read()
            self.sent_requests += 1
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace").strip()
            self._dropped(count, f"{self.config.url} answered {exc.code} {exc.reason}: {detail}")
        except (OSError, ValueError) as exc:  # refused, timed out, TLS, a bad host
            reason = getattr(exc, "reason", None) or exc
            self._dropped(count, f"{self.config.url}: {reason}")

    def _dropped(self, count: int, why: str) -> None:
        with self._drop_lock:
            self.dropped_samples += count
            self.dropped_requests += 1
            self._unwarned += count
            self._last_problem = why
            now = time.monotonic()
            if now - self._last_warned < _WARN_EVERY:
                return
            self._last_warned = now
            message, self._unwarned = f"{self.name}: dropped {self._unwarned} samples: {why}", 0
        self._warn(message)

    def close(self) -> None:
        """Push what is left (once, waiting a few seconds at most), then say what was dropped."""
        if self._closed:
            return
        self._closed = True
        self._stopped.set()
        self._folder.join()
        final = self._fold()
        with self._outbox_ready:
            self._outbox_ready.notify()
        self._sender.join(min(self.config.push_interval, 5.0))
        if final is not None:
            if self._sender.is_alive():
                self._dropped(final[1], "the previous push has not finished (Prometheus is slow)")
            else:
                self._send(final, timeout=min(self.config.push_interval, 5.0))
        if self.config.stale_markers and self._series and not self._sender.is_alive():
            self._send(self._encode(list(self._series.values()), stale=True), timeout=2.0)
        if self.dropped_samples:
            self._warn(f"{self.name}: {self.dropped_samples} samples in {self.dropped_requests} requests "
                       f"were not stored; the last problem: {self._last_problem}")
