"""The end-of-test summary: handleSummary's data, k6's text summary, routing handleSummary's result.

The first part builds metrics and groups by hand and checks exact values and
text. The oracle part runs the real k6 1.1.0 on scripts that use only k6
built-ins and compares: k6's own ``data`` rendered by our code must give k6's
stdout byte for byte, and our ``data`` for the same samples must have k6's shape.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from k6host.run.groups import GroupTree
from k6host.run.metrics import Metrics
from k6host.report.summary import (
    UNDEFINED,
    SummaryError,
    SummaryOutput,
    humanize_value,
    js_json,
    js_number,
    legacy_export,
    render_summary,
    route_handle_summary,
    summary_data,
    summary_report,
    summary_result,
)


def _find_k6() -> str | None:
    beside = Path(sys.executable).parent / "k6"
    return shutil.which("k6") or (str(beside) if beside.is_file() else None)


K6 = _find_k6()
needs_k6 = pytest.mark.skipif(K6 is None, reason="oracle test: no k6 binary on PATH or next to the Python executable")
STATS = ["avg", "min", "med", "max", "p(90)", "p(95)"]


@dataclass
class T:
    """A threshold as the thresholds module describes one."""

    metric_key: str
    source: str
    ok: bool


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def make_data(metrics: Metrics, thresholds=(), groups: GroupTree | None = None, **kw):
    args = {"options": {}, "duration_s": 2.0, "trend_stats": STATS, "is_stdout_tty": False, "is_stderr_tty": False}
    args.update(kw)
    return summary_data(metrics, thresholds, groups or GroupTree(), **args)


# -- groups -----------------------------------------------------------------------


def test_group_tree_matches_k6_root_group_shape_and_ids():
    tree = GroupTree()
    tree.check("", "a", True)
    tree.group("::outer::inner")
    tree.check("::outer", "b", True)
    tree.check("::outer", "b", False)
    tree.check("::outer::inner", "a", False)
    data = tree.to_data()
    assert data == {
        "name": "", "path": "", "id": "d41d8cd98f00b204e9800998ecf8427e",
        "groups": [{
            "name": "outer", "path": "::outer", "id": md5("::outer"),
            "groups": [{
                "name": "inner", "path": "::outer::inner", "id": md5("::outer::inner"), "groups": [],
                "checks": [{"name": "a", "path": "::outer::inner::a", "id": md5("::outer::inner::a"),
                            "passes": 0, "fails": 1}],
            }],
            "checks": [{"name": "b", "path": "::outer::b", "id": md5("::outer::b"), "passes": 1, "fails": 1}],
        }],
        "checks": [{"name": "a", "path": "::a", "id": md5("::a"), "passes": 1, "fails": 0}],
    }
    # k6's own id for the check ::outer::in outer, read from a k6 1.1.0 run.
    assert md5("::outer::in outer") == "01c725549aa6f4035dcd021b5aec069d"
    assert tree.checks_by_name() == [{"name": "a", "passes": 1, "fails": 1}, {"name": "b", "passes": 1, "fails": 1}]


def test_group_tree_keeps_first_entered_order_and_refuses_bad_paths():
    tree = GroupTree()
    for path in ("::b", "::a", "::b::x", "::a"):
        tree.group(path)
    assert [g["name"] for g in tree.to_data()["groups"]] == ["b", "a"]
    with pytest.raises(ValueError, match="must be empty or start with"):
        tree.group("outer")


# -- handleSummary's data ---------------------------------------------------------


def sample_metrics() -> tuple[Metrics, GroupTree, list[T]]:
    m = Metrics()
    tree = GroupTree()
    m.define("my_counter", "counter")
    m.define("my_gauge", "gauge")
    m.define("my_rate", "rate")
    m.define("my_trend", "trend", "time")
    m.define("never_used", "counter")  # declared, never sampled, no thresholds: not shown
    m.define("quiet_trend", "trend")  # no samples, but thresholds make it observed
    thresholds = [T("my_counter", "count>1", True), T("my_counter", "count<2", False),
                  T("my_counter{kind:a}", "count>0", True), T("quiet_trend{x:y}", "p(99)<5", True)]
    for t in thresholds:
        m.submetric(t.metric_key)
    for value, kind in ((3, "a"), (1, "b")):
        m.add("my_counter", value, {"kind": kind})
    for value in (5, 3, 7):
        m.add("my_gauge", value, {})
    for value in (1, 0, 0, 1):
        m.add("my_rate", value, {})
    for value in (10, 20, 30, 40):
        m.add("my_trend", value, {})
    for name, ok in (("ok", True), ("bad", False), ("ok", True)):
        m.add("checks", 1 if ok else 0, {"check": name, "group": ""})
        tree.check("", name, ok)
    return m, tree, thresholds


def test_summary_data_has_k6s_shape_and_values():
    m, tree, thresholds = sample_metrics()
    data = make_data(m, thresholds, tree, options={"summaryTimeUnit": "ms", "noColor": True})
    assert set(data) == {"root_group", "options", "state", "metrics"}
    assert data["options"] == {"summaryTrendStats": STATS, "summaryTimeUnit": "ms", "noColor": True}
    assert data["state"] == {"isStdOutTTY": False, "isStdErrTTY": False, "testRunDurationMs": 2000.0}
    metrics = data["metrics"]
    assert set(metrics) == {"my_counter", "my_counter{kind:a}", "my_gauge", "my_rate", "my_trend", "checks",
                            "quiet_trend", "quiet_trend{x:y}"}
    assert metrics["my_counter"] == {
        "type": "counter", "contains": "default", "values": {"count": 4, "rate": 2.0},
        "thresholds": {"count>1": {"ok": True}, "count<2": {"ok": False}}}
    assert metrics["my_counter{kind:a}"]["values"] == {"count": 3, "rate": 1.5}
    assert metrics["my_gauge"]["values"] == {"value": 7, "min": 3, "max": 7}
    assert metrics["my_rate"]["values"] == {"rate": 0.5, "passes": 2, "fails": 2}
    assert metrics["my_trend"] == {"type": "trend", "contains": "time", "values": {
        "avg": 25, "min": 10, "med": 25, "max": 40, "p(90)": 37, "p(95)": 38.5}}
    assert metrics["checks"]["values"] == {"rate": 2 / 3, "passes": 2, "fails": 1}
    assert metrics["quiet_trend"]["values"] == dict.fromkeys(STATS, 0.0)
    assert "thresholds" not in metrics["quiet_trend"]
    assert metrics["quiet_trend{x:y}"]["thresholds"] == {"p(99)<5": {"ok": True}}


def test_setup_data_only_when_setup_returned_something():
    m = Metrics()
    assert "setup_data" not in make_data(m)
    assert "setup_data" not in make_data(m, setup_data=UNDEFINED)
    assert make_data(m, setup_data=None)["setup_data"] is None
    assert make_data(m, setup_data={"a": [1]})["setup_data"] == {"a": [1]}


def test_legacy_export_is_k6s_older_format():
    m, tree, thresholds = sample_metrics()
    data = make_data(m, thresholds, tree, setup_data="hi")
    exported = legacy_export(data)
    assert set(exported) == {"root_group", "metrics", "setup_data"}
    assert exported["metrics"]["my_counter"] == {"count": 4, "rate": 2.0, "thresholds": {"count>1": False,
                                                                                         "count<2": True}}
    assert exported["metrics"]["my_rate"] == {"passes": 2, "fails": 2, "value": 0.5}
    assert exported["root_group"]["checks"]["ok"]["passes"] == 2
    assert exported["root_group"]["groups"] == {}
    text = js_json(exported, indent=4)
    assert '\n    "metrics": {\n' in text and '"count": 4,' in text and "4.0" not in text


# -- formatting -------------------------------------------------------------------


@pytest.mark.parametrize("value, text", [
    (24.0, "24"), (0.1, "0.1"), (1e21, "1e+21"), (1e-7, "1e-7"), (0.000001, "0.000001"), (123456789012345680000.0,
     "123456789012345680000"), (-2.5, "-2.5"), (float("nan"), "NaN"), (1e16, "10000000000000000"),
])
def test_js_number(value, text):
    assert js_number(value) == text


TIME, DATA, PLAIN, RATE = ({"type": "trend", "contains": "time"}, {"type": "counter", "contains": "data"},
                           {"type": "counter", "contains": "default"}, {"type": "rate", "contains": "default"})


@pytest.mark.parametrize("value, metric, unit, text", [
    (0, TIME, "", "0s"), (0.0004, TIME, "", "400ns"), (0.0015, TIME, "", "1.5µs"), (0.1789, TIME, "", "178.9µs"),
    (12.3456, TIME, "", "12.34ms"), (1234.5, TIME, "", "1.23s"), (123000, TIME, "", "2m3s"),
    (3723000, TIME, "", "1h2m3s"), (1.5, TIME, "ms", "1.50ms"), (1500, TIME, "s", "1.50s"), (0.25, TIME, "us", "250.00µs"),
    (0, DATA, "", "0 B"), (9, DATA, "", "9 B"), (123, DATA, "", "123 B"), (1234, DATA, "", "1.2 kB"),
    (12345, DATA, "", "12 kB"), (1e6, DATA, "", "1.0 MB"), (2.6e9, DATA, "", "2.6 GB"),
    (14 / 30, RATE, "", "46.66%"), (1, RATE, "", "100.00%"), (0, RATE, "", "0.00%"),
    (31456.5977591, PLAIN, "", "31456.597759"), (0.0078125, PLAIN, "", "0.007813"), (5, PLAIN, "", "5"),
])
def test_humanize_value_follows_k6(value, metric, unit, text):
    assert humanize_value(value, metric, unit) == text


# -- the text summary -------------------------------------------------------------


def test_compact_summary_text_exactly():
    m, tree, thresholds = sample_metrics()
    m.add("iterations", 1, {})
    m.add("iteration_duration", 1.5, {})
    m.add("data_sent", 2048, {})
    m.add("data_received", 0, {})
    m.add("group_duration", 1, {"group": "::g"})  # never shown in the compact summary
    m.add("tcp_reads", 6, {})  # an extension's metric: CUSTOM, as k6 places unknown metrics
    data = make_data(m, thresholds, tree)
    text = render_summary(data, color=False, report=summary_report(data, metrics=m, thresholds=thresholds,
                                                                   groups=tree))
    assert text.split("\n") == [
        "",
        "",
        "  █ THRESHOLDS ",
        "",
        "    my_counter",
        "    ✓ 'count>1' count=4",
        "    ✗ 'count<2' count=4",
        "",
        "      {kind:a}",
        "      ✓ 'count>0' count=3",
        "",
        "    quiet_trend{x:y}",
        "    ✓ 'p(99)<5' p(99)=0",
        "",
        "",
        "  █ TOTAL RESULTS ",
        "",
        "    checks_total.......................: 3      1.5/s",
        "    checks_succeeded...................: 66.66% 2 out of 3",
        "    checks_failed......................: 33.33% 1 out of 3",
        "",
        "    ✓ ok",
        "    ✗ bad",
        "      ↳  0% — ✓ 0 / ✗ 1",
        "",
        "    CUSTOM",
        "    my_counter.............................: 4      2/s",
        "      { kind:a }...........................: 3      1.5/s",
        "    my_gauge...............................: 7      min=3      max=7",
        "    my_rate................................: 50.00% 2 out of 4",
        "    my_trend...............................: avg=25ms  min=10ms  med=25ms  max=40ms  p(90)=37ms  p(95)=38.5ms",
        "    quiet_trend............................: avg=0     min=0     med=0     max=0     p(90)=0     p(95)=0     ",
        "      { x:y }..............................: avg=0     min=0     med=0     max=0     p(90)=0     p(95)=0     ",
        "    tcp_reads..............................: 6      3/s",
        "",
        "    EXECUTION",
        "    iteration_duration.....................: avg=1.5ms min=1.5ms med=1.5ms max=1.5ms p(90)=1.5ms p(95)=1.5ms ",
        "    iterations.............................: 1      0.5/s",
        "",
        "    NETWORK",
        "    data_received..........................: 0 B    0 B/s",
        "    data_sent..............................: 2.0 kB 1.0 kB/s",
        "",
        "",
        "",
        "",
    ]


def test_colors_only_when_asked():
    m, tree, thresholds = sample_metrics()
    data = make_data(m, thresholds[:3], tree)
    plain = render_summary(data, color=False)
    colored = render_summary(data, color=True)
    assert "\x1b[" not in plain
    assert "  █ \x1b[1mTOTAL RESULTS\x1b[0m \n" in colored
    assert "\x1b[32m✓ ok\x1b[0m" in colored and "\x1b[31m✗ bad\x1b[0m" in colored
    assert "my_rate\x1b[2;37m" in colored and "\x1b[36m50.00%\x1b[0m" in colored
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored) == plain


def test_threshold_percentile_outside_trend_stats_comes_from_the_sink():
    m = Metrics()
    m.define("lat", "trend", "time")
    for v in range(1, 101):
        m.add("lat", float(v), {})
    thresholds = [T("lat", "p(99) < 1000", True), T("lat", "med>0", True)]
    data = make_data(m, thresholds, trend_stats=["avg"])
    assert "p(99)" not in data["metrics"]["lat"]["values"]  # handleSummary never sees it
    with_sinks = render_summary(data, color=False, report=summary_report(data, metrics=m, thresholds=thresholds))
    assert "✓ 'p(99) < 1000' p(99)=99.01ms\n" in with_sinks
    # k6 1.1.0 shows nothing for an aggregation that is neither a trend stat nor a percentile.
    assert "✓ 'med>0' med=\n" in with_sinks
    assert "✓ 'p(99) < 1000' p(99)=\n" in render_summary(data, color=False)
    assert "\x1b[37mmed\x1b[0m=\x1b[36mundefined\x1b[0m" in render_summary(data, color=True)


def test_full_mode_draws_groups_and_scenarios_from_their_own_samples():
    m = Metrics()
    tree = GroupTree()
    collector = SummaryOutput()
    m.outputs.append(collector)
    m.define("work", "counter")
    for scenario in ("default", "beta"):
        for group, ok in (("::g", True), ("::g::h", False)):
            tags = {"scenario": scenario, "group": group}
            m.add("checks", 1 if ok else 0, {**tags, "check": "c"})
            tree.check(group, "c", ok)
            m.add("work", 2, tags)
            m.add("group_duration", 1, tags)
    data = make_data(m, groups=tree)
    text = render_summary(data, color=False, summary_mode="full",
                          report=summary_report(data, summary_mode="full", groups=tree, collector=collector))
    titles = [line.strip() for line in text.splitlines() if "GROUP" in line or "█" in line]
    assert titles == ["█ TOTAL RESULTS", "█ GROUP: g", "↳ GROUP: h", "█ SCENARIO: beta", "↳ GROUP: g", "↳ GROUP: h"]
    group_part = text[text.index("█ GROUP: g"):text.index("█ SCENARIO")]
    assert "    checks_total.......................: 1       0.5/s\n    checks_succeeded" in group_part
    assert "\n    ✓ c\n" in group_part  # g's own check; h's failing one is nested deeper
    assert "\n      ✗ c\n          ↳  0% — ✓ 0 / ✗ 1\n" in group_part
    assert "\n      CUSTOM\n      work.......: 2 1/s\n" in group_part  # h's own samples
    # Without the collector (compact mode, or no per-group data) there are no group sections.
    assert "GROUP" not in render_summary(data, color=False, summary_mode="full")


def test_legacy_mode_lists_checks_by_group_and_marks_thresholds():
    m, tree, thresholds = sample_metrics()
    tree.check("::g", "inside", True)
    data = make_data(m, thresholds, tree)
    text = render_summary(data, color=False, summary_mode="legacy")
    lines = text.split("\n")
    assert lines[:6] == ["", "     ✓ ok", "     ✗ bad", "      ↳  0% — ✓ 0 / ✗ 1", "", "     █ g"]
    assert "       ✓ inside" in lines
    assert "   ✗ my_counter.....: 4      2/s" in lines
    assert "     ✓ { kind:a }...: 3      1.5/s" in lines
    assert "     checks.........: 66.66% 2 out of 3" in lines
    with pytest.raises(ValueError, match="invalid summary mode"):
        render_summary(data, color=False, summary_mode="short")


def test_no_checks_no_check_lines():
    m = Metrics()
    m.add("iterations", 1, {})
    text = render_summary(make_data(m), color=False)
    assert "checks_total" not in text and "THRESHOLDS" not in text
    assert text.startswith("\n\n  █ TOTAL RESULTS \n\n    EXECUTION\n    iterations")


def test_sort_order_is_k6s_locale_compare():
    m = Metrics()
    for name in ("apple2", "apple_", "Apple", "zz", "lat2", "lat_2"):
        m.define(name, "counter")
        m.add(name, 1, {})
    text = render_summary(make_data(m), color=False)
    names = [line.split(".")[0].strip() for line in text.splitlines() if "....:" in line]
    # Measured with k6 1.1.0's localeCompare: "_" before digits, case only breaks ties.
    assert names == ["Apple", "apple_", "apple2", "lat_2", "lat2", "zz"]


# -- handleSummary's result -------------------------------------------------------


def test_summary_result_defaults_and_summary_export():
    data = make_data(Metrics())
    for falsy in (None, UNDEFINED, "", 0, False, float("nan")):
        assert summary_result(falsy, data, default_text=lambda: "TEXT") == {"stdout": "TEXT"}
    assert summary_result({}, data, default_text=lambda: "TEXT") == {}
    result = summary_result({"a.txt": "x"}, data, default_text=lambda: "TEXT", summary_export="exp.json")
    assert set(result) == {"a.txt", "exp.json"} and json.loads(result["exp.json"])["root_group"]["id"]
    assert summary_result("str", data, default_text=lambda: "TEXT", summary_export="exp.json") == "str"


def test_route_writes_streams_and_files_relative_to_base_dir(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    route_handle_summary({"stdout": "O\n", "stderr": "E\n", "sub.txt": "é", "bin.dat": b"\x00\xff"},
                         stdout=out, stderr=err, base_dir=str(tmp_path))
    assert (out.getvalue(), err.getvalue()) == ("O\n", "E\n")
    assert (tmp_path / "sub.txt").read_bytes() == "é".encode()
    assert (tmp_path / "bin.dat").read_bytes() == b"\x00\xff"


@pytest.mark.parametrize("value, go_type", [(5, "int64"), (5.5, "float64"), (None, "<nil>"), (True, "bool"),
                                            ({"a": 1}, "map[string]interface {}"), ([1], "[]interface {}")])
def test_route_refuses_bad_values_before_writing_anything(tmp_path, value, go_type):
    out = io.StringIO()
    with pytest.raises(SummaryError) as info:
        route_handle_summary({"stdout": "A", "x.txt": "hi", "num.txt": value}, stdout=out, stderr=io.StringIO(),
                             base_dir=str(tmp_path))
    assert str(info.value) == (f"error handling summary object num.txt: invalid type {go_type}, "
                               "it needs to be a string or ArrayBuffer")
    assert out.getvalue() == "" and not (tmp_path / "x.txt").exists()


def test_route_reports_unwritable_files_and_writes_the_rest(tmp_path):
    out = io.StringIO()
    with pytest.raises(SummaryError) as info:
        route_handle_summary({"nodir/x.txt": "a", "stdout": "still"}, stdout=out, stderr=io.StringIO(),
                             base_dir=str(tmp_path))
    assert str(info.value) == ("Could not save some summary information:\n"
                               "\t- could not open 'nodir/x.txt': open nodir/x.txt: no such file or directory")
    assert out.getvalue() == "still"
    with pytest.raises(SummaryError, match=r"^handleSummary\(\) should return a map with string keys$"):
        route_handle_summary(["x"], stdout=out, stderr=out, base_dir=str(tmp_path))


# -- oracle: the real k6 ----------------------------------------------------------

BUILTINS_SCRIPT = """
import { check, group } from 'k6';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
const c = new Counter('my_counter');
const g = new Gauge('my_gauge');
const r = new Rate('my_rate');
const t = new Trend('my_trend', true);
const unused = new Counter('never_used');
const quiet = new Trend('quiet_trend');
export const options = {
  vus: 1, iterations: 3,
  thresholds: {
    my_counter: ['count>1', 'count<2'],
    'my_counter{kind:a}': ['count>0'],
    my_trend: ['p(95)<1000', 'avg<0'],
    checks: ['rate>0.1'],
    'quiet_trend{x:y}': ['avg<5'],
  },
};
export default function () {
  c.add(3, { kind: 'a' }); c.add(1, { kind: 'b' });
  g.add(__ITER * 10); r.add(__ITER % 2); t.add(__ITER * 10 + 1);
  check(1, { 'always ok': () => true, 'never ok': () => false, 'half': () => __ITER % 2 === 0 });
  group('outer', () => {
    check(1, { 'in outer': () => true });
    group('inner', () => { check(1, { 'deep': () => false }); });
  });
}
export function handleSummary(data) { console.log(JSON.stringify(data)); return null; }
"""

TIME_UNITS_SCRIPT = """
import { Counter, Trend } from 'k6/metrics';
import { check } from 'k6';
const lat = new Trend('lat', true);
const moved = new Counter('moved', true);
const bytes = new Counter('bytes_in', false);
export const options = {
  iterations: 2, summaryTimeUnit: 'ms', summaryTrendStats: ['avg', 'p(99.9)', 'count', 'min'],
  thresholds: { lat: ['avg<1', 'min>0'] },
};
export function setup() { return { hello: [1, 2] }; }
export default function () {
  lat.add(1.5); lat.add(0.0004); moved.add(123456); bytes.add(7);
  check(null, { 'x': () => true }, { mine: 'yes' });
}
export function handleSummary(data) { console.log(JSON.stringify(data)); return null; }
"""


def run_k6(tmp_path: Path, script: str, *flags: str, tty: bool = False) -> tuple[dict, str, int]:
    """Run k6 on ``script``; returns (the data handleSummary logged, stdout, exit code)."""
    path = tmp_path / "script.js"
    path.write_text(script)
    log = tmp_path / "k6.log"
    log.unlink(missing_ok=True)
    args = [K6, "run", "-q", f"--log-output=file={log}", "--log-format=raw", *flags, str(path)]
    if tty:
        stdout, code = run_in_pty(args, tmp_path)
        stdout = stdout.replace("\x1b[0K\r\n", "\n")
    else:
        proc = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=120)
        stdout, code = proc.stdout, proc.returncode
    line = next(line for line in log.read_text().splitlines() if line.startswith("{"))
    return json.loads(line), stdout, code


def run_in_pty(args: list[str], cwd: Path) -> tuple[str, int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(args, stdout=slave, stderr=subprocess.DEVNULL, cwd=cwd)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if not select.select([master], [], [], 1.0)[0]:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the other end is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
        if proc.poll() is None and time.monotonic() >= deadline:
            proc.kill()
    return b"".join(chunks).decode(), proc.wait(timeout=120)


# The scripts' thresholds per metric, in the order they are defined.
THRESHOLD_ORDER = {"my_counter": ["count>1", "count<2"], "my_trend": ["p(95)<1000", "avg<0"], "lat": ["avg<1", "min>0"]}


def in_definition_order(data: dict, mode: str) -> dict:
    """k6's data lists a metric's thresholds in Go map order, its text summary in the script's order."""
    report = summary_report(data, summary_mode=mode)
    for name, entry in report["thresholds"].items():
        if name in THRESHOLD_ORDER:
            entry["thresholds"].sort(key=lambda t: THRESHOLD_ORDER[name].index(t["source"]))
    return report


@needs_k6
@pytest.mark.parametrize("script", [BUILTINS_SCRIPT, TIME_UNITS_SCRIPT], ids=["builtins", "time-units"])
@pytest.mark.parametrize("mode", ["compact", "full", "legacy"])
def test_oracle_k6_data_renders_to_k6_stdout_byte_for_byte(tmp_path, script, mode):
    if mode == "full" and "group(" in script:
        pytest.skip("per-group sections need the samples, which k6's data does not carry")
    data, stdout, _ = run_k6(tmp_path, script, f"--summary-mode={mode}", "--no-color")
    assert render_summary(data, color=False, summary_mode=mode, report=in_definition_order(data, mode)) == stdout


@needs_k6
@pytest.mark.parametrize("mode", ["compact", "legacy"])
def test_oracle_colored_summary_on_a_terminal(tmp_path, mode):
    data, stdout, _ = run_k6(tmp_path, BUILTINS_SCRIPT, f"--summary-mode={mode}", tty=True)
    assert render_summary(data, color=True, summary_mode=mode, report=in_definition_order(data, mode)) == stdout


def replay_builtins_script(collector: SummaryOutput | None = None) -> tuple[Metrics, GroupTree, list[T]]:
    """The samples BUILTINS_SCRIPT makes, recorded the way the runner records them."""
    m = Metrics()
    if collector is not None:
        m.outputs.append(collector)
    tree = GroupTree()
    m.define("my_counter", "counter")
    m.define("my_gauge", "gauge")
    m.define("my_rate", "rate")
    m.define("my_trend", "trend", "time")
    m.define("never_used", "counter")
    m.define("quiet_trend", "trend")
    # ok as k6 evaluated them (the thresholds module's job, not this one's).
    thresholds = [T("my_counter", "count>1", True), T("my_counter", "count<2", False),
                  T("my_counter{kind:a}", "count>0", True), T("my_trend", "p(95)<1000", True),
                  T("my_trend", "avg<0", False), T("checks", "rate>0.1", True), T("quiet_trend{x:y}", "avg<5", True)]
    for t in thresholds:
        m.submetric(t.metric_key)

    def check(group: str, name: str, ok: bool) -> None:
        m.add("checks", 1 if ok else 0, {"check": name, "group": group, "scenario": "default"})
        tree.check(group, name, ok)

    for it in range(3):
        base = {"group": "", "scenario": "default"}
        m.add("my_counter", 3, {**base, "kind": "a"})
        m.add("my_counter", 1, {**base, "kind": "b"})
        m.add("my_gauge", it * 10, base)
        m.add("my_rate", it % 2, base)
        m.add("my_trend", it * 10 + 1, base)
        for name, ok in (("always ok", True), ("never ok", False), ("half", it % 2 == 0)):
            check("", name, ok)
        tree.group("::outer")
        check("::outer", "in outer", True)
        tree.group("::outer::inner")
        check("::outer::inner", "deep", False)
        m.add("group_duration", 0.01, {"group": "::outer::inner", "scenario": "default"})
        m.add("group_duration", 0.02, {"group": "::outer", "scenario": "default"})
        for name, value in (("data_sent", 0), ("data_received", 0), ("iteration_duration", 0.1), ("iterations", 1)):
            m.add(name, value, base)
    return m, tree, thresholds


@needs_k6
def test_oracle_our_data_has_k6s_shape(tmp_path):
    k6_data, _, code = run_k6(tmp_path, BUILTINS_SCRIPT)
    assert code == 99  # thresholds crossed, as the replay's ok values say
    m, tree, thresholds = replay_builtins_script()
    ours = make_data(m, thresholds, tree, duration_s=k6_data["state"]["testRunDurationMs"] / 1000)
    assert set(ours) == set(k6_data)
    assert ours["root_group"] == k6_data["root_group"]
    assert ours["options"] == k6_data["options"]
    assert set(ours["state"]) == set(k6_data["state"])
    assert set(ours["metrics"]) == set(k6_data["metrics"])
    for name, theirs in k6_data["metrics"].items():
        mine = ours["metrics"][name]
        assert (mine["type"], mine["contains"], set(mine["values"])) == (
            theirs["type"], theirs["contains"], set(theirs["values"])), name
        assert mine.get("thresholds") == theirs.get("thresholds"), name
        if name.startswith(("my_", "checks", "quiet")):  # the values that do not depend on timing
            assert mine["values"] == pytest.approx(theirs["values"]), name


def shape(text: str) -> list[str]:
    """Summary lines with numbers, durations and sizes as N, dot runs and column padding collapsed."""
    text = re.sub(r"\.{2,}:", "..:", text)
    text = re.sub(r"\d+(\.\d+)?(ns|µs|ms|s|m|h|%| B| kB| MB)?", "N", text)
    return [re.sub(r"(N|\w)\s+(?=\w)", r"\1 ", line.rstrip()) for line in text.split("\n")]


@needs_k6
@pytest.mark.parametrize("mode", ["compact", "full"])
def test_oracle_text_structure_of_our_summary_matches_k6(tmp_path, mode):
    """Our data (and, in full mode, our per-group samples) through our renderer against k6's stdout."""
    _, stdout, _ = run_k6(tmp_path, BUILTINS_SCRIPT, f"--summary-mode={mode}")
    collector = SummaryOutput()
    m, tree, thresholds = replay_builtins_script(collector)
    data = make_data(m, thresholds, tree)
    report = summary_report(data, summary_mode=mode, metrics=m, thresholds=thresholds, groups=tree,
                            collector=collector)
    ours = render_summary(data, color=False, summary_mode=mode, report=report)
    assert shape(ours) == shape(stdout)
    assert ("GROUP: outer" in ours) == (mode == "full")


@needs_k6
def test_oracle_summary_export_has_k6s_keys(tmp_path):
    export = tmp_path / "export.json"
    k6_data, _, _ = run_k6(tmp_path, TIME_UNITS_SCRIPT, f"--summary-export={export}")
    theirs = json.loads(export.read_text())
    mine = legacy_export(k6_data)
    assert set(mine) == set(theirs) == {"root_group", "metrics", "setup_data"}
    assert mine["setup_data"] == theirs["setup_data"] == {"hello": [1, 2]}
    assert mine["root_group"] == theirs["root_group"]
    assert set(mine["metrics"]) == set(theirs["metrics"])
    for name, values in theirs["metrics"].items():
        assert set(mine["metrics"][name]) == set(values), name
        assert mine["metrics"][name].get("thresholds") == values.get("thresholds"), name
    assert theirs["metrics"]["checks"]["value"] == mine["metrics"]["checks"]["value"] == 1


@needs_k6
@pytest.mark.parametrize("returned, python, message", [
    ("{ stdout: 'A', 'num.txt': 5 }", {"stdout": "A", "num.txt": 5},
     "error handling summary object num.txt: invalid type int64, it needs to be a string or ArrayBuffer"),
    ("'str'", "str", "handleSummary() should return a map with string keys"),
    ("{ 'nodir/x.txt': 'a' }", {"nodir/x.txt": "a"},
     ("Could not save some summary information:\n"
      "\t- could not open 'nodir/x.txt': open nodir/x.txt: no such file or directory")),
])
def test_oracle_handle_summary_errors_read_as_k6s(tmp_path, returned, python, message):
    (tmp_path / "s.js").write_text("export const options = { iterations: 1 };\nexport default function () {}\n"
                                   f"export function handleSummary(data) {{ return {returned}; }}\n")
    proc = subprocess.run([K6, "run", "-q", "--log-format=json", "s.js"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    logged = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert [e["error"] for e in logged if e.get("msg") == "failed to handle the end-of-test summary"] == [message]
    with pytest.raises(SummaryError) as info:
        route_handle_summary(python, stdout=io.StringIO(), stderr=io.StringIO(), base_dir=str(tmp_path))
    assert str(info.value) == message


def test_gauge_max_starts_at_zero_like_k6():
    m = Metrics()
    m.define("neg", "gauge")
    m.add("neg", -5, {})
    m.add("neg", -7, {})
    assert make_data(m)["metrics"]["neg"]["values"] == {"value": -7, "min": -7, "max": 0}
