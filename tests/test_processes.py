"""``k6host run`` over every core: one worker process per core, one test.

The parent runs setup() and teardown(), merges every sample the workers make,
evaluates thresholds and prints one summary; a split run must report what a
one-process run reports. Workers that die or signals that arrive end the run
in bounded time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from k6host.run.processes import cores

K6HOST = str(Path(sys.executable).with_name("k6host"))
_ENV = {**os.environ, "K6_NO_USAGE_REPORT": "true"}

# Iteration-based, so every number below is the same however the test is split.
_MERGED = """
import { check, group } from "k6";
import { Counter, Gauge, Rate, Trend } from "k6/metrics";
import exec from "k6/execution";
const counter = new Counter("my_counter");
const trend = new Trend("my_trend");
const rate = new Rate("my_rate");
const gauge = new Gauge("my_gauge");
export const options = {
  scenarios: {
    shared: { executor: "shared-iterations", vus: 6, iterations: 60 },
    each: { executor: "per-vu-iterations", vus: 4, iterations: 5, exec: "each" },
  },
  thresholds: {
    my_counter: ["count==80"],
    "my_counter{scenario:each}": ["count==20"],
    checks: ["rate>0.9"],
    my_trend: ["p(90)<50", "avg>1"],
    my_rate: ["rate==0.5"],
  },
};
export function setup() { return { v: 7 }; }
export default function (data) {
  counter.add(1);
  trend.add(exec.scenario.iterationInTest);
  rate.add(exec.scenario.iterationInTest % 2 === 0);
  gauge.add(3);
  group("g", () => {
    check(data.v, { "setup data": (v) => v === 7, "even": () => exec.scenario.iterationInTest % 2 === 0 });
  });
}
export function each(data) {
  counter.add(1, { kind: "each" });
  check(exec.vu.idInTest, { "vu in test": (id) => id >= 1 && id <= 10 });
}
export function teardown(data) { console.log("TEARDOWN " + JSON.stringify(data)); }
export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
"""


def _run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([K6HOST, "run", "--no-color", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=_ENV)


def _workers_of(pid: int) -> list[int]:
    """The worker processes (``k6host _worker``) whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"_worker" in cmdline:
            found.append(int(entry.name))
    return found


def _wait_for_workers(process: subprocess.Popen, count: int, timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = _workers_of(process.pid)
        if len(workers) >= count:
            return workers
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError(f"{count} workers never started")


_SLEEPY = """
import { sleep } from "k6";
export const options = { vus: %d, duration: "%s"%s };
export default function () { sleep(0.1); }
"""


def _sleepy(tmp_path: Path, vus: int, duration: str = "30s", extra: str = "") -> Path:
    script = tmp_path / "sleepy.js"
    script.write_text(_SLEEPY % (vus, duration, extra))
    return script


@pytest.mark.parametrize("flags, vus, expected", [
    ((), 4, min(cores(), 4)),
    (("--processes", "auto"), 4, min(cores(), 4)),
    (("--processes", "3"), 4, 3),
    (("--processes", "4"), 2, 2),  # never more processes than VUs
    (("--processes", "1"), 4, 0),  # today's behaviour: no workers at all
    ((), 1, 0),
])
def test_one_worker_per_core_by_default(tmp_path, flags, vus, expected):
    script = _sleepy(tmp_path, vus, "3s")
    process = subprocess.Popen([K6HOST, "run", "-q", *flags, str(script)], cwd=tmp_path, env=_ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        assert len(_workers_of(process.pid)) == expected
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err


def test_this_machine_runs_two_processes_by_default(tmp_path):
    if cores() < 2:
        pytest.skip("one core")
    script = _sleepy(tmp_path, 10, "2s")
    process = subprocess.Popen([K6HOST, "run", "-q", str(script)], cwd=tmp_path, env=_ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert len(_wait_for_workers(process, 2)) == cores()
        assert process.wait(60) == 0
    finally:
        process.kill()


def _summary(tmp_path: Path, name: str, flags: tuple[str, ...]) -> tuple[subprocess.CompletedProcess, dict]:
    script = tmp_path / "merged.js"
    script.write_text(_MERGED)
    out = tmp_path / f"{name}.json"
    done = _run(["-e", f"OUT={out}", *flags, str(script)], tmp_path)
    return done, json.loads(out.read_text())


def _comparable(summary: dict) -> dict:
    """What must not depend on how the test was split: counts, values, verdicts."""
    metrics = {}
    for name, metric in summary["metrics"].items():
        values = dict(metric["values"])
        values.pop("rate", None) if metric["type"] == "counter" else None
        if name in ("iteration_duration", "vus", "vus_max", "data_sent", "data_received", "checks_total") or \
                name.startswith("group_duration"):
            values = {k: v for k, v in values.items() if k in ("count", "passes", "fails")}
        if name in ("vus", "vus_max"):
            continue  # sampled each second: how many samples depends on the run's length
        metrics[name] = (metric["type"], values, {k: v["ok"] for k, v in metric.get("thresholds", {}).items()})
    return {"metrics": metrics, "root_group": summary["root_group"]}


def test_split_run_reports_what_one_process_reports(tmp_path):
    one, one_summary = _summary(tmp_path, "one", ("--processes", "1"))
    two, two_summary = _summary(tmp_path, "two", ("--processes", "2"))
    assert one.returncode == two.returncode == 99, (one.stderr, two.stderr)  # my_trend avg>1 holds, p(90)<50 not
    assert _comparable(two_summary) == _comparable(one_summary)
    metrics = two_summary["metrics"]
    assert metrics["iterations"]["values"]["count"] == 80
    assert metrics["my_counter"]["values"]["count"] == 80
    assert metrics["my_trend"]["values"]["p(90)"] == one_summary["metrics"]["my_trend"]["values"]["p(90)"]
    assert metrics["checks"]["values"] == {"rate": 110 / 140, "passes": 110, "fails": 30}
    assert metrics["my_gauge"]["values"] == {"value": 3, "min": 3, "max": 3}
    # setup ran once (its data reached every worker: every "setup data" check passed), teardown once.
    assert two.stderr.count("TEARDOWN {") == 1
    assert two.stdout.count("THRESHOLDS") <= 1


@pytest.mark.parametrize("how", ["flag", "K6_OUT"])
def test_split_run_writes_every_sample(tmp_path, how):
    script = tmp_path / "merged.js"
    script.write_text(_MERGED)
    out = tmp_path / "samples.json"
    flags = ["--out", f"json={out}"] if how == "flag" else []
    env = {**_ENV, "K6_OUT": f"json={out}"} if how == "K6_OUT" else _ENV
    done = subprocess.run([K6HOST, "run", *flags, "-e", f"OUT={tmp_path / 's.json'}", "--processes", "2", str(script)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 99, done.stderr
    points = [json.loads(line) for line in out.read_text().splitlines()]
    iterations = [p for p in points if p["type"] == "Point" and p["metric"] == "iterations"]
    assert len(iterations) == 80
    counted = [p["data"]["tags"]["scenario"] for p in points if p["type"] == "Point" and p["metric"] == "my_counter"]
    assert sorted(counted) == ["each"] * 20 + ["shared"] * 60


def test_abort_on_fail_stops_every_worker(tmp_path):
    script = _sleepy(tmp_path, 4, "60s", ', thresholds: { iterations: [{ threshold: "count<20", abortOnFail: true }] }')
    started = time.monotonic()
    done = _run(["-q", "--processes", "2", str(script)], tmp_path, timeout=60)
    assert done.returncode == 99, done.stderr
    assert time.monotonic() - started < 20
    assert "were crossed; at least one has abortOnFail enabled" in done.stderr


def test_test_abort_in_one_worker_stops_all(tmp_path):
    script = tmp_path / "abort.js"
    script.write_text(
        'import { sleep } from "k6";\nimport exec from "k6/execution";\n'
        'export const options = { vus: 4, duration: "60s" };\n'
        "export default function () { sleep(0.2); if (exec.vu.idInTest === 2 && exec.vu.iterationInScenario === 3)"
        ' exec.test.abort("enough"); }\n'
    )
    started = time.monotonic()
    done = _run(["-q", "--processes", "2", str(script)], tmp_path, timeout=60)
    assert done.returncode == 108, done.stderr
    assert "enough" in done.stderr
    assert time.monotonic() - started < 20


def test_a_killed_worker_fails_the_run_in_bounded_time(tmp_path):
    script = _sleepy(tmp_path, 4, "60s")
    process = subprocess.Popen([K6HOST, "run", "-q", "--processes", "2", str(script)], cwd=tmp_path, env=_ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        workers = _wait_for_workers(process, 2)
        time.sleep(1.0)
        os.kill(workers[0], signal.SIGKILL)
        killed = time.monotonic()
        out, err = process.communicate(timeout=40)
        assert time.monotonic() - killed < 40
    finally:
        process.kill()
    assert process.returncode == 255
    assert "ended unexpectedly" in err
    assert not _workers_of(process.pid)


@pytest.mark.parametrize("signum, group", [(signal.SIGTERM, False), (signal.SIGINT, True)])
def test_signals_reach_the_workers(tmp_path, signum, group):
    script = _sleepy(tmp_path, 4, "60s")
    process = subprocess.Popen([K6HOST, "run", "-q", "--processes", "2", str(script)], cwd=tmp_path, env=_ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        workers = _wait_for_workers(process, 2)
        time.sleep(1.5)
        if group:  # Ctrl-C in a terminal: the whole process group gets it
            os.killpg(process.pid, signum)
        else:
            os.kill(process.pid, signum)
        out, err = process.communicate(timeout=40)
    finally:
        process.kill()
    assert process.returncode == 105, err
    assert "test run was aborted because k6 received" in err
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_init_error_in_a_worker_ends_the_run(tmp_path):
    script = tmp_path / "init.js"
    script.write_text('if (__VU === 4) { throw new Error("no VU 4") }\n'
                      'export const options = { vus: 4, iterations: 8 };\nexport default function () {}\n')
    done = _run(["-q", "--processes", "2", str(script)], tmp_path, timeout=60)
    assert done.returncode == 107, done.stderr
    assert "no VU 4" in done.stderr


@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5", ""])
def test_bad_process_counts_are_refused(tmp_path, value):
    script = _sleepy(tmp_path, 2, "1s")
    done = _run([f"--processes={value}", str(script)], tmp_path, timeout=30)
    assert done.returncode == 255
    assert "--processes" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_segment_given_runs_in_one_process_and_says_so(tmp_path):
    script = _sleepy(tmp_path, 4, "1s")
    done = _run(["-q", "--processes", "2", "--execution-segment", "0:1/2", str(script)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--processes 2 is not used" in done.stderr
