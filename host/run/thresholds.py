"""Thresholds as k6 parses, validates and evaluates them.

An expression is ``aggregation operator number`` (``p(95)<200``,
``rate>=0.99``), on a metric or a submetric (``checks{scenario:a}``). Parsing
follows k6's scanner, so k6's oddities hold: ``p`` alone means ``p(0)``, spaces
are allowed around the operator but not inside ``p(...)``. The aggregations a
metric supports depend on its type, and a threshold on a metric the script
never defined is an error; so thresholds are parsed after the init code has
run (custom metrics exist) and before the first sample, because submetric
sinks only see samples added after they exist.

During the test k6 evaluates every 2 seconds and skips metrics without
samples; at the end it evaluates everything except rates without samples
(they have no value, and k6 counts that as passing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from k6host.run.exitcodes import ExitCode
from k6host.run.durations import SECOND, DurationError, json_duration_ns
from k6host.run.metrics import (
    COUNTER,
    GAUGE,
    RATE,
    TREND,
    CounterSink,
    GaugeSink,
    MetricError,
    Metrics,
    RateSink,
    TrendSink,
)


# Operators in the order k6's scanner tries them: longer tokens before their prefixes.
_OPERATORS = ("<=", "<", ">=", ">", "===", "==", "!=")
_METHODS = ("value", "count", "rate", "avg", "min", "med", "max", "p")
SUPPORTED = {
    COUNTER: ("count", "rate"),
    GAUGE: ("value",),
    RATE: ("rate",),
    TREND: ("avg", "min", "max", "med", "p"),
}


class ThresholdError(ValueError):
    """A threshold k6 refuses before the test starts (exit code 104)."""

    exit_code = ExitCode.INVALID_CONFIG


def _go_float(text: str) -> float:
    """strconv.ParseFloat, close enough: no surrounding spaces, k6's error text."""
    try:
        if text == text.strip():
            return float(text)
    except ValueError:
        pass
    raise ValueError(f'strconv.ParseFloat: parsing "{text}": invalid syntax')


@dataclass
class Threshold:
    metric: str  # the metric as the script names it: "checks" or "checks{scenario:a}"
    metric_key: str  # the key of its sink in Metrics (Metrics.submetric's spelling)
    source: str  # the expression as written
    method: str  # count, rate, value, avg, min, med, max or p
    percentile: float | None
    operator: str
    value: float
    abort_on_fail: bool = False
    delay_abort_eval: float | None = None  # seconds; None: abort as soon as it fails
    ok: bool = True  # the verdict of the last evaluation

    @property
    def aggregation(self) -> str:
        """The key of the value this threshold compares: ``rate``, ``p(99.9)``..."""
        if self.method != "p":
            return self.method
        return f"p({repr(self.percentile).removesuffix('.0')})"

    def evaluate(self, values: Mapping[str, float]) -> bool:
        """Compare ``values[self.aggregation]`` with the expression; remembers the verdict."""
        lhs = values[self.aggregation]
        op = self.operator
        if op == ">":
            self.ok = lhs > self.value
        elif op == ">=":
            self.ok = lhs >= self.value
        elif op == "<":
            self.ok = lhs < self.value
        elif op == "<=":
            self.ok = lhs <= self.value
        elif op == "!=":
            self.ok = lhs != self.value
        else:  # "==" and "===" mean the same on numbers
            self.ok = lhs == self.value
        return self.ok


def parse_expression(source: str) -> tuple[str, float | None, str, float]:
    """``"p(95) < 200"`` -> ("p", 95.0, "<", 200.0), with k6's error messages."""
    for operator in _OPERATORS:
        # k6 1.1.0 skips an operator that ends the expression: "rate<=" reads as "rate" < "="
        lhs, found, rhs = source.partition(operator)
        if found and rhs:
            break
    else:
        raise ThresholdError(f'failed parsing threshold expression "{source}"; reason: malformed threshold expression')
    lhs, rhs = lhs.strip(), rhs.strip()
    percentile = None
    if lhs in _METHODS:
        method = lhs
        percentile = 0.0 if lhs == "p" else None
    elif lhs.startswith("p(") and lhs.endswith(")"):
        method = "p"
        try:
            percentile = _go_float(lhs[2:-1])
        except ValueError as exc:
            raise ThresholdError(
                f"failed parsing threshold expression's \"{source}\" left hand side; "
                f"reason: malformed percentile value; reason: {exc}"
            ) from None
    else:
        raise ThresholdError(
            f"failed parsing threshold expression's \"{source}\" left hand side; "
            "reason: failed parsing method from expression"
        )
    try:
        value = _go_float(rhs)
    except ValueError as exc:
        # "expresion" is k6's spelling.
        raise ThresholdError(
            f"failed parsing threshold expresion's \"{source}\" right hand side; reason: {exc}"
        ) from None
    return method, percentile, operator, value


def _metric_name(selector: str) -> str:
    """k6's ParseMetricName, for its checks and messages; returns the metric's name."""
    opening, closing = selector.find("{"), selector.rfind("}")
    if opening < 0 and closing < 0:
        return selector
    problem = None
    if (opening < 0) != (closing < 0):
        problem = f'metric "{selector}" has unmatched opening/close curly brace'
    elif closing < opening:
        problem = f'metric "{selector}" closing curly brace appears before opening one'
    elif closing != len(selector) - 1:
        problem = f'metric "{selector}" lacks a closing curly brace in its last position'
    else:
        for tag in selector[opening + 1:closing].split(","):
            _, colon, value = tag.partition(":")
            if not colon or not value:
                problem = f'metric "{tag}" tag expression is malformed'
                break
    if problem:
        raise ThresholdError(
            f"unable to validate threshold expressions; reason: parsing metric name failed, {problem}"
        )
    return selector[:opening]


def _entries(items: Iterable[Any]) -> Iterable[tuple[str, bool, float | None]]:
    """(expression, abortOnFail, delayAbortEval in seconds) from strings and objects."""
    for item in items:
        if isinstance(item, str):
            yield item, False, None
            continue
        delay = item.get("delayAbortEval")
        try:
            seconds = None if delay is None else json_duration_ns(delay) / SECOND
        except DurationError as exc:
            raise ThresholdError(f"invalid delayAbortEval of threshold {item.get('threshold')!r}: {exc}") from None
        yield item.get("threshold") or "", bool(item.get("abortOnFail")), seconds


def parse_thresholds(config: Mapping[str, list], metrics: Metrics) -> list[Threshold]:
    """Validate ``options.thresholds`` against the defined metrics and create submetric sinks.

    Metrics with thresholds count as observed (k6 shows them in the summary
    even without samples).
    """
    thresholds = []
    for selector, items in config.items():
        name = _metric_name(selector)
        metric = metrics.get(name)
        if metric is None:
            raise ThresholdError(
                f'invalid threshold defined on {selector}; reason: no metric name "{selector}" found'
            )
        _, key = metrics.submetric(selector)
        metric.observed = True
        for source, abort_on_fail, delay in _entries(items):
            method, percentile, operator, value = parse_expression(source)
            if method not in SUPPORTED[metric.type]:
                raise ThresholdError(
                    f'invalid threshold "{source}" applied on metric {selector}; reason: '
                    f"unsupported aggregation method {method} on metric of type {metric.type}. "
                    f"supported aggregation methods for this metric are: {', '.join(SUPPORTED[metric.type])}"
                )
            thresholds.append(
                Threshold(selector, key, source, method, percentile, operator, value, abort_on_fail, delay)
            )
    return thresholds


def declare_submetrics(config: Mapping[str, list], metrics: Metrics) -> list[str]:
    """With --no-thresholds k6 still creates the submetrics that thresholds name (the
    summary shows them); a bad name is only a warning then. Returns the warnings."""
    warnings = []
    for selector in config:
        name = selector.split("{", 1)[0]
        try:
            if metrics.get(name) is None:
                raise MetricError(f"metric '{name}' does not exist in the script")
            metrics.submetric(selector)
        except MetricError as exc:
            warnings.append(f"Invalid metric '{selector}' in threshold definitions: {exc}")
    return warnings


def _is_empty(sink: Any) -> bool:
    if isinstance(sink, CounterSink):
        # k6 asks whether a first sample came; CounterSink does not record it, so
        # a counter that only ever got zeros counts as empty here.
        return sink.count == 0
    if isinstance(sink, GaugeSink):
        return not sink.seen
    if isinstance(sink, RateSink):
        return sink.total == 0
    return sink.stat("count") == 0


def _aggregate(sink: Any, thresholds: list[Threshold], elapsed: float) -> dict[str, float]:
    if isinstance(sink, TrendSink):
        values = {name: sink.stat(name) for name in ("avg", "min", "max", "med")}
        for t in thresholds:
            if t.method == "p":
                # k6 would index past its sorted values for p(N) beyond 0-100; clamp instead.
                values[t.aggregation] = sink.percentile(min(max(t.percentile or 0.0, 0.0), 100.0))
        return values
    return sink.values(elapsed, [])


def evaluate(
    thresholds: list[Threshold], metrics: Metrics, elapsed: float, *, final: bool = False
) -> list[Threshold]:
    """Evaluate every threshold as k6 does at ``elapsed`` seconds into the test.

    Returns the failing thresholds with abortOnFail whose delayAbortEval has
    passed: if any, k6 aborts the test (exit code 99). ``final`` is the
    end-of-test evaluation, which also covers metrics without samples.
    """
    by_key: dict[str, list[Threshold]] = {}
    for t in thresholds:
        by_key.setdefault(t.metric_key, []).append(t)
    aborting = []
    for key, group in by_key.items():
        sink = metrics.sink_of(key)
        if _is_empty(sink) and (not final or isinstance(sink, RateSink)):
            continue
        values = _aggregate(sink, group, elapsed)
        for t in group:
            if t.evaluate(values) or not t.abort_on_fail:
                continue
            if t.delay_abort_eval is None or t.delay_abort_eval < elapsed:
                aborting.append(t)
    return aborting


def crossed_message(failed: list[Threshold], aborting: bool = False) -> str:
    """k6's error line for failed thresholds, at the end or when abortOnFail stops the test."""
    names = ", ".join(sorted({t.metric for t in failed}))
    if aborting:
        return (
            f"thresholds on metrics '{names}' were crossed; at least one has abortOnFail enabled, "
            "stopping test prematurely"
        )
    return f"thresholds on metrics '{names}' have been crossed"
