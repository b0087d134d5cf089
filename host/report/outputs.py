"""``--out json=FILE`` and ``--out csv=FILE``: every sample, written as k6 1.1.0 writes it.

An output sees each sample as ``Metrics.add`` records it (``add(sample,
metric)`` runs under the registry's lock, so it only queues the sample); a
background thread formats and writes the queue every flush period, as k6's
periodic flushers do, and ``close()`` writes what is left.

JSON lines: a ``{"type":"Metric",...}`` record the first time a metric
appears, then one ``{"metric":...,"type":"Point",...}`` record per sample,
with numbers as Go's ``strconv`` 'g' format writes them (``1.234567e+06``) and
times in RFC 3339 with nanoseconds, local time. CSV: one row per sample,
system tags in their own columns, other tags as ``k=v&k=v``.
"""

from __future__ import annotations

import gzip
import math
import re
import sys
import threading
from datetime import datetime
from typing import Any, BinaryIO, Callable, Iterable, TextIO

from k6host.run.durations import parse_seconds
from k6host.run.options import DEFAULT_SYSTEM_TAGS
from k6host.run.metrics import Metric, Sample
from k6host.report.stdio import REPLACE_SURROGATES

AVAILABLE = ("csv", "experimental-prometheus-rw", "json", "web-dashboard")
# k6's other output types: named so that asking for one says "not here" rather than "no such thing".
_K6_ONLY = ("cloud", "experimental-opentelemetry", "influxdb", "statsd")


class OutputError(Exception):
    """An ``--out`` that cannot be opened; the message is k6's."""


def open_outputs(
    specs: list[str],
    *,
    thresholds: Iterable[Any] = (),
    env: dict[str, str] | None = None,
    stdout: TextIO | None = None,
    log: Callable[..., None] | None = None,
    script: str = "",
) -> list[Any]:
    """Open every ``--out TYPE[=ARG]``; register them with ``metrics.outputs.extend(...)``, end with ``close()``.

    ``thresholds`` (objects with ``metric_key`` and ``source``) go into the
    JSON output's metric records; ``env`` supplies ``K6_CSV_*`` settings;
    ``log(level, message, **fields)`` hears of writes that fail and of what
    an output drops; ``script`` names the test in the dashboard; ``K6_PROMETHEUS_RW_*``
    and ``K6_WEB_DASHBOARD_*`` settings come from ``env`` too.
    On an error nothing stays open.
    """
    opened: list[Any] = []
    warn = (lambda message: log("warning", message)) if log is not None else None
    try:
        for spec in specs:
            kind, _, arg = spec.partition("=")
            if kind == "json":
                opened.append(JsonOutput(arg, thresholds=thresholds, stdout=stdout))
            elif kind == "csv":
                opened.append(CsvOutput(arg, env=env, stdout=stdout))
            elif kind == "experimental-prometheus-rw":
                from k6host.report.prometheus_rw import ConfigError, PrometheusRemoteWrite

                try:
                    opened.append(PrometheusRemoteWrite(arg, env=env, warn=warn))
                except ConfigError as exc:
                    raise OutputError(f"could not create the '{kind}' output: {exc}") from None
            elif kind == "web-dashboard":
                from k6host.report.dashboard import DashboardError, WebDashboard

                try:
                    opened.append(WebDashboard(arg, env=env, thresholds=thresholds, script=script, warn=warn))
                except DashboardError as exc:
                    raise OutputError(f"could not create the '{kind}' output: {exc}") from None
            elif kind in _K6_ONLY:
                raise OutputError(f"output type '{kind}' is not supported by k6host; "
                                  f"available types are: {', '.join(AVAILABLE)}")
            else:
                raise OutputError(f"invalid output type '{kind}', available types are: {', '.join(AVAILABLE)}")
    except BaseException:
        for output in opened:
            output.close()
        raise
    if log is not None:
        for output in opened:
            if hasattr(output, "report_errors_to"):  # the file outputs: a write that fails is logged
                output.report_errors_to(log)
    return opened


def _reason(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return reason[:1].lower() + reason[1:]


def _open_file(path: str) -> BinaryIO:
    """The file, gzip-compressed when its name ends in ``.gz`` (as k6 does); raises OSError."""
    raw = open(path, "wb")
    if path.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="wb")  # type: ignore[return-value]
    return raw


class _Sink:
    """Where the text goes: a file we own (bytes) or a stream we borrow (text).

    A write that fails (a full disk) is logged, through ``on_error``, and the
    test goes on, as in k6.
    """

    def __init__(self, file: BinaryIO | None, stream: TextIO | None):
        self._file = file
        self._stream = stream
        self.on_error: Callable[[OSError], None] = lambda exc: None

    def write(self, text: str) -> None:
        try:
            if self._file is not None:
                self._file.write(text.encode("utf-8", REPLACE_SURROGATES))
                self._file.flush()
            elif self._stream is not None:
                self._stream.write(text)
                self._stream.flush()
        except OSError as exc:
            self.on_error(exc)

    def close(self) -> None:
        if self._file is not None:
            try:
                if isinstance(self._file, gzip.GzipFile):
                    raw = self._file.fileobj
                    try:
                        self._file.close()
                    finally:
                        raw.close()  # type: ignore[union-attr]
                else:
                    self._file.close()
            except OSError as exc:
                self.on_error(exc)


class _PeriodicOutput:
    """Queues samples; a daemon thread formats and writes them every ``period`` seconds."""

    name = "output"

    def __init__(self, sink: _Sink, period: float):
        self._sink = sink
        self._period = period
        self._queue: list[tuple[Sample, Metric]] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"k6host-{self.name}-output", daemon=True)
        self._thread.start()

    # k6's words for a failed write, by output.
    _WRITE_FAILED = "could not write the samples"

    def report_errors_to(self, log: Callable[..., None]) -> None:
        path = getattr(self, "path", "")

        def said(exc: OSError) -> None:
            where = path if path not in ("", "-") else "/dev/stdout"
            log("error", self._WRITE_FAILED, error=f"write {where}: {_reason(exc)}", filename=path, output=self.name)

        self._sink.on_error = said

    def add(self, sample: Sample, metric: Metric) -> None:
        with self._lock:
            self._queue.append((sample, metric))

    def _run(self) -> None:
        while not self._stopped.wait(self._period):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        if batch:
            self._sink.write(self._format(batch))

    def _format(self, batch: list[tuple[Sample, Metric]]) -> str:
        raise NotImplementedError

    def close(self) -> None:
        """Write what is queued and close the file; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._stopped.set()
        self._thread.join()
        self.flush()
        self._sink.close()


# -- JSON -------------------------------------------------------------------------

_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_JSON_SPECIAL = re.compile('[\x00-\x1f"\\\\\u2028\u2029]')
_JSON_SPECIAL_HTML = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029]')


def _json_string(text: str, html: bool = True) -> str:
    """A JSON string as k6's JSON output writes it: U+2028/9 escaped, and in Point records ``<>&`` too."""
    special = _JSON_SPECIAL_HTML if html else _JSON_SPECIAL
    return '"' + special.sub(lambda m: _JSON_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), text) + '"'


def shortest_digits(x: float) -> tuple[str, int]:
    """Shortest decimal digits of positive ``x`` and the point position: x = 0.DIGITS × 10**point."""
    mantissa, _, exponent = repr(x).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    return stripped.rstrip("0") or "0", point


def go_float(x: float) -> str:
    """``strconv.FormatFloat(x, 'g', -1, 64)``: shortest digits, exponent form below 1e-4 and from 1e6."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    if x < 0:
        return "-" + go_float(-x)
    digits, point = shortest_digits(float(x))
    exp = point - 1
    if exp < -4 or exp >= 6:
        head = digits if len(digits) == 1 else digits[0] + "." + digits[1:]
        return f"{head}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if point <= 0:
        return "0." + "0" * -point + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def _split_time(t: float) -> tuple[int, int]:
    """Unix time as (seconds, nanoseconds), without the float rounding of ``t * 1e9``."""
    seconds = math.floor(t)
    nanos = min(int(round((t - seconds) * 1e9)), 999_999_999)
    return seconds, nanos


def rfc3339(t: float, nano: bool = True) -> str:
    """Go's RFC3339Nano (or RFC3339) in local time: trailing zeros of the fraction dropped, ``Z`` for UTC."""
    seconds, nanos = _split_time(t)
    local = datetime.fromtimestamp(seconds).astimezone()
    offset = local.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    zone = "Z" if minutes == 0 else f"{'+' if minutes > 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    fraction = f"{nanos:09d}".rstrip("0") if nano else ""
    return local.strftime("%Y-%m-%dT%H:%M:%S") + ("." + fraction if fraction else "") + zone


def _tags_json(tags: dict[str, str], html: bool = True) -> str:
    return "{" + ",".join(f"{_json_string(k, html)}:{_json_string(str(tags[k]), html)}" for k in sorted(tags)) + "}"


class JsonOutput(_PeriodicOutput):
    """``--out json[=FILE]``: JSON lines to FILE (``.gz``: gzip), or to stdout for none or ``-``."""

    name = "json"
    _WRITE_FAILED = "Sample couldn't be marshalled to JSON"

    def __init__(self, path: str = "", *, thresholds: Iterable[Any] = (), stdout: TextIO | None = None,
                 period: float = 0.2):
        self.path = path
        self._thresholds: dict[str, list[str]] = {}
        for threshold in thresholds:
            self._thresholds.setdefault(threshold.metric_key, []).append(threshold.source)
        self._seen: set[str] = set()
        if path in ("", "-"):
            self.description = "json(stdout)"
            sink = _Sink(None, stdout if stdout is not None else sys.stdout)
        else:
            self.description = f"json ({path})"
            try:
                sink = _Sink(_open_file(path), None)
            except OSError as exc:
                raise OutputError(f"open {path}: {_reason(exc)}") from None
        super().__init__(sink, period)

    def _metric_record(self, metric: Metric) -> str:
        if metric.submetrics:
            subs = ",".join(
                f'{{"name":{_json_string(key, False)},"suffix":{_json_string(key[len(metric.name) + 1:-1], False)},'
                f'"tags":{_tags_json(tags, False)}}}'
                for key, (tags, _) in metric.submetrics.items())
            submetrics = f"[{subs}]"
        else:
            submetrics = "null"
        thresholds = ",".join(_json_string(s, False) for s in self._thresholds.get(metric.name, []))
        name = _json_string(metric.name, False)
        return (f'{{"type":"Metric","data":{{"name":{name},"type":"{metric.type}","contains":"{metric.contains}",'
                f'"thresholds":[{thresholds}],"submetrics":{submetrics}}},"metric":{name}}}\n')

    def _format(self, batch: list[tuple[Sample, Metric]]) -> str:
        lines = []
        for sample, metric in batch:
            if metric.name not in self._seen:
                self._seen.add(metric.name)
                lines.append(self._metric_record(metric))
            lines.append(f'{{"metric":{_json_string(metric.name)},"type":"Point","data":{{"time":"{rfc3339(sample.time)}",'
                         f'"value":{go_float(sample.value)},"tags":{_tags_json(sample.tags)}}}}}\n')
        return "".join(lines)


# -- CSV --------------------------------------------------------------------------

# k6's default system tags that get a column of their own, in its (sorted) order.
# k6's CSV output has a column for each of k6's system tags.
CSV_TAG_COLUMNS = tuple(DEFAULT_SYSTEM_TAGS)
CSV_HEADER = ("metric_name", "timestamp", "metric_value", *CSV_TAG_COLUMNS, "extra_tags", "metadata")
CSV_TIME_FORMATS = ("unix", "unix_milli", "unix_micro", "unix_nano", "rfc3339", "rfc3339_nano")
def _csv_field(text: str) -> str:
    """A field quoted as Go's encoding/csv quotes it."""
    if text == "":
        return text
    if text == "\\." or any(c in text for c in ',"\r\n') or text[0].isspace():
        return '"' + text.replace('"', '""') + '"'
    return text


def _go_fixed(x: float) -> str:
    """Go's ``%f``."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return f"{x:f}"


class CsvOutput(_PeriodicOutput):
    """``--out csv[=ARG]``: ARG is a file name, or ``fileName=...,timeFormat=...,saveInterval=...``."""

    name = "csv"
    _WRITE_FAILED = "CSV: Error writing to file"

    def __init__(self, arg: str = "", *, env: dict[str, str] | None = None, stdout: TextIO | None = None):
        env = env if env is not None else {}
        config = {"fileName": "file.csv", "timeFormat": "unix", "saveInterval": "1s"}
        for key, var in (("fileName", "K6_CSV_FILENAME"), ("timeFormat", "K6_CSV_TIME_FORMAT"),
                         ("saveInterval", "K6_CSV_SAVE_INTERVAL")):
            if var in env:
                config[key] = env[var]
        try:
            if arg:
                config.update(self._parse_arg(arg))
            if config["timeFormat"] not in CSV_TIME_FORMATS:
                raise ValueError(f"{config['timeFormat']} does not belong to TimeFormat values")
            period = parse_seconds(config["saveInterval"])
            path = config["fileName"]
            if path in ("", "-"):
                sink = _Sink(None, stdout if stdout is not None else sys.stdout)
            else:
                try:
                    sink = _Sink(_open_file(path), None)
                except OSError as exc:
                    raise ValueError(f"open {path}: {_reason(exc)}") from None
        except ValueError as exc:
            raise OutputError(f"could not create the 'csv' output: {exc}") from None
        self.path = path
        self.description = "csv (stdout)" if path in ("", "-") else f"csv ({path})"
        self.time_format = config["timeFormat"]
        sink.write(",".join(CSV_HEADER) + "\n")
        super().__init__(sink, period if period > 0 else 1.0)

    @staticmethod
    def _parse_arg(arg: str) -> dict[str, str]:
        if "=" not in arg:
            return {"fileName": arg}
        config = {}
        for pair in arg.split(","):
            key, _, value = pair.partition("=")
            if value == "":
                raise ValueError(f'couldn\'t parse "{arg}" as argument for csv output')
            if key not in ("fileName", "timeFormat", "saveInterval"):
                raise ValueError(f'unknown key "{key}" as argument for csv output')
            config[key] = value
        return config

    def _timestamp(self, t: float) -> str:
        if self.time_format == "rfc3339":
            return rfc3339(t, nano=False)
        if self.time_format == "rfc3339_nano":
            return rfc3339(t)
        seconds, nanos = _split_time(t)
        total = seconds * 1_000_000_000 + nanos
        divisor = {"unix": 10**9, "unix_milli": 10**6, "unix_micro": 10**3, "unix_nano": 1}[self.time_format]
        return str(total // divisor)

    def _format(self, batch: list[tuple[Sample, Metric]]) -> str:
        rows = []
        for sample, metric in batch:
            tags = sample.tags
            extra = "&".join(f"{k}={tags[k]}" for k in sorted(tags) if k not in CSV_TAG_COLUMNS)
            fields = [metric.name, self._timestamp(sample.time), _go_fixed(sample.value),
                      *(str(tags.get(column, "")) for column in CSV_TAG_COLUMNS), extra, ""]
            rows.append(",".join(_csv_field(f) for f in fields) + "\n")
        return "".join(rows)
