"""The end of a test run as k6 1.1.0 ends it: handleSummary's data, the text summary, where results go.

Three things leave a run, built the way k6 builds them:

- ``summary_data``: the object ``handleSummary(data)`` receives (and the base
  of everything else here);
- ``render_summary``: the text k6 prints when there is no ``handleSummary``.
  k6 renders it in JavaScript (``internal/js/summary.js``, embedded in the
  binary), so numbers follow JavaScript's formatting and names sort by its
  ``localeCompare``; this module re-implements those rules, quirks included;
- ``summary_result`` and ``route_handle_summary``: what k6's summary wrapper
  and ``handleSummaryResult`` do with handleSummary's return value.

k6 draws the text summary from a "report" that holds a little more than
``data``: the percentiles thresholds ask for, checks merged by name in the
order they first ran, and, with ``--summary-mode=full``, the samples of each
group and scenario (kept by a ``SummaryOutput``). ``summary_report`` builds it.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import unicodedata
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable, Iterable, TextIO

from k6host.run.groups import GroupTree, split_path
from k6host.report.stdio import REPLACE_SURROGATES
from k6host.report.outputs import shortest_digits
from k6host.run.metrics import SINKS, TREND, Metric, Metrics, Sample

MODES = ("compact", "full", "legacy")


class _Undefined:
    def __repr__(self) -> str:
        return "UNDEFINED"


# No setup data: no setup() or it returned undefined (``None`` stands for JavaScript's null).
UNDEFINED: Any = _Undefined()


class SummaryError(Exception):
    """handleSummary's result could not be written; the message is k6's."""


# -- handleSummary's data ---------------------------------------------------------


def summary_data(
    metrics: Metrics,
    thresholds: Iterable[Any],
    groups: GroupTree,
    *,
    options: dict[str, Any],
    duration_s: float,
    trend_stats: list[str],
    is_stdout_tty: bool,
    is_stderr_tty: bool,
    setup_data: Any = UNDEFINED,
) -> dict[str, Any]:
    """The ``data`` k6 passes to ``handleSummary``.

    ``options`` supplies ``summaryTimeUnit`` and ``noColor`` (``--no-color``).
    ``metrics`` holds the metrics k6 calls observed: those that got a sample,
    plus every metric and submetric with thresholds (and a submetric's parent),
    which k6 shows even without samples. ``thresholds`` are objects with
    ``metric_key``, ``source`` and ``ok``, in the order they were defined.
    """
    by_key: dict[str, list[Any]] = {}
    for threshold in thresholds:
        by_key.setdefault(threshold.metric_key, []).append(threshold)

    entries: dict[str, tuple[Metric, Any]] = {m.name: (m, m.sink) for m in metrics if m.observed}
    for key in by_key:
        parent, normalized = metrics.submetric(key)
        entries.setdefault(parent.name, (parent, parent.sink))
        entries[key] = (parent, metrics.sink_of(normalized))

    data_metrics: dict[str, Any] = {}
    for key, (metric, sink) in entries.items():
        entry: dict[str, Any] = {
            "type": metric.type,
            "contains": metric.contains,
            "values": sink.values(duration_s, trend_stats),
        }
        if key in by_key:
            entry["thresholds"] = {t.source: {"ok": bool(t.ok)} for t in by_key[key]}
        data_metrics[key] = entry

    data: dict[str, Any] = {
        "root_group": groups.to_data(),
        "options": {
            "summaryTrendStats": list(trend_stats),
            "summaryTimeUnit": options.get("summaryTimeUnit") or "",
            "noColor": bool(options.get("noColor", False)),
        },
        "state": {
            "isStdOutTTY": is_stdout_tty,
            "isStdErrTTY": is_stderr_tty,
            "testRunDurationMs": duration_s * 1000.0,
        },
        "metrics": data_metrics,
    }
    if setup_data is not UNDEFINED:
        data["setup_data"] = setup_data
    return data


def legacy_export(data: dict[str, Any]) -> dict[str, Any]:
    """What ``--summary-export FILE`` holds (write it with ``js_json(..., indent=4)``).

    k6's older format: no options or state, each metric reduced to its values
    (a rate's ``rate`` renamed ``value``) plus ``thresholds`` as
    ``{source: failed}``, and groups and checks keyed by name.
    """
    result: dict[str, Any] = {"root_group": _legacy_group(data["root_group"])}
    metrics: dict[str, Any] = {}
    for name, metric in data["metrics"].items():
        values = dict(metric["values"])
        if metric.get("thresholds"):
            values["thresholds"] = {source: not t["ok"] for source, t in metric["thresholds"].items()}
        if metric["type"] == "rate" and "rate" in values:
            values["value"] = values.pop("rate")
        metrics[name] = values
    result["metrics"] = metrics
    if "setup_data" in data:
        result["setup_data"] = data["setup_data"]
    return result


def _legacy_group(group: dict[str, Any]) -> dict[str, Any]:
    out = dict(group)
    out["groups"] = {g["name"]: _legacy_group(g) for g in group["groups"]}
    out["checks"] = {c["name"]: dict(c) for c in group["checks"]}
    return out


# -- the report the text summary is drawn from ------------------------------------

_HTTP = ("http_reqs", "http_req_failed", "http_req_duration", "http_req_blocked", "http_req_connecting",
         "http_req_tls_handshaking", "http_req_sending", "http_req_waiting", "http_req_receiving")
_EXECUTION = ("vus", "vus_max", "iterations", "iteration_duration", "dropped_iterations")
_NETWORK = ("data_sent", "data_received")
_SKIPPED_ALWAYS = ("checks", "group_duration")
_SKIPPED_COMPACT = _SKIPPED_ALWAYS + ("http_req_blocked", "http_req_connecting", "http_req_receiving",
                                      "http_req_sending", "http_req_tls_handshaking", "http_req_waiting")
# Section keys in the order k6's report object lists them; "custom" is moved first when drawn.
_SECTIONS = ("http", "execution", "network", "browser", "web_vitals", "grpc", "websocket", "custom")
_PERCENTILE_SOURCE = re.compile(r"^p\((\d+(?:\.\d+)?)\)\s*([<>=])")


def _section(name: str) -> str:
    """k6's rule (internal/output/summary): name prefixes; anything else, extensions included, is custom."""
    if name.startswith(_HTTP):
        return "http"
    if name.startswith(_EXECUTION):
        return "execution"
    if name.startswith(_NETWORK):
        return "network"
    if name.startswith("browser_web_vital_"):
        return "web_vitals"
    if name.startswith("browser_"):
        return "browser"
    if name.startswith("grpc_"):
        return "grpc"
    if name.startswith("ws_"):
        return "websocket"
    return "custom"


def _sections(metrics: dict[str, dict[str, Any]], mode: str) -> dict[str, dict[str, Any]]:
    skipped = _SKIPPED_COMPACT if mode == "compact" else _SKIPPED_ALWAYS
    sections: dict[str, dict[str, Any]] = {key: {} for key in _SECTIONS}
    for name, metric in metrics.items():
        if not name.startswith(skipped):
            sections[_section(name)][name] = metric
    return sections


def _checks_report(values: dict[str, Any], ordered: list[dict[str, Any]], duration_s: float) -> dict[str, Any]:
    passes, fails = values["passes"], values["fails"]
    total = passes + fails

    def metric(name: str, kind: str, vals: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "type": kind, "contains": "default", "values": vals}

    return {
        "metrics": {
            "checks_total": metric("checks_total", "counter",
                                   {"count": total, "rate": total / duration_s if duration_s > 0 else 0.0}),
            "checks_succeeded": metric("checks_succeeded", "rate", dict(values)),
            # k6 fills these two the other way round; the line it draws still reads right.
            "checks_failed": metric("checks_failed", "rate", {
                "passes": fails, "fails": passes, "rate": fails / total if total else math.nan}),
        },
        "ordered_checks": ordered,
    }


def _flat_checks(group: dict[str, Any]) -> list[dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}

    def walk(g: dict[str, Any]) -> None:
        for check in g["checks"]:
            entry = merged.setdefault(check["name"], {"name": check["name"], "passes": 0, "fails": 0})
            entry["passes"] += check["passes"]
            entry["fails"] += check["fails"]
        for sub in g["groups"]:
            walk(sub)

    walk(group)
    return list(merged.values())


def summary_report(
    data: dict[str, Any],
    *,
    summary_mode: str = "compact",
    metrics: Metrics | None = None,
    thresholds: Iterable[Any] = (),
    groups: GroupTree | None = None,
    collector: SummaryOutput | None = None,
) -> dict[str, Any]:
    """What k6's text summary is drawn from: ``data`` plus what handleSummary never sees.

    From ``data`` alone the report lacks three things, each added when its
    source is given: percentiles named by thresholds but missing from
    summaryTrendStats (``metrics`` and ``thresholds``), checks in the order
    they first ran rather than in tree order (``groups``), and per-group and
    per-scenario results for ``summary_mode="full"`` (``collector``).
    """
    duration_s = data["state"]["testRunDurationMs"] / 1000.0
    with_names = {name: {"name": name, **m} for name, m in data["metrics"].items()}

    report_thresholds: dict[str, Any] = {}
    for name, metric in with_names.items():
        if metric.get("thresholds"):
            report_thresholds[name] = {
                "metric": {k: metric[k] for k in ("name", "type", "contains")} | {"values": dict(metric["values"])},
                "thresholds": [{"source": s, "ok": t["ok"]} for s, t in metric["thresholds"].items()],
            }
    if metrics is not None:
        for threshold in thresholds:
            entry = report_thresholds.get(threshold.metric_key)
            match = _PERCENTILE_SOURCE.match(threshold.source.strip())
            if entry is None or match is None or entry["metric"]["type"] != TREND:
                continue
            _, normalized = metrics.submetric(threshold.metric_key)
            entry["metric"]["values"][f"p({match.group(1)})"] = metrics.sink_of(normalized).percentile(
                float(match.group(1)))

    checks = None
    if "checks" in data["metrics"]:
        ordered = groups.checks_by_name() if groups is not None else _flat_checks(data["root_group"])
        checks = _checks_report(data["metrics"]["checks"]["values"], ordered, duration_s)

    report: dict[str, Any] = {
        "thresholds": report_thresholds,
        "checks": checks,
        "metrics": _sections(with_names, summary_mode),
        "groups": {},
        "scenarios": {},
    }
    if collector is not None and summary_mode == "full":
        stats = data["options"]["summaryTrendStats"]
        root = collector.root_report(stats, duration_s)
        report["groups"] = root["groups"]
        report["scenarios"] = collector.scenarios_report(stats, duration_s)
    return report


class _Node:
    """One group (or scenario): its own sinks, its checks by name, its subgroups."""

    def __init__(self) -> None:
        self.metrics: dict[str, tuple[Metric, Any]] = {}
        self.checks: dict[str, list[int]] = {}
        self.children: dict[str, _Node] = {}

    def add(self, sample: Sample, metric: Metric) -> None:
        entry = self.metrics.get(metric.name)
        if entry is None:
            entry = self.metrics[metric.name] = (metric, SINKS[metric.type]())
        entry[1].add(sample.value, sample.time)
        check = sample.tags.get("check")
        if check is not None and metric.name == "checks":
            self.checks.setdefault(check, [0, 0])[0 if sample.value != 0 else 1] += 1

    def report(self, stats: list[str], duration_s: float) -> dict[str, Any]:
        values = {name: {"name": name, "type": m.type, "contains": m.contains, "values": sink.values(duration_s, stats)}
                  for name, (m, sink) in self.metrics.items()}
        checks = None
        if "checks" in values:
            ordered = [{"name": n, "passes": p, "fails": f} for n, (p, f) in self.checks.items()]
            checks = _checks_report(values["checks"]["values"], ordered, duration_s)
        return {
            "checks": checks,
            "metrics": _sections(values, "full"),
            "groups": {name: child.report(stats, duration_s) for name, child in self.children.items()},
        }


class SummaryOutput:
    """Keeps each group's and scenario's own results, for ``--summary-mode=full``.

    Register it with ``metrics.outputs.append(...)`` before the run starts.
    As in k6, samples of scenarios other than ``default`` count towards their
    scenario (and the groups within it); the others towards their group.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._root = _Node()
        self._scenarios: dict[str, _Node] = {}

    def add(self, sample: Sample, metric: Metric) -> None:
        with self._lock:
            node = self._root
            scenario = sample.tags.get("scenario")
            if scenario and scenario != "default":
                node = self._scenarios.setdefault(scenario, _Node())
                node.add(sample, metric)
            group = sample.tags.get("group")
            if group:
                for name in split_path(group):
                    node = node.children.setdefault(name, _Node())
                node.add(sample, metric)

    def root_report(self, stats: list[str], duration_s: float) -> dict[str, Any]:
        with self._lock:
            return self._root.report(stats, duration_s)

    def scenarios_report(self, stats: list[str], duration_s: float) -> dict[str, Any]:
        with self._lock:
            return {name: node.report(stats, duration_s) for name, node in self._scenarios.items()}


# -- JavaScript's number formatting -----------------------------------------------


def js_number(x: float) -> str:
    """``String(x)`` in JavaScript: shortest digits, exponent below 1e-6 and from 1e21."""
    if isinstance(x, bool):
        return "true" if x else "false"
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    if x < 0:
        return "-" + js_number(-x)
    digits, n = shortest_digits(x)
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    head = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{head}e{sign}{abs(e)}"


def _to_fixed(x: float, digits: int) -> str:
    """``x.toFixed(digits)``: exact decimal value, halves rounded up (away from zero)."""
    if math.isnan(x):
        return "NaN"
    if abs(x) >= 1e21:
        return js_number(x)
    sign = "-" if x < 0 else ""
    quantum = Decimal(1).scaleb(-digits)
    return sign + format(Decimal(abs(x)).quantize(quantum, rounding=ROUND_HALF_UP), "f")


def _trunc(x: float) -> float:
    return float(math.trunc(x)) if math.isfinite(x) else x


def _fixed_no_trailing_zeros(x: float, digits: int) -> str:
    return js_number(float(_to_fixed(x, digits)))


def _fixed_no_trailing_zeros_trunc(x: float, digits: int) -> str:
    mult = 10.0 ** digits
    return _fixed_no_trailing_zeros(_trunc(mult * x) / mult, digits)


_BYTE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_TIME_UNITS = {"s": ("s", 0.001), "ms": ("ms", 1.0), "us": ("µs", 1000.0)}


def _humanize_bytes(n: float) -> str:
    if n < 10:
        return js_number(n) + " B"
    if not math.isfinite(n):
        return "NaN B"
    e = math.floor(math.log(n) / math.log(1000))
    suffix = _BYTE_UNITS[e] if e < len(_BYTE_UNITS) else "undefined"
    val = math.floor(n / 1000.0 ** e * 10 + 0.5) / 10
    return _to_fixed(val, 1 if val < 10 else 0) + " " + suffix


def _humanize_duration(ms: float, time_unit: str | None) -> str:
    """A duration in milliseconds: ``400ns``, ``1.5µs``, ``12.34ms``, ``1.23s``, ``2m3s``, ``1h2m3s``."""
    if time_unit in _TIME_UNITS:
        unit, coef = _TIME_UNITS[time_unit]
        return _to_fixed(ms * coef, 2) + unit
    if ms == 0:
        return "0s"
    if ms < 0.001:
        return js_number(_trunc(ms * 1000000)) + "ns"
    if ms < 1:
        return _fixed_no_trailing_zeros_trunc(ms * 1000, 2) + "µs"
    if ms < 1000:
        return _fixed_no_trailing_zeros_trunc(ms, 2) + "ms"
    text = _fixed_no_trailing_zeros_trunc(math.fmod(ms, 60000) / 1000, 0 if ms > 60000 else 2) + "s"
    rem = _trunc(ms / 60000)
    if rem < 1:
        return text
    text = js_number(math.fmod(rem, 60)) + "m" + text
    rem = _trunc(rem / 60)
    if rem < 1:
        return text
    return js_number(rem) + "h" + text


def humanize_value(value: float | None, metric: dict[str, Any], time_unit: str | None) -> str:
    """A metric value as k6's summary shows it: a rate as a truncated percentage, bytes, durations, numbers."""
    value = math.nan if value is None else float(value)
    if metric["type"] == "rate":
        return _to_fixed(_trunc(value * 100 * 100) / 100, 2) + "%"
    if metric["contains"] == "data":
        return _humanize_bytes(value)
    if metric["contains"] == "time":
        return _humanize_duration(value, time_unit)
    return _fixed_no_trailing_zeros(value, 6)


# -- text helpers: width, colour, order -------------------------------------------

_ANSI_COLORS = {"red": "31", "green": "32", "cyan": "36", "white": "37"}
_ANSI_STYLES = {"bold": "1", "faint": "2"}


def _width(text: str) -> int:
    """Display width as k6 counts it: code points after NFKC, ANSI escape sequences skipped."""
    width, in_escape, in_long = 0, False, False
    for char in unicodedata.normalize("NFKC", text):
        code = ord(char)
        if char == "\x1b":
            in_escape = True
        elif in_escape and char == "[":
            in_long = True
        elif in_escape and in_long and 0x40 <= code <= 0x7E:
            in_escape = in_long = False
        elif in_escape and not in_long and 0x40 <= code <= 0x5F:
            in_escape = False
        elif not in_escape and not in_long:
            width += 1
    return width


class _Formatter:
    def __init__(self, color: bool):
        self.color = color

    def decorate(self, text: str, color: str, *styles: str) -> str:
        if not self.color:
            return text
        codes = ";".join([_ANSI_STYLES[s] for s in styles] + [_ANSI_COLORS[color]])
        return f"\x1b[{codes}m{text}\x1b[0m"

    def bold(self, text: str) -> str:
        return f"\x1b[1m{text}\x1b[0m" if self.color else text


# The order of printable ASCII under the root collation k6's JavaScript engine
# uses for localeCompare (measured with k6 1.1.0): punctuation, symbols, digits,
# then letters with case only breaking ties.
_COLLATION = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz"
_PRIMARY = {c: i for i, c in enumerate(_COLLATION)}


def _locale_key(text: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A sort key that orders like ``a.localeCompare(b)`` in k6 (root collation, ASCII exact)."""
    text = unicodedata.normalize("NFD", text)
    primary = tuple(_PRIMARY.get(c.lower(), 1000 + ord(c)) for c in text)
    tertiary = tuple(1 if c.isupper() else 0 for c in text)
    return primary, tertiary


def _sorted_metric_names(names: Iterable[str]) -> list[str]:
    """k6's order: by parent name, a submetric right after its parent, submetrics by their tags."""

    def key(name: str) -> tuple[Any, Any]:
        parent = name.split("{", 1)[0]
        return _locale_key(parent), _locale_key(name[len(parent):])

    return sorted(names, key=key)


# -- the text summary (compact and full) ------------------------------------------

_TITLE, _SUBTITLE, _PASS, _FAIL = "█", "↳", "✓", "✗"


def _indent(base: int, level: int = 1) -> str:
    return " " * ((base + level) * 2)


def _display_name(name: str) -> str:
    brace = name.find("{")
    return name if brace < 0 else "  { " + name[brace + 1:-1] + " }"


class _Info:
    """Column widths and formatted values for a set of metrics (k6's computeSummaryInfo)."""

    def __init__(self, metrics: dict[str, dict[str, Any]], base: int, stats: list[str], unit: str | None):
        self.stats = stats
        self.max_name = 0
        self.values: dict[str, str] = {}
        self.extras: dict[str, list[str]] = {}
        self.trend_cols: dict[str, list[str]] = {}
        self.trend_keys: dict[str, dict[str, str]] = {}
        self.col_widths = [0] * len(stats)
        self.value_width = 0
        self.extra_widths: list[int] = []
        for name, metric in metrics.items():
            # k6 measures the name twice over (name + display name): it widens the column.
            self.max_name = max(self.max_name, _width(_indent(base) + name + _display_name(name)))
            if metric["type"] == TREND:
                vals = metric["values"]
                self.trend_keys[name] = {k: self._trend_value(v, k, metric, unit) for k, v in vals.items()
                                         if k not in stats}
                cols = [self._trend_value(vals.get(stat), stat, metric, unit) for stat in stats]
                self.col_widths = [max(w, _width(c)) for w, c in zip(self.col_widths, cols)]
                self.trend_cols[name] = cols
            else:
                main, *extras = _non_trend_values(metric, unit)
                self.values[name] = main
                self.value_width = max(self.value_width, _width(main))
                self.extras[name] = extras
                for i, extra in enumerate(extras):
                    if i == len(self.extra_widths):
                        self.extra_widths.append(0)
                    self.extra_widths[i] = max(self.extra_widths[i], _width(extra))

    @staticmethod
    def _trend_value(value: float | None, stat: str, metric: dict[str, Any], unit: str | None) -> str:
        if stat == "count":
            return js_number(math.nan if value is None else value)
        return humanize_value(value, metric, unit)


def _non_trend_values(metric: dict[str, Any], unit: str | None) -> list[str]:
    v = metric["values"]
    kind = metric["type"]
    if kind == "counter":
        return [humanize_value(v["count"], metric, unit), humanize_value(v["rate"], metric, unit) + "/s"]
    if kind == "gauge":
        return [humanize_value(v["value"], metric, unit), "min=" + humanize_value(v["min"], metric, unit),
                "max=" + humanize_value(v["max"], metric, unit)]
    if kind == "rate":
        return [humanize_value(v["rate"], metric, unit),
                f"{js_number(v['passes'])} out of {js_number(v['passes'] + v['fails'])}"]
    return ["[no data]"]


class _TextSummary:
    """k6 1.1.0's summary.js, step for step; ``base`` is its render context's indentation level."""

    def __init__(self, fmt: _Formatter, stats: list[str], unit: str | None):
        self.fmt = fmt
        self.stats = stats
        self.unit = unit

    def title(self, text: str, base: int, prefix: str = _TITLE) -> str:
        return _indent(base) + f"{prefix} {self.fmt.bold(text)} \n"

    def metric_line(self, name: str, metric: dict[str, Any], info: _Info, base: int) -> str:
        shown = _display_name(name)
        dots = info.max_name - _width(shown) - _width(_indent(base)) + 3
        dotted = shown + self.fmt.decorate("." * dots + ":", "white", "faint")
        if metric["type"] == TREND:
            data = " ".join(
                stat + "=" + self.fmt.decorate(col, "cyan") + " " * (info.col_widths[i] - _width(col))
                for i, (stat, col) in enumerate(zip(self.stats, info.trend_cols[name])))
        else:
            value = info.values[name]
            extras = info.extras[name]
            data = self.fmt.decorate(value, "cyan") + " " * (info.value_width - _width(value))
            if len(extras) == 1:
                data += " " + self.fmt.decorate(extras[0], "cyan", "faint")
            elif extras:
                data += " " + " ".join(self.fmt.decorate(e, "cyan", "faint") + " " * (info.extra_widths[i] - _width(e))
                                       for i, e in enumerate(extras))
        return _indent(base) + dotted + " " + data

    def metric_lines(self, metrics: dict[str, Any], info: _Info, base: int, sort: bool = True) -> list[str]:
        names = _sorted_metric_names(metrics) if sort else list(metrics)
        return [self.metric_line(name, metrics[name], info, base) for name in names]

    def thresholds(self, report: dict[str, Any], base: int) -> list[str]:
        base += 1
        metrics = {name: {**t["metric"], "thresholds": t["thresholds"]} for name, t in report.items()}
        info = _Info(metrics, base, self.stats, self.unit)
        lines: list[str] = []
        for name in _sorted_metric_names(metrics):
            parent = name.split("{", 1)[0]
            nested = len(name) > len(parent) and parent in metrics
            inner = base + 1 if nested else base
            lines.append(_indent(inner) + (name[len(parent):] if nested else name))
            metric = metrics[name]
            for threshold in metric["thresholds"]:
                status = self.fmt.decorate(_PASS, "green") if threshold["ok"] else self.fmt.decorate(_FAIL, "red")
                source = self.fmt.decorate(f"'{threshold['source'].strip()}'", "white")
                lines.append(_indent(inner) + " ".join([status, source, self._threshold_value(metric, threshold, info)]))
            lines.append("\n")
        return lines

    def _threshold_value(self, metric: dict[str, Any], threshold: dict[str, Any], info: _Info) -> str:
        agg = re.split(r"[=><]", threshold["source"])[0].strip()
        name = metric["name"]
        value: str | None
        if metric["type"] == TREND:
            value = (info.trend_cols[name][self.stats.index(agg)] if agg in self.stats
                     else info.trend_keys[name].get(agg))
        elif metric["type"] == "counter":
            value = info.values[name] if agg == "count" else info.extras[name][0]
        else:
            value = info.values[name]
        if value is None:
            # k6 joins an undefined value as nothing, unless it is coloured first: "undefined".
            shown = self.fmt.decorate("undefined", "cyan") if self.fmt.color else ""
        else:
            shown = self.fmt.decorate(value, "cyan")
        return self.fmt.decorate(agg, "white") + "=" + shown

    def check(self, check: dict[str, Any], base: int) -> str:
        if check["fails"] == 0:
            return _indent(base) + self.fmt.decorate(f"{_PASS} {check['name']}", "green")
        passes, fails = check["passes"], check["fails"]
        percent = math.floor(100 * passes / (passes + fails))
        details = f"{_SUBTITLE}  {percent}% — {_PASS} {js_number(passes)} / {_FAIL} {js_number(fails)}"
        return (_indent(base) + self.fmt.decorate(f"{_FAIL} {check['name']}", "red") + "\n"
                + _indent(base, base + 1) + self.fmt.decorate(details, "red"))

    def checks(self, checks: dict[str, Any] | None, base: int) -> list[str]:
        if not checks:
            return []
        base += 1
        info = _Info(checks["metrics"], base, self.stats, self.unit)
        return [*self.metric_lines(checks["metrics"], info, base, sort=False), "\n",
                *[self.check(c, base) for c in checks["ordered_checks"]], "\n"]

    def metrics(self, sections: dict[str, dict[str, Any]], base: int) -> list[str]:
        base += 1
        merged = {name: m for section in sections.values() for name, m in section.items()}
        info = _Info(merged, base, self.stats, self.unit)
        order = ["custom"] + [key for key in sections if key != "custom"]
        lines: list[str] = []
        for key in order:
            if sections.get(key):
                lines += [_indent(base) + self.fmt.bold(key.upper()),
                          *self.metric_lines(sections[key], info, base), "\n"]
        return lines

    def group_content(self, group: dict[str, Any], base: int) -> list[str]:
        lines = self.checks(group["checks"], base) + self.metrics(group["metrics"], base)
        for name, sub in group["groups"].items():
            lines.append(self.title(f"GROUP: {name}", base + 1, prefix=_SUBTITLE))
            lines += self.group_content(sub, base + 1)
        return lines

    def render(self, report: dict[str, Any]) -> str:
        sections: list[tuple[str, list[str]]] = []
        if report["thresholds"]:
            sections.append(("THRESHOLDS", self.thresholds(report["thresholds"], 0)))
        sections.append(("TOTAL RESULTS", self.checks(report["checks"], 0) + self.metrics(report["metrics"], 0)))
        for name, group in report["groups"].items():
            sections.append((f"GROUP: {name}", self.group_content(group, 0)))
        for name in sorted(report["scenarios"], key=_locale_key):
            sections.append((f"SCENARIO: {name}", self.group_content(report["scenarios"][name], 0)))
        # k6 joins its items with a newline before each, except that an item
        # that is itself a newline is appended as it is.
        text = ""
        for title, content in sections:
            for item in [self.title(title, 0), *content, "\n"]:
                text += item if item == "\n" else "\n" + item
        return text


# -- the legacy text summary (--summary-mode=legacy) ------------------------------

_LEGACY_CODES = {"red": 31, "green": 32, "cyan": 36, "faint": 2}


def _legacy_summary(data: dict[str, Any], color: bool) -> str:
    """k6's pre-1.0 summary (its summary-legacy.js), drawn from handleSummary's data."""

    def decorate(text: str, *codes: str) -> str:
        if not color:
            return text
        return "\x1b[" + ";".join(str(_LEGACY_CODES[c]) for c in codes) + "m" + text + "\x1b[0m"

    def check_line(indent: str, check: dict[str, Any]) -> str:
        if check["fails"] == 0:
            return decorate(f"{indent}{_PASS} {check['name']}", "green")
        passes, fails = check["passes"], check["fails"]
        percent = math.floor(100 * passes / (passes + fails))
        return decorate(f"{indent}{_FAIL} {check['name']}\n{indent} {_SUBTITLE}  {percent}% — "
                        f"{_PASS} {js_number(passes)} / {_FAIL} {js_number(fails)}", "red")

    def group_lines(indent: str, group: dict[str, Any]) -> list[str]:
        lines = []
        if group["name"] != "":
            lines.append(f"{indent}{_TITLE} {group['name']}\n")
            indent += "  "
        lines += [check_line(indent, c) for c in group["checks"]]
        if group["checks"]:
            lines.append("")
        for sub in group["groups"]:
            lines += group_lines(indent, sub)
        return lines

    stats = data["options"]["summaryTrendStats"]
    unit = data["options"].get("summaryTimeUnit")
    metrics = data["metrics"]
    name_width, value_width, extra_widths = 0, 0, [0, 0]
    cells: dict[str, list[str]] = {}
    col_widths = [0] * len(stats)
    for name, metric in metrics.items():
        metric = {"name": name, **metric}
        shown = ("  " if "{" in name else "") + _display_name(name).lstrip()
        name_width = max(name_width, _width(shown))
        if metric["type"] == TREND:
            cells[name] = [js_number(metric["values"][s]) if s == "count" else
                           humanize_value(metric["values"].get(s), metric, unit) for s in stats]
            col_widths = [max(w, _width(c)) for w, c in zip(col_widths, cells[name])]
        else:
            cells[name] = _non_trend_values(metric, unit)
            value_width = max(value_width, _width(cells[name][0]))
            for i, extra in enumerate(cells[name][1:]):
                extra_widths[i] = max(extra_widths[i], _width(extra))

    lines = group_lines("     ", data["root_group"])
    for name in _sorted_metric_names(metrics):
        metric = metrics[name]
        mark = " "
        if "thresholds" in metric:
            failed = any(not t["ok"] for t in metric["thresholds"].values())
            mark = decorate(_FAIL, "red") if failed else decorate(_PASS, "green")
        sub_indent = "  " if "{" in name else ""
        shown = _display_name(name).lstrip()
        shown += decorate("." * (name_width - _width(shown) - _width(sub_indent) + 3) + ":", "faint")
        if metric["type"] == TREND:
            body = " ".join(f"{s}={decorate(c, 'cyan')}" + " " * (col_widths[i] - _width(c))
                            for i, (s, c) in enumerate(zip(stats, cells[name])))
        else:
            value, *extras = cells[name]
            body = decorate(value, "cyan") + " " * (value_width - _width(value))
            if len(extras) == 1:
                body += " " + decorate(extras[0], "cyan", "faint")
            elif extras:
                body += " " + " ".join(decorate(e, "cyan", "faint") + " " * (extra_widths[i] - _width(e))
                                       for i, e in enumerate(extras))
        lines.append("   " + sub_indent + mark + " " + shown + " " + body)
    return "\n".join(lines)


def render_summary(
    data: dict[str, Any], *, color: bool, summary_mode: str = "compact", report: dict[str, Any] | None = None
) -> str:
    """Exactly what k6 writes to stdout at the end of a run without handleSummary.

    ``report`` comes from ``summary_report``; without it the report is drawn
    from ``data`` alone (see there). ``summary_mode="legacy"`` uses ``data`` only.
    """
    if summary_mode not in MODES:
        raise ValueError(f"invalid summary mode {summary_mode!r}: expected one of {', '.join(MODES)}")
    if summary_mode == "legacy":
        text = _legacy_summary(data, color)
    else:
        report = report if report is not None else summary_report(data, summary_mode=summary_mode)
        options = data["options"]
        text = _TextSummary(_Formatter(color), options["summaryTrendStats"], options.get("summaryTimeUnit")).render(report)
    return "\n" + text + "\n\n"


# -- handleSummary's result -------------------------------------------------------


def js_json(value: Any, indent: int | None = None) -> str:
    """``JSON.stringify(value, null, indent)``: JavaScript's numbers, non-ASCII kept, NaN as null."""

    def encode(v: Any, depth: int) -> str:
        if v is None or v is UNDEFINED:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return js_number(v) if math.isfinite(v) else "null"
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, dict):
            items = [(json.dumps(str(k), ensure_ascii=False), encode(x, depth + 1)) for k, x in v.items()
                     if x is not UNDEFINED]
            if not items:
                return "{}"
            if indent is None:
                return "{" + ",".join(f"{k}:{x}" for k, x in items) + "}"
            pad, inner = " " * (indent * depth), " " * (indent * (depth + 1))
            return "{\n" + ",\n".join(f"{inner}{k}: {x}" for k, x in items) + "\n" + pad + "}"
        if isinstance(v, (list, tuple)):
            if not v:
                return "[]"
            parts = [encode(x, depth + 1) for x in v]
            if indent is None:
                return "[" + ",".join(parts) + "]"
            pad, inner = " " * (indent * depth), " " * (indent * (depth + 1))
            return "[\n" + ",\n".join(inner + p for p in parts) + "\n" + pad + "]"
        raise TypeError(f"cannot encode {type(v).__name__} as JSON")

    return encode(value, 0)


def _js_truthy(value: Any) -> bool:
    if value is None or value is UNDEFINED:
        return False
    if isinstance(value, (dict, list, tuple, bytes, bytearray, memoryview)):
        return True  # objects, arrays and ArrayBuffers, even empty ones
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)


def summary_result(
    callback_result: Any, data: dict[str, Any], *, default_text: Callable[[], str], summary_export: str = ""
) -> Any:
    """What k6's summary wrapper hands on for writing.

    A falsy handleSummary result (none, null, "", 0, false; also when
    handleSummary threw) means the default text summary on stdout; with
    ``--summary-export`` the legacy JSON is added under that path.
    """
    result = callback_result
    if not _js_truthy(result):
        result = {"stdout": default_text()}
    if summary_export and isinstance(result, dict):
        result = {**result, summary_export: js_json(legacy_export(data), indent=4)}
    return result


def _go_type(value: Any) -> str:
    """The Go type name k6 reports for a JavaScript value it cannot write."""
    if value is None or value is UNDEFINED:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    return type(value).__name__


def _os_error(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return reason[:1].lower() + reason[1:]


def _write(stream: TextIO, value: str | bytes) -> None:
    if isinstance(value, str):
        stream.write(value)
    elif hasattr(stream, "buffer"):
        stream.flush()
        stream.buffer.write(value)
    else:
        stream.write(bytes(value).decode("utf-8", "replace"))
    stream.flush()


def route_handle_summary(result: Any, *, stdout: TextIO, stderr: TextIO, base_dir: str) -> None:
    """Write handleSummary's result: ``stdout``, ``stderr``, or a file path relative to ``base_dir``.

    Values are ``str`` (written as UTF-8) or ``bytes`` (an ArrayBuffer). As in
    k6, a result that is not an object, or any value of another type, writes
    nothing at all; a file that cannot be written does not stop the others.
    Problems raise SummaryError with k6's message, which k6 logs as
    ``failed to handle the end-of-test summary`` and exits as it would have.
    """
    if result is None or result is UNDEFINED:
        return
    if not isinstance(result, dict):
        raise SummaryError("handleSummary() should return a map with string keys")
    for key, value in result.items():
        if not isinstance(value, (str, bytes, bytearray, memoryview)):
            raise SummaryError(
                f"error handling summary object {key}: invalid type {_go_type(value)}, "
                "it needs to be a string or ArrayBuffer")
    errors: list[str] = []
    for key, value in result.items():
        if key == "stdout":
            _write(stdout, value)
            continue
        if key == "stderr":
            _write(stderr, value)
            continue
        payload = value.encode("utf-8", REPLACE_SURROGATES) if isinstance(value, str) else bytes(value)
        try:
            f = open(os.path.join(base_dir, key), "wb")
        except OSError as exc:
            errors.append(f"could not open '{key}': open {key}: {_os_error(exc)}")
            continue
        try:
            with f:
                f.write(payload)
        except OSError as exc:
            errors.append(f"error saving summary to '{key}' after 0 bytes: write {key}: {_os_error(exc)}")
    if errors:
        raise SummaryError("\n".join(["Could not save some summary information:"] + [f"\t- {e}" for e in errors]))
