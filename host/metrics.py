"""Metric samples, as k6 records them: a metric name, a value, tags, a time."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Iterable

COUNTER, GAUGE, RATE, TREND = "counter", "gauge", "rate", "trend"

# Built-in metrics: name -> (type, whether values are times in ms).
BUILTIN: dict[str, tuple[str, bool]] = {
    "vus": (GAUGE, False),
    "vus_max": (GAUGE, False),
    "iterations": (COUNTER, False),
    "iteration_duration": (TREND, True),
    "dropped_iterations": (COUNTER, False),
    "checks": (RATE, False),
    "group_duration": (TREND, True),
    "data_sent": (COUNTER, False),
    "data_received": (COUNTER, False),
    "tcp_socket_resolving": (TREND, True),
    "tcp_socket_connecting": (TREND, True),
    "tcp_socket_duration": (TREND, True),
    "tcp_sockets": (COUNTER, False),
    "tcp_reads": (COUNTER, False),
    "tcp_writes": (COUNTER, False),
    "tcp_errors": (COUNTER, False),
    "tcp_timeouts": (COUNTER, False),
    "tcp_partial_writes": (COUNTER, False),
}


@dataclass(frozen=True)
class Sample:
    metric: str
    value: float
    tags: dict[str, str]
    time: float = field(default_factory=time.time)


class Metrics:
    """Collects samples from every VU of a run (appends are thread-safe)."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self._lock = threading.Lock()

    def add(self, metric: str, value: float, tags: dict[str, str]) -> None:
        sample = Sample(metric, value, tags)
        with self._lock:
            self.samples.append(sample)

    def of(self, metric: str) -> list[Sample]:
        return [s for s in self.samples if s.metric == metric]

    def total(self, metric: str) -> float:
        return sum(s.value for s in self.samples if s.metric == metric)

    def names(self) -> set[str]:
        return {s.metric for s in self.samples}

    def extend(self, samples: Iterable[Sample]) -> None:
        with self._lock:
            self.samples.extend(samples)
