"""The built-in modules k6 scripts use most: k6, k6/execution, k6/metrics, k6/encoding, k6/data.

Scripts run in-process (``run_js``). Where it is cheap, the same script also
runs under the real k6 and the expected values are checked against what k6
reports, so the literals in these tests are k6's behaviour, not our guess.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import REPORT_HELPER

SCRIPT_EXCEPTION = 107
SCRIPT_ABORTED = 108
MARKED_AS_FAILED = 110


def _find_k6() -> str | None:
    beside = Path(sys.executable).with_name("k6")
    return shutil.which("k6") or (str(beside) if beside.is_file() else None)


K6 = _find_k6()


@dataclass
class K6Run:
    exit_code: int
    reported: list[Any]
    output: str  # stderr: k6's log, one raw message a line
    samples: list[dict[str, Any]]  # --out json points, when asked for


def k6_run(tmp_path: Path, source: str, *flags: str, samples: bool = False) -> K6Run:
    """Run ``source`` (with the same ``report()`` helper run_js gives) under the real k6."""
    assert K6 is not None
    folder = tmp_path / "k6"
    folder.mkdir(exist_ok=True)
    script = folder / "script.js"
    script.write_text(REPORT_HELPER + textwrap.dedent(source))
    out = folder / "samples.json"
    done = subprocess.run(
        [K6, "run", "-q", "--address", "", "--no-color", "--log-format", "raw", *flags,
         *(["--out", f"json={out}"] if samples else []), str(script)],
        check=False, cwd=folder, env={**os.environ, "K6_NO_USAGE_REPORT": "true"},
        capture_output=True, text=True, timeout=60,
    )
    reported = [json.loads(line[len("REPORT "):]) for line in done.stderr.splitlines() if line.startswith("REPORT ")]
    points = []
    if samples and out.exists():
        for line in out.read_text().splitlines():
            entry = json.loads(line)
            if entry["type"] == "Point":
                data = entry["data"]
                points.append({"metric": entry["metric"], "value": data["value"], "tags": data["tags"]})
    return K6Run(done.returncode, reported, done.stderr, points)


def like_k6(
    run_js, tmp_path: Path, source: str, expected: list[Any], exit_code: int = 0,
    normalize: Callable[[list[Any]], Any] = lambda values: values,
):
    """Assert that k6 (when present) and then k6host report ``expected`` and end with ``exit_code``."""
    if K6 is not None:
        k6 = k6_run(tmp_path, source)
        assert (k6.exit_code, normalize(k6.reported)) == (exit_code, normalize(expected)), (
            f"k6 itself disagrees with this test:\n{k6.output}"
        )
    run = run_js(source)
    assert normalize(run.reported()) == normalize(expected), run.output
    assert run.exit_code == exit_code, run.output
    return run


def sample_tags(samples: list[dict[str, Any]], names: set[str]) -> list[str]:
    """The samples of ``names`` as comparable text, in a stable order."""
    return sorted(json.dumps([s["metric"], s["tags"]], sort_keys=True) for s in samples if s["metric"] in names)


def our_samples(run) -> list[dict[str, Any]]:
    return [{"metric": s.metric, "value": s.value, "tags": s.tags} for s in run.metrics.samples]


# A try/catch wrapper the scripts below use: what a call returned, or the error it threw.
TRY = """
function attempt(f) {
  try { return ["ok", f()] } catch (e) { return ["throw", String(e)] }
}
"""


# == k6 ==========================================================================================


def test_check_returns_whether_every_check_passed(run_js, tmp_path):
    like_k6(run_js, tmp_path, """
    import { check } from "k6"
    export const options = { iterations: 1 }
    export default function () {
      report([
        check(1, { a: true }),
        check(1, { a: false, b: true }),
        check(1, {}),
        check(1, { truthy: 1, "by function": (v) => v === 1 }),
        check(5, { receives: (v) => v === 5 }),
      ])
    }
    """, [[True, False, True, True, True]])


CHECK_TAGS_SCRIPT = """
import { check, group } from "k6"
export const options = {
  scenarios: { sc: { executor: "shared-iterations", vus: 1, iterations: 1, tags: { st: "x" } } },
  tags: { gl: "g" },
}
export default function () {
  check(1, { top: () => true }, { extra: "e" })
  group("outer", () => {
    check(1, { "in outer": () => true })
    group("inner", () => { check(1, { deep: () => false }, { extra: "f" }) })
  })
}
"""


def test_check_and_group_samples_carry_k6s_tags(run_js, tmp_path):
    run = run_js(CHECK_TAGS_SCRIPT)
    assert run.exit_code == 0, run.output
    checks = [(s.value, s.tags) for s in run.metrics.of("checks")]
    assert checks == [
        (1.0, {"check": "top", "extra": "e", "gl": "g", "group": "", "scenario": "sc", "st": "x"}),
        (1.0, {"check": "in outer", "gl": "g", "group": "::outer", "scenario": "sc", "st": "x"}),
        (0.0, {"check": "deep", "extra": "f", "gl": "g", "group": "::outer::inner", "scenario": "sc", "st": "x"}),
    ]
    groups = [s.tags for s in run.metrics.of("group_duration")]
    assert groups == [
        {"gl": "g", "group": "::outer::inner", "scenario": "sc", "st": "x"},
        {"gl": "g", "group": "::outer", "scenario": "sc", "st": "x"},
    ]
    assert all(s.value >= 0 for s in run.metrics.of("group_duration"))
    if K6 is not None:
        k6 = k6_run(tmp_path, CHECK_TAGS_SCRIPT, samples=True)
        names = {"checks", "group_duration"}
        assert sample_tags(k6.samples, names) == sample_tags(our_samples(run), names)


def test_group_nests_paths_and_returns_the_callbacks_value(run_js, tmp_path):
    like_k6(run_js, tmp_path, """
    import { group } from "k6"
    import exec from "k6/execution"
    export const options = { iterations: 1 }
    export default function () {
      const got = group("outer", () => [exec.vu.tags.group, group("inner", () => exec.vu.tags.group), { n: 42 }])
      report([got, exec.vu.tags.group, group("empty", () => undefined) === undefined])
    }
    """, [[["::outer", "::outer::inner", {"n": 42}], "", True]])


def test_group_and_check_names_must_not_contain_the_separator(run_js, tmp_path):
    run = like_k6(run_js, tmp_path, TRY + """
    import { check, group } from "k6"
    export const options = { iterations: 1 }
    export default function () {
      report([
        attempt(() => group("a::b", () => 1)),
        attempt(() => check(1, { "a::b": true })),
        attempt(() => group("a:b", () => "single colons are fine")),
      ])
    }
    """, [[
        ["throw", "GoError: group and check names may not contain '::'"],
        ["throw", "GoError: group and check names may not contain '::'"],
        ["ok", "single colons are fine"],
    ]])
    assert run.metrics.of("checks") == []


def test_group_refuses_async_callbacks(run_js, tmp_path):
    like_k6(run_js, tmp_path, TRY + """
    import { group } from "k6"
    export const options = { iterations: 1 }
    export default function () {
      report(attempt(() => group("async", async () => 1)))
    }
    """, [["throw", ("GoError: group() does not support async functions as arguments, please see "
                     "https://grafana.com/docs/k6/latest/javascript-api/k6/group/ for more info")]])


def test_group_accepts_an_empty_name(run_js, tmp_path):
    like_k6(run_js, tmp_path, TRY + """
    import { group } from "k6"
    export const options = { iterations: 1 }
    export default function () { report(attempt(() => group("", () => "ran"))) }
    """, [["ok", "ran"]])


SLEEP_SCRIPT = """
import { sleep } from "k6"
import exec from "k6/execution"
export const options = { scenarios: { s: { executor: "per-vu-iterations", vus: 2, iterations: 4 } } }
export default function () {
  const start = Date.now()
  sleep(exec.vu.idInTest === 1 && exec.vu.iterationInScenario === 0 ? 1 : 0.02)
  report([exec.vu.idInTest, exec.vu.iterationInScenario, start, Date.now()])
}
"""


def _assert_sleep_blocks_only_its_vu(reported: list[list[int]]) -> None:
    by_vu = {vu: sorted((i, start, end) for v, i, start, end in reported if v == vu) for vu in (1, 2)}
    assert [i for i, _, _ in by_vu[1]] == [0, 1, 2, 3] and [i for i, _, _ in by_vu[2]] == [0, 1, 2, 3], reported
    _, slow_start, slow_end = by_vu[1][0]
    assert slow_end - slow_start >= 950, reported
    # VU 2 did all its iterations while VU 1 slept.
    assert by_vu[2][-1][2] < slow_end - 500, reported


def test_sleep_blocks_only_the_vu_that_sleeps(run_js, tmp_path):
    if K6 is not None:
        _assert_sleep_blocks_only_its_vu(k6_run(tmp_path, SLEEP_SCRIPT).reported)
    run = run_js(SLEEP_SCRIPT)
    assert run.exit_code == 0, run.output
    _assert_sleep_blocks_only_its_vu(run.reported())


def test_fail_ends_the_iteration_with_an_error(run_js, tmp_path):
    source = TRY + """
    import { fail } from "k6"
    export const options = { iterations: 2 }
    export default function () {
      report(attempt(() => fail("caught")))
      report("before")
      fail("boom")
      report("never")
    }
    """
    run = like_k6(run_js, tmp_path, source, [["throw", "GoError: caught"], "before"] * 2)
    assert run.metrics.total("iterations") == 2
    errors = [line for line in run.output.splitlines() if "level=error" in line]
    assert len(errors) == 2 and all('msg="GoError: boom' in line for line in errors), run.output


RANDOM_SCRIPT = """
import { randomSeed } from "k6"
export const options = { iterations: 1 }
export default function () {
  randomSeed(Number(__ENV.SEED))
  report(Array.from({ length: 5 }, () => Math.random()))
}
"""


def test_random_seed_repeats_the_sequence(run_js):
    first = run_js(RANDOM_SCRIPT, env={"SEED": "42"}).report()
    again = run_js(RANDOM_SCRIPT, env={"SEED": "42"}).report()
    other = run_js(RANDOM_SCRIPT, env={"SEED": "43"}).report()
    assert first == again
    assert first != other
    assert len(set(first)) == 5 and all(0 <= x < 1 for x in first + other)


# == k6/execution ==================================================================================


def test_vu_ids_and_iteration_counters(run_js, tmp_path):
    # Scenario b starts when a has surely ended, so one VU serves both: its
    # instance-wide counters (and __ITER) go on, its scenario counters restart.
    like_k6(run_js, tmp_path, """
    import exec from "k6/execution"
    export const options = { scenarios: {
      a: { executor: "per-vu-iterations", vus: 1, iterations: 2, maxDuration: "1s", gracefulStop: "0s" },
      b: { executor: "per-vu-iterations", vus: 1, iterations: 2, startTime: "1s", exec: "b" },
    } }
    function seen(name) {
      const vu = exec.vu, sc = exec.scenario
      report([name, vu.idInInstance, vu.idInTest, vu.iterationInInstance, vu.iterationInScenario,
              sc.iterationInInstance, sc.iterationInTest, __ITER, __VU])
    }
    export default function () { seen("a") }
    export function b() { seen("b") }
    """, [
        ["a", 1, 1, 0, 0, 0, 0, 0, 1],
        ["a", 1, 1, 1, 1, 1, 1, 1, 1],
        ["b", 1, 1, 2, 0, 0, 0, 2, 1],
        ["b", 1, 1, 3, 1, 1, 1, 3, 1],
    ])


def test_vu_ids_with_several_vus(run_js, tmp_path):
    like_k6(run_js, tmp_path, """
    import exec from "k6/execution"
    export const options = { scenarios: {
      a: { executor: "per-vu-iterations", vus: 3, iterations: 2 },
    } }
    export default function () {
      report([exec.vu.idInInstance, exec.vu.idInTest, exec.vu.iterationInScenario])
    }
    """, [[vu, vu, i] for vu in (1, 2, 3) for i in (0, 1)], normalize=sorted)


VU_TAGS_SCRIPT = """
import { check } from "k6"
import exec from "k6/execution"
import { Counter } from "k6/metrics"
const mine = new Counter("mine")
export const options = {
  scenarios: { sc: { executor: "shared-iterations", vus: 1, iterations: 1 } },
  tags: { gl: "g" },
}
export default function () {
  const before = Object.assign({}, exec.vu.tags)
  exec.vu.tags.mine = "m"
  exec.vu.tags.num = 5
  mine.add(1, { k: "v" })
  check(1, { "after tag": () => true })
  let refused = null
  try { exec.vu.tags.bad = { a: 1 } } catch (e) { refused = e.name }
  exec.vu.tags.scenario = "renamed"
  mine.add(2)
  delete exec.vu.tags.mine
  mine.add(3)
  report([before, Object.assign({}, exec.vu.tags), refused])
}
"""


def test_vu_tags_are_read_and_written_and_reach_samples(run_js, tmp_path):
    run = run_js(VU_TAGS_SCRIPT)
    assert run.exit_code == 0, run.output
    assert run.report() == [
        {"gl": "g", "group": "", "scenario": "sc"},
        {"gl": "g", "group": "", "scenario": "renamed", "num": "5"},
        "TypeError",
    ]
    assert [(s.value, s.tags) for s in run.metrics.of("mine")] == [
        (1, {"gl": "g", "group": "", "scenario": "sc", "mine": "m", "num": "5", "k": "v"}),
        (2, {"gl": "g", "group": "", "scenario": "renamed", "mine": "m", "num": "5"}),
        (3, {"gl": "g", "group": "", "scenario": "renamed", "num": "5"}),
    ]
    assert run.metrics.of("checks")[0].tags == {
        "check": "after tag", "gl": "g", "group": "", "scenario": "sc", "mine": "m", "num": "5",
    }
    if K6 is not None:
        k6 = k6_run(tmp_path, VU_TAGS_SCRIPT, samples=True)
        assert k6.reported == run.reported()
        names = {"mine", "checks"}
        assert sample_tags(k6.samples, names) == sample_tags(our_samples(run), names)


def test_scenario_fields(run_js, tmp_path):
    run = like_k6(run_js, tmp_path, """
    import exec from "k6/execution"
    export const options = { scenarios: {
      first: { executor: "shared-iterations", vus: 1, iterations: 4 },
      second: { executor: "per-vu-iterations", vus: 1, iterations: 1, startTime: "500ms", exec: "second" },
    } }
    function seen() {
      const s = exec.scenario
      report([s.name, s.executor, s.progress, s.iterationInInstance, s.iterationInTest, Number.isInteger(s.startTime)])
      report({ start: s.startTime, now: Date.now() })
    }
    export default seen
    export function second() { seen() }
    """, [
        ["first", "shared-iterations", 0, 0, 0, True],
        ["first", "shared-iterations", 0.25, 1, 1, True],
        ["first", "shared-iterations", 0.5, 2, 2, True],
        ["first", "shared-iterations", 0.75, 3, 3, True],
        ["second", "per-vu-iterations", 0, 0, 0, True],
    ], normalize=lambda values: [v for v in values if isinstance(v, list)])
    times = [v for v in run.reported() if isinstance(v, dict)]
    first, second = times[0]["start"], times[-1]["start"]
    assert {t["start"] for t in times[:4]} == {first}
    assert all(t["start"] <= t["now"] for t in times)
    assert 450 <= second - first <= 700  # startTime: 500ms after the first scenario


INSTANCE_SCRIPT = """
import { sleep } from "k6"
import exec from "k6/execution"
export const options = { scenarios: {
  a: { executor: "constant-vus", vus: 1, duration: "1s", gracefulStop: "0s" },
  b: { executor: "shared-iterations", vus: 1, iterations: 3, startTime: "1100ms", exec: "b" },
} }
export default function () { sleep(3) }
export function b() {
  const i = exec.instance
  report([i.iterationsCompleted, i.iterationsInterrupted, i.vusActive, i.vusInitialized,
          i.currentTestRunDuration > 1050 && i.currentTestRunDuration < 3000])
}
"""


def test_instance_counters(run_js, tmp_path):
    # a's only iteration is cut off by its end (gracefulStop 0s): one interrupted.
    like_k6(run_js, tmp_path, INSTANCE_SCRIPT, [[0, 1, 1, 1, True], [1, 1, 1, 1, True], [2, 1, 1, 1, True]])


def test_vus_initialized_does_not_count_the_vu_that_runs_setup(run_js, tmp_path):
    like_k6(run_js, tmp_path, """
    import exec from "k6/execution"
    export const options = { vus: 2, iterations: 2 }
    export function setup() { report(["setup", exec.instance.vusInitialized]) }
    export default function () { report(["default", exec.instance.vusInitialized]) }
    """, [["setup", 2], ["default", 2], ["default", 2]])


def test_test_options_reflect_the_options(run_js, tmp_path):
    like_k6(run_js, tmp_path, TRY + """
    import exec from "k6/execution"
    export const options = {
      scenarios: { only: { executor: "per-vu-iterations", vus: 1, iterations: 1, tags: { st: "x" } } },
      tags: { gl: "g" },
      thresholds: { checks: ["rate>0.5"] },
      setupTimeout: "7s",
    }
    export default function () {
      const o = exec.test.options
      report([o.scenarios.only.executor, o.scenarios.only.iterations, o.scenarios.only.tags, o.tags,
              o.thresholds, o.setupTimeout, o.summaryTrendStats, Object.isFrozen(o)])
      report(attempt(() => { o.extra = 1; return o.extra })[0])
    }
    """, [
        ["per-vu-iterations", 1, {"st": "x"}, {"gl": "g"}, {"checks": ["rate>0.5"]}, "7s",
         ["avg", "min", "med", "max", "p(90)", "p(95)"], True],
        "throw",
    ])


def test_lifecycle_functions_know_no_scenario(run_js, tmp_path):
    like_k6(run_js, tmp_path, TRY + """
    import exec from "k6/execution"
    export const options = { iterations: 1 }
    export function setup() {
      report([exec.vu.idInInstance, exec.vu.idInTest, Object.assign({}, exec.vu.tags),
              attempt(() => exec.scenario.name)])
    }
    export default function () {}
    """, [[0, 0, {"group": "::setup"},
           ["throw", "GoError: getting scenario information outside of the VU context is not supported"]]])


def test_execution_info_is_refused_in_the_init_context(run_js, tmp_path):
    like_k6(run_js, tmp_path, TRY + """
    import exec from "k6/execution"
    const seen = [attempt(() => exec.vu.idInTest), attempt(() => exec.scenario.name),
                  attempt(() => exec.instance.iterationsCompleted), attempt(() => exec.test.options)]
    export const options = { iterations: 1 }
    export default function () { report(seen) }
    """, [[
        ["throw", "GoError: getting VU information in the init context is not supported"],
        ["throw", "GoError: getting scenario information outside of the VU context is not supported"],
        ["throw", "GoError: getting instance information in the init context is not supported"],
        ["throw", "GoError: getting test options in the init context is not supported"],
    ]])


ABORT_SCRIPT = """
import exec from "k6/execution"
export const options = { scenarios: { s: { executor: "shared-iterations", vus: 1, iterations: 5 } } }
export function setup() {
  if (__ENV.WHERE === "setup") exec.test.abort("from setup")
  return { from: "setup" }
}
export default function () {
  report(["iteration", exec.scenario.iterationInTest])
  if (__ENV.WHERE === "default" && exec.scenario.iterationInTest === 1) {
    exec.test.abort("from default")
    report("after abort")
  }
}
export function teardown(data) {
  report(["teardown", data])
  if (__ENV.WHERE === "teardown") exec.test.abort("from teardown")
}
export function handleSummary() { report("summary"); return {} }
"""

ABORTS = {
    "default": [["iteration", 0], ["iteration", 1], ["teardown", {"from": "setup"}], "summary"],
    "setup": ["summary"],
    "teardown": [["iteration", i] for i in range(5)] + [["teardown", {"from": "setup"}], "summary"],
}


@pytest.mark.parametrize("where", list(ABORTS))
def test_abort_ends_the_test_with_108(run_js, tmp_path, where):
    expected = ABORTS[where]
    if K6 is not None:
        k6 = k6_run(tmp_path, ABORT_SCRIPT, "-e", f"WHERE={where}")
        assert (k6.exit_code, k6.reported) == (SCRIPT_ABORTED, expected), k6.output
        assert f"test aborted: from {where}" in k6.output
    run = run_js(ABORT_SCRIPT, env={"WHERE": where})
    assert run.reported() == expected, run.output
    assert run.exit_code == SCRIPT_ABORTED, run.output
    assert f'level=error msg="test aborted: from {where}' in run.output


def test_fail_marks_the_run_failed_and_lets_it_finish(run_js, tmp_path):
    run = like_k6(run_js, tmp_path, """
    import exec from "k6/execution"
    export const options = { iterations: 3 }
    export default function () {
      if (exec.scenario.iterationInTest === 0) exec.test.fail("first one")
      report(exec.scenario.iterationInTest)
    }
    export function teardown() { report("teardown") }
    """, [0, 1, 2, "teardown"], exit_code=MARKED_AS_FAILED)
    assert "test marked as failed: first one" in run.output
    assert run.metrics.total("iterations") == 3


# == k6/metrics ======================================================================================


def test_each_metric_type(run_js, tmp_path):
    run = like_k6(run_js, tmp_path, """
    import { Counter, Gauge, Rate, Trend } from "k6/metrics"
    const c = new Counter("my_counter"), g = new Gauge("my_gauge"), r = new Rate("my_rate")
    const t = new Trend("my_trend"), tt = new Trend("my_time", true)
    export const options = { iterations: 1, summaryTrendStats: ["avg", "min", "med", "max", "p(90)", "count"] }
    export default function () {
      report([c.add(3), c.add(4, { k: "v" }), c.add(true), g.add(5), g.add(-2), r.add(true), r.add(0), r.add(7),
              r.add(false), t.add(1), t.add(2), t.add(6), tt.add(1.5), c.name, tt.name])
    }
    export function handleSummary(data) {
      const seen = {}
      for (const name of ["my_counter", "my_gauge", "my_rate", "my_trend", "my_time"]) {
        const m = data.metrics[name]
        const values = Object.assign({}, m.values)
        if (m.type === "counter") delete values.rate  // per second: depends on the run's length
        seen[name] = [m.type, m.contains, values]
      }
      report(seen)
      return {}
    }
    """, [
        [True] * 13 + ["my_counter", "my_time"],
        {
            "my_counter": ["counter", "default", {"count": 8}],
            "my_gauge": ["gauge", "default", {"value": -2, "min": -2, "max": 5}],
            "my_rate": ["rate", "default", {"passes": 2, "fails": 2, "rate": 0.5}],
            "my_trend": ["trend", "default", {"count": 3, "avg": 3, "min": 1, "med": 2, "max": 6, "p(90)": 5.2}],
            "my_time": ["trend", "time", {"count": 1, "avg": 1.5, "min": 1.5, "med": 1.5, "max": 1.5, "p(90)": 1.5}],
        },
    ])
    counter = [(s.value, s.tags) for s in run.metrics.of("my_counter")]
    assert counter == [(3, {"group": "", "scenario": "default"}), (4, {"group": "", "scenario": "default", "k": "v"}),
                       (1, {"group": "", "scenario": "default"})]


def test_metrics_must_be_declared_in_the_init_context(run_js, tmp_path):
    like_k6(run_js, tmp_path, TRY + """
    import { Counter } from "k6/metrics"
    const c = new Counter("declared")
    const early = attempt(() => c.add(1))
    export const options = { iterations: 1 }
    export default function () {
      report([early, attempt(() => new Counter("too_late"))])
    }
    """, [[
        ["throw", "GoError: Adding to metrics in the init context is not supported"],
        ["throw", "GoError: metrics must be declared in the init context"],
    ]])


@pytest.mark.parametrize("name", ["1abc", "a-b", "", "a", "x" * 130, "über"])
def test_invalid_metric_names_are_errors(run_js, tmp_path, name):
    # k6's pattern allows 2 to 129 characters, though its message says 128.
    message = (f"GoError: Invalid metric name: '{name}'. Metric names must only include up to 128 ASCII letters, "
               "numbers, or underscores and start with a letter or an underscore.")
    like_k6(run_js, tmp_path, TRY + f"""
    import {{ Counter }} from "k6/metrics"
    const seen = [attempt(() => new Counter({json.dumps(name)}).name), attempt(() => new Counter("y".repeat(129)).name)]
    export const options = {{ iterations: 1 }}
    export default function () {{ report(seen) }}
    """, [[["throw", message], ["ok", "y" * 129]]])


def test_an_invalid_metric_name_uncaught_in_init_ends_the_run_with_107(run_js):
    run = run_js("""
    import { Counter } from "k6/metrics"
    new Counter("a-b")
    export default function () {}
    """)
    assert run.exit_code == SCRIPT_EXCEPTION
    assert "Invalid metric name: 'a-b'" in run.output


def test_metric_type_clashes_are_errors(run_js, tmp_path):
    like_k6(run_js, tmp_path, TRY + """
    import { Counter, Gauge, Trend } from "k6/metrics"
    new Counter("c_ok")
    new Trend("t_plain")
    const seen = [
      attempt(() => new Gauge("c_ok")),
      attempt(() => new Trend("t_plain", true)),
      attempt(() => new Trend("iterations")),
      attempt(() => new Counter("c_ok").name),
      attempt(() => new Counter("iterations").name),
    ]
    export const options = { iterations: 1 }
    export default function () { report(seen) }
    """, [[
        ["throw", "GoError: metric 'c_ok' already exists but with type counter, instead of gauge"],
        ["throw", "GoError: metric 't_plain' already exists but with a value type default, instead of time"],
        ["throw", "GoError: metric 'iterations' already exists but with type counter, instead of trend"],
        ["ok", "c_ok"],
        ["ok", "iterations"],
    ]])


def test_values_that_are_not_numbers_are_refused_with_a_warning(run_js, tmp_path):
    run = like_k6(run_js, tmp_path, TRY + """
    import { Counter } from "k6/metrics"
    const c = new Counter("c_ok")
    export const options = { iterations: 1 }
    export default function () {
      report([attempt(() => c.add(NaN)), attempt(() => c.add("abc")), attempt(() => c.add(null)),
              attempt(() => c.add()), attempt(() => c.add({})),
              attempt(() => c.add("5")), attempt(() => c.add(true)), attempt(() => c.add(Infinity))])
    }
    """, [[["ok", False]] * 5 + [["ok", True]] * 3])
    assert [s.value for s in run.metrics.of("c_ok")] == [5, 1, float("inf")]
    warnings = [line for line in run.output.splitlines() if "level=warning" in line]
    assert len(warnings) == 5, run.output
    assert "'NaN' is an invalid value for metric 'c_ok', a number or a boolean value is expected" in warnings[0]


def test_tag_values_must_be_primitives(run_js, tmp_path):
    run = like_k6(run_js, tmp_path, TRY + """
    import { Counter } from "k6/metrics"
    const c = new Counter("c_ok")
    export const options = { iterations: 1 }
    export default function () {
      report([attempt(() => c.add(1, { n: 5, b: true })), attempt(() => c.add(1, { n: { a: 1 } }))])
    }
    """, [[["ok", True], ["throw", ("GoError: cannot add tags for the 'c_ok' custom metric: invalid value for "
                                    "metric tag 'n': only String, Boolean and Number types are accepted as a "
                                    "metric tag values")]]])
    assert [s.tags for s in run.metrics.of("c_ok")] == [{"group": "", "scenario": "default", "n": "5", "b": "true"}]


# == k6/encoding =====================================================================================

TEXT = "hi?>ü€ ~"
BYTES = [251, 255, 191, 0, 1, 62, 63]
VARIANTS = {
    "std": base64.b64encode,
    "rawstd": lambda b: base64.b64encode(b).rstrip(b"="),
    "url": base64.urlsafe_b64encode,
    "rawurl": lambda b: base64.urlsafe_b64encode(b).rstrip(b"="),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_base64_round_trips_like_python(run_js, variant):
    run = run_js(f"""
    import {{ b64encode, b64decode }} from "k6/encoding"
    import encoding from "k6/encoding"
    const v = {json.dumps(variant)}
    export const options = {{ iterations: 1 }}
    export default function () {{
      const buffer = new Uint8Array({json.dumps(BYTES)}).buffer
      const text = b64encode({json.dumps(TEXT)}, v)
      const binary = encoding.b64encode(buffer, v)
      const back = b64decode(binary, v)
      report([text, binary, b64encode("", v), b64decode(text, v, "s"), back instanceof ArrayBuffer,
              Array.from(new Uint8Array(back)), Array.from(new Uint8Array(b64decode(text, v)))])
    }}
    """)
    encode = VARIANTS[variant]
    assert run.report() == [
        encode(TEXT.encode()).decode(), encode(bytes(BYTES)).decode(), "", TEXT, True, BYTES, list(TEXT.encode()),
    ], run.output


def test_base64_defaults_and_typed_arrays(run_js, tmp_path):
    like_k6(run_js, tmp_path, """
    import { b64encode, b64decode } from "k6/encoding"
    export const options = { iterations: 1 }
    export default function () {
      report([b64encode("ab"), b64encode("ab", ""), b64encode("ab", "hex"), b64decode("YWI=", undefined, "s"),
              b64decode("YWI=", "nope", "s"), b64encode(new Uint8Array([1, 2, 3])),
              Array.from(new Uint8Array(b64decode("YWI=", "std", "x"))), b64decode("/w==", "std", "s")])
    }
    """, [["YWI=", "YWI=", "YWI=", "ab", "ab", "AQID", [97, 98], "\ufffd"]])


@pytest.mark.parametrize(("text", "variant"), [
    ("!!!", "std"), ("YWI", "std"), ("YWI=", "rawstd"), ("+/8=", "url"), ("-_8=", "std"), ("YW I=", "std"),
])
def test_base64_decoding_invalid_input_is_an_error(run_js, tmp_path, text, variant):
    source = TRY + f"""
    import {{ b64decode }} from "k6/encoding"
    export const options = {{ iterations: 1 }}
    export default function () {{
      report(attempt(() => b64decode({json.dumps(text)}, {json.dumps(variant)}, "s")))
    }}
    """
    if K6 is not None:
        assert k6_run(tmp_path, source).reported[0][0] == "throw"
    run = run_js(source)
    outcome, message = run.report()
    assert outcome == "throw" and message.startswith("GoError: illegal base64 data at input byte "), message


def test_base64_encoding_other_types_is_an_error(run_js, tmp_path):
    like_k6(run_js, tmp_path, TRY + """
    import { b64encode } from "k6/encoding"
    export const options = { iterations: 1 }
    export default function () {
      report([123, {}, null, [1, 2]].map((v) => attempt(() => b64encode(v))[0]))
    }
    """, [["throw"] * 4])


# == k6/data ===========================================================================================

SHARED_SCRIPT = TRY + """
import { SharedArray } from "k6/data"
const people = new SharedArray("people", function () {
  console.log("BUILD")
  return [{ name: "ann", n: 1 }, { name: "bob", n: 2 }, { name: "cy", n: 3 }]
})
export const options = { vus: 3, iterations: 3 }
export default function () {
  const names = []
  for (const p of people) names.push(p.name)
  report({
    items: [people.length, people[0], people[2].name, people[3] === undefined],
    forOf: names,
    arrays: [people.map((p) => p.n), people.filter((p) => p.n > 1).length, [...people].length,
             Array.isArray(people), JSON.stringify(people), Object.keys(people), 1 in people, 5 in people],
    writes: [attempt(() => { people[0] = 1 }), attempt(() => people.push(4)), attempt(() => { people.length = 0 }),
             attempt(() => { people[0].name = "zed" }), people[0].name, people.length],
  })
}
"""

SHARED_EXPECTED = {
    "items": [3, {"name": "ann", "n": 1}, "cy", True],
    "forOf": ["ann", "bob", "cy"],
    "arrays": [[1, 2, 3], 2, 3, True, '[{"name":"ann","n":1},{"name":"bob","n":2},{"name":"cy","n":3}]',
               ["0", "1", "2"], True, False],
    "writes": [["throw", "TypeError: SharedArray is immutable"], ["throw", "TypeError: SharedArray is immutable"],
               ["throw", "TypeError: SharedArray is immutable"],
               ["throw", "TypeError: Cannot assign to read only property 'name'"], "ann", 3],
}


def test_shared_array_is_built_once_and_reads_like_an_array(run_js, tmp_path):
    if K6 is not None:
        k6 = k6_run(tmp_path, SHARED_SCRIPT)
        assert k6.reported == [SHARED_EXPECTED] * 3, k6.output
        assert k6.output.count("BUILD") == 1
    run = run_js(SHARED_SCRIPT)
    assert run.exit_code == 0, run.output
    assert run.messages.count("BUILD") == 1, run.output
    assert run.reported() == [SHARED_EXPECTED] * 3, run.output


def test_shared_array_writes_throw_type_errors(run_js):
    run = run_js(SHARED_SCRIPT)
    writes = [value["writes"] for value in run.reported()]
    assert len(writes) == 3, run.output
    for outcome in writes:
        assert [entry[0] for entry in outcome[:4]] == ["throw"] * 4
        assert all(entry[1].startswith("TypeError: ") for entry in outcome[:4])


def test_shared_array_refuses_bad_builders_and_late_construction(run_js, tmp_path):
    like_k6(run_js, tmp_path, TRY + """
    import { SharedArray } from "k6/data"
    const seen = [
      attempt(() => new SharedArray("object", () => ({ a: 1 }))),
      attempt(() => new SharedArray("string", () => "abc")),
      attempt(() => new SharedArray("no function")),
      attempt(() => new SharedArray("", () => [1])),
      attempt(() => new SharedArray("throws", () => { throw new Error("inside") })),
    ]
    export const options = { iterations: 1 }
    export default function () {
      report([...seen, attempt(() => new SharedArray("late", () => [1]))])
    }
    """, [[
        ["throw", "GoError: only arrays can be made into SharedArray"],
        ["throw", "GoError: only arrays can be made into SharedArray"],
        ["throw", "GoError: a function is expected as the second argument of SharedArray's constructor"],
        ["throw", "GoError: empty name provided to SharedArray's constructor"],
        ["throw", "Error: inside"],
        ["throw", "GoError: new SharedArray must be called in the init context"],
    ]])


def test_a_non_array_builder_uncaught_in_init_ends_the_run_with_107(run_js):
    run = run_js("""
    import { SharedArray } from "k6/data"
    const data = new SharedArray("object", () => ({ a: 1 }))
    export default function () {}
    """)
    assert run.exit_code == SCRIPT_EXCEPTION
    assert "only arrays can be made into SharedArray" in run.output
