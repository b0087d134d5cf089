"""``--out json`` and ``--out csv``: k6's records, k6's error messages; the oracle is the real k6 1.1.0."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from k6host.run.metrics import Metrics
from k6host.report.outputs import CSV_HEADER, CsvOutput, JsonOutput, OutputError, go_float, open_outputs, rfc3339


def _find_k6() -> str | None:
    beside = Path(sys.executable).parent / "k6"
    return shutil.which("k6") or (str(beside) if beside.is_file() else None)


K6 = _find_k6()
needs_k6 = pytest.mark.skipif(K6 is None, reason="oracle test: no k6 binary on PATH or next to the Python executable")
RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?(Z|[+-]\d\d:\d\d)$")
BASE_TAGS = {"group": "", "scenario": "default"}


@dataclass
class T:
    metric_key: str
    source: str
    ok: bool = True


# -- specs and errors -------------------------------------------------------------


@pytest.mark.parametrize("spec, message", [
    ("foo=bar", "invalid output type 'foo', available types are: csv, experimental-prometheus-rw, json, web-dashboard"),
    ("JSON=a.json", "invalid output type 'JSON', available types are: csv, experimental-prometheus-rw, json, web-dashboard"),
    ("influxdb=http://x", "output type 'influxdb' is not supported by k6host; available types are: csv, experimental-prometheus-rw, json, web-dashboard"),
    ("json=/nonexistent/x.json", "open /nonexistent/x.json: no such file or directory"),
    ("csv=/nonexistent/x.csv", "could not create the 'csv' output: open /nonexistent/x.csv: no such file or directory"),
    ("csv=file=z.csv", "could not create the 'csv' output: unknown key \"file\" as argument for csv output"),
    ("csv=fileName=z.csv,timeFormat=bogus", "could not create the 'csv' output: bogus does not belong to TimeFormat values"),
    ("csv=fileName=z.csv,timeFormat=", ("could not create the 'csv' output: couldn't parse "
                                       "\"fileName=z.csv,timeFormat=\" as argument for csv output")),
    ("csv=fileName=z.csv,saveInterval=soon", "could not create the 'csv' output: time: invalid duration \"soon\""),
])
def test_bad_specs_say_what_k6_says(tmp_path, monkeypatch, spec, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputError) as info:
        open_outputs(["json=ok.json", spec])
    assert str(info.value) == message
    assert not (tmp_path / "ok.json").read_text()  # opened first, closed again: nothing written


def test_open_outputs_describes_each(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    outputs = open_outputs(["json=a.json", "csv", "json", "csv=-"], stdout=out)
    try:
        assert [o.description for o in outputs] == ["json (a.json)", "csv (file.csv)", "json(stdout)", "csv (stdout)"]
        assert (tmp_path / "file.csv").read_text() == ",".join(CSV_HEADER) + "\n"  # k6's default name
    finally:
        for o in outputs:
            o.close()
    assert out.getvalue() == ",".join(CSV_HEADER) + "\n"


# -- JSON -------------------------------------------------------------------------


@pytest.mark.parametrize("value, text", [
    (1234567, "1.234567e+06"), (100000, "100000"), (999999, "999999"), (1e-5, "1e-05"), (0.0001, "0.0001"),
    (1e21, "1e+21"), (100, "100"), (-0.5, "-0.5"), (1 / 3, "0.3333333333333333"), (123456789012, "1.23456789012e+11"),
    (2.0, "2"), (float("inf"), "+Inf"), (float("nan"), "NaN"),
])
def test_numbers_as_k6s_json_output_writes_them(value, text):
    assert go_float(value) == text  # each pair read from k6 1.1.0's own output


def test_time_is_rfc3339_with_nanoseconds():
    assert RFC3339_NANO.match(rfc3339(time.time()))
    whole = rfc3339(1700000000.0)
    assert "." not in whole and RFC3339_NANO.match(whole)
    assert rfc3339(1700000000.5).split(".")[1][:1] == "5" and not re.search(r"\.\d*0(Z|[+-])", rfc3339(1700000000.5))


def read_json_lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        return f.read().splitlines()


@pytest.mark.parametrize("name", ["out.json", "out.json.gz"])
def test_json_records(tmp_path, name):
    metrics = Metrics()
    metrics.define("cnt", "counter")
    metrics.submetric("cnt{a:b}")
    path = tmp_path / name
    output = JsonOutput(str(path), thresholds=[T("cnt", "count<5"), T("cnt", "rate>0"), T("cnt{a:b}", "count>=0")])
    metrics.outputs.append(output)
    metrics.add("cnt", 1, {"scenario": "default", "a": "b", "group": "", "t": '<&>é\x01\t\u2028"\\/ '}, when=1.5)
    metrics.add("cnt", 2e6, {})
    metrics.add("iterations", 1, BASE_TAGS)
    output.close()
    lines = read_json_lines(path)
    assert lines[0] == ('{"type":"Metric","data":{"name":"cnt","type":"counter","contains":"default",'
                        '"thresholds":["count<5","rate>0"],"submetrics":[{"name":"cnt{a:b}","suffix":"a:b",'
                        '"tags":{"a":"b"}}]},"metric":"cnt"}')
    time_of = re.compile(r'"time":"([^"]+)"')
    assert time_of.sub('"time":"T"', lines[1]) == (
        '{"metric":"cnt","type":"Point","data":{"time":"T","value":1,"tags":{"a":"b","group":"",'
        '"scenario":"default","t":"\\u003c\\u0026\\u003eé\\u0001\\t\\u2028\\"\\\\/ "}}}')
    assert RFC3339_NANO.match(time_of.search(lines[1]).group(1))
    assert time_of.sub('"time":"T"', lines[2]) == '{"metric":"cnt","type":"Point","data":{"time":"T","value":2e+06,"tags":{}}}'
    assert lines[3] == ('{"type":"Metric","data":{"name":"iterations","type":"counter","contains":"default",'
                        '"thresholds":[],"submetrics":null},"metric":"iterations"}')
    assert len(lines) == 5
    assert all(json.loads(line) for line in lines)


def test_json_to_stdout_and_periodic_flush_before_close():
    out = io.StringIO()
    metrics = Metrics()
    output = JsonOutput("-", stdout=out, period=0.05)
    metrics.outputs.append(output)
    metrics.add("vus", 3, {})
    deadline = time.monotonic() + 5
    while '"metric":"vus","type":"Point"' not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert '"value":3' in out.getvalue()  # written by the flusher, before close()
    output.close()
    output.close()  # twice is harmless
    assert out.getvalue().count("\n") == 2


# -- CSV --------------------------------------------------------------------------


def csv_rows(output: CsvOutput, metrics: Metrics, samples) -> list[str]:
    metrics.outputs.append(output)
    for name, value, tags, when in samples:
        metrics.add(name, value, tags, when=when)
    output.close()
    return Path(output.path).read_text().splitlines()


def test_csv_rows(tmp_path):
    metrics = Metrics()
    metrics.define("my_counter", "counter")
    path = tmp_path / "o.csv"
    rows = csv_rows(CsvOutput(str(path)), metrics, [
        ("my_counter", 2, {"group": "", "kind": "a", "scenario": "default", "we,ird": 'x"y', "testid": "abc"}, 1795820255.6),
        ("checks", 1, {"check": "ok", "group": "::g", "scenario": "default"}, 1795820255.0),
        ("vus", float("inf"), {" lead": "x"}, 1795820256.0),
    ])
    assert rows == [
        ",".join(CSV_HEADER),
        'my_counter,1795820255,2.000000,,,,,,,,,default,,,,,,"kind=a&testid=abc&we,ird=x""y",',
        "checks,1795820255,1.000000,ok,,,,::g,,,,default,,,,,,,",
        'vus,1795820256,+Inf,,,,,,,,,,,,,,," lead=x",',
    ]
    assert CSV_HEADER == ("metric_name", "timestamp", "metric_value", "check", "error", "error_code",
                          "expected_response", "group", "method", "name", "proto", "scenario", "service", "status",
                          "subproto", "tls_version", "url", "extra_tags", "metadata")


@pytest.mark.parametrize("fmt, stamp", [
    ("unix", "1700000000"), ("unix_milli", "1700000000250"), ("unix_micro", "1700000000250000"),
    ("unix_nano", "1700000000250000000"),
])
def test_csv_time_formats(tmp_path, fmt, stamp):
    path = tmp_path / "t.csv"
    rows = csv_rows(CsvOutput(f"fileName={path},timeFormat={fmt}"), Metrics(), [("vus", 1, {}, 1700000000.25)])
    assert rows[1].split(",")[1] == stamp


def test_csv_rfc3339_and_environment_settings(tmp_path):
    path = tmp_path / "env.csv"
    output = CsvOutput("", env={"K6_CSV_FILENAME": str(path), "K6_CSV_TIME_FORMAT": "rfc3339_nano"})
    rows = csv_rows(output, Metrics(), [("vus", 1, {}, 1700000000.25)])
    stamp = rows[1].split(",")[1]
    assert RFC3339_NANO.match(stamp) and ".25" in stamp
    output = CsvOutput(f"fileName={path},timeFormat=rfc3339")
    assert "." not in csv_rows(output, Metrics(), [("vus", 1, {}, 1700000000.25)])[1].split(",")[1]


# -- oracle: the real k6 ----------------------------------------------------------

SCRIPT = """
import { Counter, Gauge } from 'k6/metrics';
const g = new Gauge('vals');
const c = new Counter('cnt');
export const options = { iterations: 1, thresholds: { cnt: ['count<5', 'rate>0'], 'cnt{a:b}': ['count>=0'] } };
export default function () {
  for (const v of [1234567, 0.0001, 1e-5, 1/3]) g.add(v);
  c.add(2, { a: 'b', 'we,ird': 'x"y<&>' });
}
"""


@needs_k6
def test_oracle_json_and_csv_records_match_k6(tmp_path):
    (tmp_path / "s.js").write_text(SCRIPT)
    proc = subprocess.run([K6, "run", "-q", "--no-summary", "--out", "json=k6.json", "--out", "csv=k6.csv", "s.js"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr

    metrics = Metrics()
    metrics.define("vals", "gauge")
    metrics.define("cnt", "counter")
    metrics.submetric("cnt{a:b}")
    outputs = open_outputs([f"json={tmp_path / 'ours.json'}", f"csv={tmp_path / 'ours.csv'}"],
                           thresholds=[T("cnt", "count<5"), T("cnt", "rate>0"), T("cnt{a:b}", "count>=0")])
    metrics.outputs.extend(outputs)
    for v in (1234567, 0.0001, 1e-5, 1 / 3):
        metrics.add("vals", v, BASE_TAGS)
    metrics.add("cnt", 2, {**BASE_TAGS, "a": "b", "we,ird": 'x"y<&>'})
    for o in outputs:
        o.close()

    def custom(lines: list[str]) -> list[str]:
        return [re.sub(r'"time":"[^"]+"', '"time":"T"', line) for line in lines if re.search(r'"(vals|cnt)"', line)]

    theirs_json = read_json_lines(tmp_path / "k6.json")
    ours_json = read_json_lines(tmp_path / "ours.json")
    assert custom(ours_json) == custom(theirs_json)
    for line in theirs_json:
        assert RFC3339_NANO.match(json.loads(line)["data"].get("time", "2000-01-01T00:00:00Z"))

    def rows(path: Path) -> list[list]:
        """Custom metrics' rows, the timestamp masked; k6 joins extra tags in Go's random map order."""
        parsed = csv.reader(io.StringIO(path.read_text()))
        return [[*row[:1], "S", *row[2:-2], sorted(row[-2].split("&")), row[-1]] for row in parsed
                if row[0] in ("vals", "cnt", "metric_name")]

    assert rows(tmp_path / "ours.csv") == rows(tmp_path / "k6.csv")


@needs_k6
@pytest.mark.parametrize("spec", ["foo=bar", "json=/nonexistent/x.json", "csv=/nonexistent/x.csv",
                                  "csv=file=z.csv", "csv=fileName=z2.csv,timeFormat=bogus"])
def test_oracle_error_messages(tmp_path, spec):
    (tmp_path / "s.js").write_text("export default function () {}\n")
    proc = subprocess.run([K6, "run", "-q", "--log-format=json", "--out", spec, "s.js"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    theirs = [json.loads(line)["msg"] for line in proc.stderr.splitlines() if line.startswith("{")][-1]
    with pytest.raises(OutputError) as info:
        open_outputs([spec])
    ours = str(info.value)
    if spec == "foo=bar":  # we list only the types we have
        theirs = theirs.split(", available types are:")[0]
        ours = ours.split(", available types are:")[0]
    assert ours == theirs
    assert proc.returncode == 255
