"""Ctrl-C and SIGTERM as k6 handles them, checked against the real k6 where it is installed.

The first signal stops the test: iterations are interrupted, teardown() runs,
the summary is printed and the exit code is 105. A second signal ends the
process at once (still 105, no summary). Each run is a subprocess in its own
process group, and whatever is left of it is killed at the end of the test.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

EXTERNAL_ABORT = 105

SCRIPT = """
import { sleep } from "k6"
export const options = { vus: 10, duration: "60s" }
export function setup() { console.log("SETUP DONE") }
export default function () {
  if (__ITER === 0) console.log("RUNNING " + __VU)
  if (__ENV.BUSY) {
    const end = Date.now() + 30000
    while (Date.now() < end) {}  // a VU that never waits
  } else {
    sleep(Number(__ENV.ITERATION_SLEEP))
  }
}
export function teardown() {
  console.log("TEARDOWN START")
  sleep(Number(__ENV.TEARDOWN_SLEEP))
  console.log("TEARDOWN DONE")
}
"""

SUMMARY = "TOTAL RESULTS"
ALL_RUNNING = "RUNNING 10"


def _find_k6() -> str | None:
    beside = Path(sys.executable).with_name("k6")
    return shutil.which("k6") or (str(beside) if beside.is_file() else None)


K6 = _find_k6()

PROGRAMS = [
    pytest.param("k6host", id="k6host"),
    pytest.param("k6", id="k6", marks=pytest.mark.skipif(K6 is None, reason="no k6 binary to compare with")),
]


def _command(program: str) -> list[str]:
    if program == "k6":
        assert K6 is not None
        return [K6, "run", "--address", "", "--no-color"]
    return [sys.executable, "-m", "k6host", "run", "--no-color"]


class Run:
    """One ``run`` in its own process group; its output goes to files the test polls."""

    def __init__(self, program: str, tmp_path: Path, **env: str):
        script = tmp_path / "signals.js"
        script.write_text(SCRIPT)
        self.out_path, self.err_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
        self._out, self._err = self.out_path.open("w"), self.err_path.open("w")
        flags = [f"--env={key}={value}" for key, value in env.items()]
        self.process = subprocess.Popen(
            [*_command(program), *flags, str(script)],
            stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL, cwd=tmp_path,
            env={**os.environ, "K6_NO_USAGE_REPORT": "true"}, start_new_session=True,
        )

    @property
    def stdout(self) -> str:
        return self.out_path.read_text()

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            assert self.process.poll() is None, f"ended ({self.process.returncode}) before {text!r}:\n{self.stderr}"
            assert time.monotonic() < deadline, f"no {text!r} within {timeout}s:\n{self.stderr}"
            time.sleep(0.05)

    def signal(self, signum: int) -> None:
        os.killpg(self.process.pid, signum)  # as a terminal's Ctrl-C reaches the whole group

    def exit_code(self, timeout: float) -> int | None:
        """The exit code, or None if the process is still running after ``timeout`` seconds."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(10)
        self._out.close()
        self._err.close()


@contextmanager
def running(program: str, tmp_path: Path, **env: str) -> Iterator[Run]:
    run = Run(program, tmp_path, **env)
    try:
        yield run
    finally:
        run.kill()


SIGNALS = [pytest.param(signal.SIGINT, id="SIGINT"), pytest.param(signal.SIGTERM, id="SIGTERM")]


@pytest.mark.parametrize("signum", SIGNALS)
@pytest.mark.parametrize("program", PROGRAMS)
def test_first_signal_runs_teardown_prints_the_summary_and_exits_105(program, signum, tmp_path):
    with running(program, tmp_path, ITERATION_SLEEP="0.1", TEARDOWN_SLEEP="0") as run:
        run.wait_for(ALL_RUNNING, timeout=20)
        sent = time.monotonic()
        run.signal(signum)
        code = run.exit_code(timeout=5)
        took = time.monotonic() - sent
        assert code == EXTERNAL_ABORT, f"exit code {code} after {took:.1f}s:\n{run.stderr}"
        assert "TEARDOWN DONE" in run.stderr
        assert SUMMARY in run.stdout, run.stdout
        assert took < 3


@pytest.mark.parametrize("program", PROGRAMS)
def test_first_signal_interrupts_iterations_that_sleep(program, tmp_path):
    with running(program, tmp_path, ITERATION_SLEEP="30", TEARDOWN_SLEEP="0") as run:
        run.wait_for(ALL_RUNNING, timeout=20)
        run.signal(signal.SIGINT)
        code = run.exit_code(timeout=5)
        assert code == EXTERNAL_ABORT, f"exit code {code}:\n{run.stderr}"
        assert "TEARDOWN DONE" in run.stderr
        assert SUMMARY in run.stdout


@pytest.mark.parametrize("program", PROGRAMS)
def test_first_signal_interrupts_vus_busy_in_javascript(program, tmp_path):
    with running(program, tmp_path, BUSY="1", TEARDOWN_SLEEP="0") as run:
        run.wait_for("RUNNING ", timeout=20)
        time.sleep(0.5)  # k6 has all ten VUs inside their loops by now
        run.signal(signal.SIGINT)
        code = run.exit_code(timeout=8)
        assert code == EXTERNAL_ABORT, f"exit code {code} (None: still running after 8s):\n{run.stderr}"
        assert "TEARDOWN DONE" in run.stderr
        assert SUMMARY in run.stdout


@pytest.mark.parametrize("signum", SIGNALS)
@pytest.mark.parametrize("program", PROGRAMS)
def test_second_signal_during_a_slow_teardown_ends_the_process_at_once(program, signum, tmp_path):
    with running(program, tmp_path, ITERATION_SLEEP="0.1", TEARDOWN_SLEEP="30") as run:
        run.wait_for(ALL_RUNNING, timeout=20)
        run.signal(signum)
        run.wait_for("TEARDOWN START", timeout=5)
        time.sleep(0.3)
        sent = time.monotonic()
        run.signal(signum)
        code = run.exit_code(timeout=5)
        took = time.monotonic() - sent
        assert code == EXTERNAL_ABORT, f"exit code {code}:\n{run.stderr}"
        assert took < 2
        assert "TEARDOWN DONE" not in run.stderr
        assert SUMMARY not in run.stdout


@pytest.mark.parametrize(("signum", "name"), [(signal.SIGINT, "interrupt"), (signal.SIGTERM, "terminated")],
                         ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("program", PROGRAMS)
def test_the_stop_is_logged_as_k6_logs_it(program, signum, name, tmp_path):
    with running(program, tmp_path, ITERATION_SLEEP="0.1", TEARDOWN_SLEEP="0") as run:
        run.wait_for(ALL_RUNNING, timeout=20)
        run.signal(signum)
        assert run.exit_code(timeout=5) == EXTERNAL_ABORT
        assert f"level=error msg=\"test run was aborted because k6 received a '{name}' signal\"" in run.stderr


@pytest.mark.parametrize("program", PROGRAMS)
def test_the_second_signal_is_logged_as_k6_logs_it(program, tmp_path):
    with running(program, tmp_path, ITERATION_SLEEP="0.1", TEARDOWN_SLEEP="30") as run:
        run.wait_for(ALL_RUNNING, timeout=20)
        run.signal(signal.SIGINT)
        run.wait_for("TEARDOWN START", timeout=5)
        run.signal(signal.SIGINT)
        assert run.exit_code(timeout=5) == EXTERNAL_ABORT
        assert 'level=error msg="Aborting k6 in response to signal" sig=interrupt' in run.stderr
