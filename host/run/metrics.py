"""Metrics as k6 keeps them: typed metrics, their sinks, submetrics by tag.

Every sample goes to its metric's sink and to the sinks of the submetrics
whose tags it matches (``tcp_socket_duration{host:localhost}``), and on to
any outputs (``--out json=...``) that want raw samples. Sinks keep what the
summary and thresholds need: Trend sinks keep every value, as k6's do, so
percentiles are exact.
"""

from __future__ import annotations

import math
import queue
import re
import threading
import time
from array import array
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

from k6host.engine.interpreter import HostError
from k6host.report.stdio import well_formed_tags

COUNTER, GAUGE, RATE, TREND = "counter", "gauge", "rate", "trend"
TYPES = (COUNTER, GAUGE, RATE, TREND)
DEFAULT, TIME, DATA = "default", "time", "data"

# Built-in metrics: name -> (type, what the values are).
BUILTIN: dict[str, tuple[str, str]] = {
    "vus": (GAUGE, DEFAULT),
    "vus_max": (GAUGE, DEFAULT),
    "iterations": (COUNTER, DEFAULT),
    "iteration_duration": (TREND, TIME),
    "dropped_iterations": (COUNTER, DEFAULT),
    "checks": (RATE, DEFAULT),
    "group_duration": (TREND, TIME),
    "data_sent": (COUNTER, DATA),
    "data_received": (COUNTER, DATA),
    "tcp_socket_resolving": (TREND, TIME),
    "tcp_socket_connecting": (TREND, TIME),
    "tcp_socket_duration": (TREND, TIME),
    "tcp_sockets": (COUNTER, DEFAULT),
    "tcp_reads": (COUNTER, DEFAULT),
    "tcp_writes": (COUNTER, DEFAULT),
    "tcp_errors": (COUNTER, DEFAULT),
    "tcp_timeouts": (COUNTER, DEFAULT),
    "tcp_partial_writes": (COUNTER, DEFAULT),
}

# k6's rule (its message says "up to 128", its pattern allows 2 to 129 characters).
METRIC_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{1,128}$")
DEFAULT_TREND_STATS = ["avg", "min", "med", "max", "p(90)", "p(95)"]


class MetricError(HostError, ValueError):
    """A metric name, type or submetric selector k6 would refuse."""


@dataclass(frozen=True)
class Sample:
    metric: str
    value: float
    tags: dict[str, str]
    time: float = field(default_factory=time.time)


# -- sinks ------------------------------------------------------------------------


class CounterSink:
    def __init__(self) -> None:
        self.count = 0.0

    def add(self, value: float, _time: float) -> None:
        self.count += value

    def values(self, duration: float, _stats: list[str]) -> dict[str, float]:
        return {"count": self.count, "rate": self.count / duration if duration > 0 else 0.0}


class GaugeSink:
    def __init__(self) -> None:
        self.value = 0.0
        self.min = math.inf
        self.max = 0.0  # k6's gauge starts its max at 0, so all-negative gauges show max=0
        self.seen = False

    def add(self, value: float, _time: float) -> None:
        self.value = value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        self.seen = True

    def values(self, _duration: float, _stats: list[str]) -> dict[str, float]:
        if not self.seen:
            return {"value": 0.0, "min": 0.0, "max": 0.0}
        return {"value": self.value, "min": self.min, "max": self.max}


class RateSink:
    def __init__(self) -> None:
        self.passes = 0
        self.total = 0

    def add(self, value: float, _time: float) -> None:
        self.total += 1
        if value != 0:
            self.passes += 1

    def values(self, _duration: float, _stats: list[str]) -> dict[str, float]:
        rate = self.passes / self.total if self.total else 0.0
        return {"rate": rate, "passes": self.passes, "fails": self.total - self.passes}


class TrendSink:
    """Keeps every value, as k6 does, for exact percentiles.

    ``compact`` stores them as 32-bit floats: for the built-in durations,
    measured to well under a microsecond's precision anyway, that halves the
    memory a long run's Trends take (the sum stays 64-bit).
    """

    def __init__(self, compact: bool = False) -> None:
        self._code = "f" if compact else "d"
        self._values = array(self._code)
        self._sorted = True
        self.sum = 0.0

    def add(self, value: float, _time: float) -> None:
        if self._values and value < self._values[-1]:
            self._sorted = False
        self._values.append(value)
        self.sum += value

    def _ordered(self) -> array:
        if not self._sorted:
            self._values = array(self._code, sorted(self._values))
            self._sorted = True
        return self._values

    def percentile(self, p: float) -> float:
        """k6's percentile: linear interpolation between closest ranks."""
        values = self._ordered()
        if not values:
            return 0.0
        if len(values) == 1:
            return values[0]
        rank = p / 100.0 * (len(values) - 1)
        low = int(math.floor(rank))
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (rank - low)

    def stat(self, name: str) -> float:
        value = self._stat(name)
        # A 32-bit value shown as a double would grow noise digits (2.559999942...).
        return float(f"{value:.7g}") if self._code == "f" else value

    def _stat(self, name: str) -> float:
        values = self._ordered()
        if name == "count":
            return float(len(values))
        if not values:
            return 0.0
        if name == "avg":
            return self.sum / len(values)
        if name == "min":
            return values[0]
        if name == "max":
            return values[-1]
        if name == "med":
            return self.percentile(50)
        match = re.fullmatch(r"p\((\d+(?:\.\d+)?)\)", name)
        if match:
            return self.percentile(float(match.group(1)))
        raise MetricError(f"unknown trend statistic {name!r}")

    def values(self, _duration: float, stats: list[str]) -> dict[str, float]:
        return {name: self.stat(name) for name in stats}


SINKS: dict[str, Callable[[], Any]] = {COUNTER: CounterSink, GAUGE: GaugeSink, RATE: RateSink, TREND: TrendSink}


# -- metrics ----------------------------------------------------------------------


def parse_selector(text: str) -> tuple[str, dict[str, str]]:
    """``name{tag:value,other:value}`` -> (name, tags); a bare name has no tags."""
    text = text.strip()
    if "{" not in text:
        return text, {}
    if not text.endswith("}"):
        raise MetricError(f"invalid submetric {text!r}: missing closing brace")
    name, _, inner = text[:-1].partition("{")
    tags: dict[str, str] = {}
    for part in inner.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition(":")
        if not sep or not key.strip():
            raise MetricError(f"invalid submetric {text!r}: expected tag:value pairs")
        tags[key.strip()] = value.strip().strip("\"'")
    return name.strip(), tags


@dataclass
class Metric:
    name: str
    type: str
    contains: str
    sink: Any
    submetrics: dict[str, tuple[dict[str, str], Any]] = field(default_factory=dict)
    observed: bool = False


class Output(Protocol):
    def add(self, sample: Sample, metric: Metric) -> None: ...


class Metrics:
    """The registry and sinks of one test run; safe to use from every thread."""

    def __init__(self, record: bool = False) -> None:
        self._metrics: dict[str, Metric] = {}
        self._lock = threading.Lock()
        self._pending: queue.SimpleQueue[list[tuple[str, float, dict[str, str], float]]] = queue.SimpleQueue()
        self.outputs: list[Output] = []
        # Raw samples, only when asked for (tests and the Python API read them).
        self.samples: list[Sample] | None = [] if record else None
        self.started = time.time()
        self.ended: float | None = None
        # k6's systemTags: the system tags it leaves out are taken off every sample.
        self.dropped_tags: frozenset[str] = frozenset()
        for name, (kind, contains) in BUILTIN.items():
            self.define(name, kind, contains)

    # -- definitions --------------------------------------------------------------
    def define(self, name: str, kind: str, contains: str = DEFAULT) -> Metric:
        """Declare a metric; declaring it again with the same type is a no-op."""
        if not METRIC_NAME.match(name):
            raise MetricError(
                f"Invalid metric name: '{name}'. Metric names must only include up to 128 ASCII letters, "
                "numbers, or underscores and start with a letter or an underscore."
            )
        if kind not in TYPES:
            raise MetricError(f"invalid metric type {kind!r}")
        with self._lock:
            existing = self._metrics.get(name)
            if existing is not None:
                if existing.type != kind:
                    raise MetricError(f"metric '{name}' already exists but with type {existing.type}, instead of {kind}")
                if existing.contains != contains:
                    raise MetricError(
                        f"metric '{name}' already exists but with a value type {existing.contains}, instead of {contains}"
                    )
                return existing
            compact = kind == TREND and contains == TIME and name in BUILTIN
            metric = Metric(name, kind, contains, TrendSink(compact) if compact else SINKS[kind]())
            self._metrics[name] = metric
            return metric

    def submetric(self, selector: str) -> tuple[Metric, str]:
        """Make sure ``name{tags}`` has its own sink; returns (parent, key)."""
        name, tags = parse_selector(selector)
        with self._lock:
            metric = self._metrics.get(name)
            if metric is None:
                raise MetricError(f"no metric named {name!r}")
            key = name if not tags else name + "{" + ",".join(f"{k}:{v}" for k, v in tags.items()) + "}"
            if tags and key not in metric.submetrics:
                metric.submetrics[key] = (tags, SINKS[metric.type]())
        return metric, key

    def get(self, name: str) -> Metric | None:
        self.drain()
        return self._metrics.get(name)

    def has(self, name: str) -> bool:
        """Whether ``name`` is declared (cheap: for every sample a module adds)."""
        return name in self._metrics

    def __iter__(self) -> Iterator[Metric]:
        self.drain()
        return iter(list(self._metrics.values()))

    # -- samples ------------------------------------------------------------------
    def add(self, name: str, value: float, tags: dict[str, str], when: float | None = None) -> None:
        self.add_many([(name, value, tags, time.time() if when is None else when)])

    def submit(self, samples: list[tuple[str, float, dict[str, str], float]]) -> None:
        """Hand over a VU's batch of samples without waiting for the lock.

        A VU waiting on a lock that a reader holds would stall the hub thread
        and every VU on it; a queue put never waits. Readers take pending
        batches in first (``drain``).
        """
        self._pending.put(samples)

    def drain(self) -> None:
        """Record every batch handed over with ``submit``."""
        while True:
            try:
                batch = self._pending.get_nowait()
            except queue.Empty:
                return
            self.add_many(batch)

    def add_many(self, samples: list[tuple[str, float, dict[str, str], float]]) -> None:
        """Record (name, value, tags, time) samples under one lock."""
        with self._lock:
            metrics, dropped = self._metrics, self.dropped_tags
            written = self.samples is not None or self.outputs
            for name, value, tags, when in samples:
                if dropped:
                    tags = {k: v for k, v in tags.items() if k not in dropped}
                metric = metrics.get(name)
                if metric is None:
                    raise MetricError(f"no metric named {name!r}")
                metric.observed = True
                metric.sink.add(value, when)
                if metric.submetrics:
                    for sub_tags, sink in metric.submetrics.values():
                        if all(tags.get(k) == v for k, v in sub_tags.items()):
                            sink.add(value, when)
                if written:
                    # Only what is written out needs it: a lone surrogate cannot be.
                    sample = Sample(name, value, well_formed_tags(tags), when)
                    if self.samples is not None:
                        self.samples.append(sample)
                    for output in self.outputs:
                        output.add(sample, metric)

    # -- reading ------------------------------------------------------------------
    @property
    def duration(self) -> float:
        return (self.ended or time.time()) - self.started

    def sink_of(self, key: str) -> Any:
        """The sink for a metric or submetric key such as ``checks{scenario:a}``."""
        self.drain()
        name, _ = parse_selector(key)
        metric = self._metrics[name]
        return metric.sink if key == name else metric.submetrics[key][1]

    def of(self, metric: str) -> list[Sample]:
        assert self.samples is not None, "Metrics(record=True) keeps samples"
        self.drain()
        return [s for s in self.samples if s.metric == metric]

    def total(self, metric: str) -> float:
        return sum(s.value for s in self.of(metric))

    def names(self) -> set[str]:
        self.drain()
        return {m.name for m in self._metrics.values() if m.observed}

    def observed_values(self, duration: float, trend_stats: list[str]) -> list[tuple[Metric, dict[str, float]]]:
        """Each observed metric with its sink's values (for the REST API)."""
        self.drain()  # outside the run's loop (setup, teardown) nobody else takes them in
        with self._lock:
            return [(m, m.sink.values(duration, trend_stats)) for m in self._metrics.values() if m.observed]
