"""Load: many VUs for a while, too few file descriptors, Ctrl-C under load.

The 1,000-VU minute runs in a child Python process that calls
``k6host.run.runner.run_script`` itself, so it can count its own file
descriptors before the echo server starts and after it stopped, and so its
memory (about 0.65 MB per VU) is given back when it ends. The other tests
run the ``k6host`` command line, in their own process groups, and kill
whatever is left of them at the end.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


EXTERNAL_ABORT = 105
SUMMARY = "TOTAL RESULTS"

# -- 1,000 VUs for 60 seconds ------------------------------------------------------------------

LOAD_SCRIPT = """
import { Socket } from "k6/x/tcp"
import { check, sleep } from "k6"
export const options = { vus: 1000, duration: "60s" }
export default async function () {
  const s = new Socket()
  const text = `ping ${__VU} ${__ITER}`
  const got = new Promise((resolve, reject) => {
    let buffer = ""
    s.on("data", (d) => {
      buffer += String.fromCharCode.apply(null, d)
      if (buffer.length >= text.length) resolve(buffer)
    })
    s.on("error", reject)
  })
  await s.connect(Number(__ENV.TCP_ECHO_PORT), __ENV.TCP_ECHO_HOST)
  await s.write(text)
  check(await got, { "echoed intact": (t) => t === text })
  sleep(1) // the socket stays open meanwhile: up to 1,000 at a time
  s.destroy()
}
"""

DRIVER = r"""
import io, json, os, resource, sys, threading, time
# Each VU holds 3 descriptors (selector, wake-up pipe) plus its socket, and
# the echo server one per peer: more than a default soft limit of 1024.
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
from k6host.report.log import Log
from k6host.testing.echo import EchoServer
from k6host.run.runner import run_script

def fds():
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[name] = os.readlink("/proc/self/fd/" + name)
        except OSError:
            pass
    return out

peak = {"fds": 0, "rss_mb": 0}
def watch():
    while True:
        peak["fds"] = max(peak["fds"], len(os.listdir("/proc/self/fd")))
        with open("/proc/self/statm") as f:
            peak["rss_mb"] = max(peak["rss_mb"], int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2**20)
        time.sleep(0.5)
threading.Thread(target=watch, daemon=True).start()

before = fds()
log = Log(io.StringIO())
started = time.monotonic()
with EchoServer() as echo:
    env = {"TCP_ECHO_HOST": echo.host, "TCP_ECHO_PORT": str(echo.port)}
    result = run_script(sys.argv[1], env, log, stdout=io.StringIO())
took = time.monotonic() - started
after = fds()
m = result.metrics
def count(name):
    return m.sink_of(name).count if name in m.names() else 0
checks = m.sink_of("checks") if "checks" in m.names() else None
print("LOAD " + json.dumps({
    "exit_code": result.exit_code, "seconds": round(took, 1), "hard_limit": hard,
    "iterations": count("iterations"), "tcp_sockets": count("tcp_sockets"),
    "closed": m.sink_of("tcp_socket_duration").stat("count") if "tcp_socket_duration" in m.names() else 0,
    "tcp_errors": count("tcp_errors"), "tcp_timeouts": count("tcp_timeouts"),
    "checks": [checks.passes, checks.total] if checks else None,
    "errors": result.errors[:5], "error_lines": [l for l in log.lines if l[0] == "error"][:5],
    "leaked": sorted(f"{fd} -> {t}" for fd, t in after.items() if before.get(fd) != t),
    "fds_before": len(before), "fds_after": len(after), "peak": peak,
}))
"""


def test_1000_vus_for_60_seconds_leave_nothing_behind(tmp_path):
    script, driver = tmp_path / "load.js", tmp_path / "driver.py"
    script.write_text(LOAD_SCRIPT)
    driver.write_text(DRIVER)
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(driver), str(script)], capture_output=True, text=True, check=False, timeout=240)
    took = time.monotonic() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("LOAD ")]
    assert done.returncode == 0 and lines, f"exit {done.returncode}:\n{done.stderr[-3000:]}"
    r = json.loads(lines[0][len("LOAD "):])
    print(f"1,000 VUs: {r['iterations']:.0f} iterations in {r['seconds']}s, peak {r['peak']}, wall {took:.0f}s")
    assert r["hard_limit"] >= 6000, f"this machine allows only {r['hard_limit']} descriptors; 1,000 VUs need about 5,000"
    assert r["exit_code"] == 0, r
    assert r["errors"] == [] and r["error_lines"] == [], r
    assert r["tcp_errors"] == 0 and r["tcp_timeouts"] == 0, r
    assert r["checks"] is not None and r["checks"][0] == r["checks"][1] == r["iterations"], r
    assert r["iterations"] >= 5000, r  # each VU went round several times
    assert r["tcp_sockets"] == r["iterations"], r
    assert r["closed"] == r["tcp_sockets"], "sockets opened but never closed"
    assert r["leaked"] == [], r["leaked"]
    assert r["fds_after"] <= r["fds_before"], r
    assert 60 <= r["seconds"] < 150, r  # 60 s, plus starting 1,000 VUs and a 30 s graceful stop at most


# -- too few file descriptors ---------------------------------------------------------------------------


def _k6host(script: Path, *flags: str, nofile: int | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    def lower_limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    return subprocess.run(
        [sys.executable, "-m", "k6host", "run", "--no-color", *flags, str(script)],
        capture_output=True, text=True, check=False, timeout=timeout, cwd=script.parent,
        preexec_fn=lower_limit, start_new_session=True,
    )


def test_too_few_descriptors_fail_connects_not_the_run(tmp_path, echo):
    script = tmp_path / "many.js"
    script.write_text("""
import { Socket } from "k6/x/tcp"
export default async function () {
  const sockets = [], results = []
  for (let i = 0; i < 100; i++) {
    const s = new Socket()
    s.on("error", () => {})
    sockets.push(s)
    results.push(s.connect(Number(__ENV.TCP_ECHO_PORT), __ENV.TCP_ECHO_HOST).then(() => "open", (e) => e.message))
  }
  const outcomes = await Promise.all(results)
  const open = outcomes.filter((o) => o === "open").length
  const reasons = Array.from(new Set(outcomes.filter((o) => o !== "open")))
  console.log("OUTCOMES " + JSON.stringify({ open, reasons }))
  for (const s of sockets) s.destroy()
}
""")
    started = time.monotonic()
    done = _k6host(script, "-e", f"TCP_ECHO_HOST={echo.host}", "-e", f"TCP_ECHO_PORT={echo.port}", nofile=64)
    assert time.monotonic() - started < 30
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 0, done.stderr[-3000:]
    assert SUMMARY in done.stdout
    (line,) = [line for line in done.stderr.splitlines() if "OUTCOMES" in line]
    outcomes = json.loads(line.split("OUTCOMES ", 1)[1].rsplit('" source', 1)[0].replace('\\"', '"'))
    assert 0 < outcomes["open"] < 100, outcomes
    assert len(outcomes["reasons"]) == 1 and "too many open files" in outcomes["reasons"][0], outcomes
    assert outcomes["reasons"][0].startswith("TCP error during connect: ")
    errors = [line for line in done.stdout.splitlines() if line.strip().startswith("tcp_errors")]
    assert errors and errors[0].split(":")[1].split()[0] == str(100 - outcomes["open"]), errors


def test_vus_need_no_descriptor_of_their_own(tmp_path):
    """A VU's sockets go into the hub's one epoll (each VU had an epoll of its
    own, and 100 VUs ran out of 64 descriptors): 100 VUs now start and run
    under a limit of 16. Running out in connects is the test above."""
    script = tmp_path / "vus.js"
    script.write_text("""
export const options = { vus: 100, iterations: 100 }
export default function () {}
""")
    done = _k6host(script, "--processes", "1", nofile=16, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "100 complete and 0 interrupted iterations" in done.stdout, done.stdout[-2000:]


# -- Ctrl-C under load ----------------------------------------------------------------------------------

SIGNAL_SCRIPT = """
import { Socket } from "k6/x/tcp"
import { sleep } from "k6"
export const options = { vus: 100, duration: "5m" }
export default async function () {
  if (__ITER === 0) console.log("RUNNING")
  const s = new Socket()
  const got = new Promise((resolve) => s.on("data", resolve))
  await s.connect(Number(__ENV.TCP_ECHO_PORT), __ENV.TCP_ECHO_HOST)
  await s.write("ping")
  await got
  sleep(0.2)
  s.destroy()
}
export function teardown() {
  console.log("TEARDOWN START")
  sleep(Number(__ENV.TEARDOWN_SLEEP))
  console.log("TEARDOWN DONE")
}
"""


class Run:
    """One ``k6host run`` in its own process group; output goes to files the test polls."""

    def __init__(self, tmp_path: Path, echo, teardown_sleep: float):
        script = tmp_path / "load100.js"
        script.write_text(SIGNAL_SCRIPT)
        self.out, self.err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
        self._files = [self.out.open("w"), self.err.open("w")]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "k6host", "run", "--no-color", "-e", f"TCP_ECHO_HOST={echo.host}",
             "-e", f"TCP_ECHO_PORT={echo.port}", "-e", f"TEARDOWN_SLEEP={teardown_sleep}", str(script)],
            stdout=self._files[0], stderr=self._files[1], stdin=subprocess.DEVNULL, cwd=tmp_path,
            start_new_session=True,
        )

    @property
    def stderr(self) -> str:
        return self.err.read_text()

    @property
    def stdout(self) -> str:
        return self.out.read_text()

    def wait_for(self, text: str, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.stderr.count(text) < count:
            assert self.process.poll() is None, f"ended ({self.process.returncode}) before {count}x {text!r}:\n{self.stderr[-2000:]}"
            assert time.monotonic() < deadline, f"fewer than {count}x {text!r} within {timeout}s:\n{self.stderr[-2000:]}"
            time.sleep(0.1)

    def interrupt(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)  # as a terminal's Ctrl-C reaches the whole group

    def exit_code(self, timeout: float) -> int | None:
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
        for f in self._files:
            f.close()


@contextmanager
def running(tmp_path: Path, echo, teardown_sleep: float) -> Iterator[Run]:
    run = Run(tmp_path, echo, teardown_sleep)
    try:
        yield run
    finally:
        run.kill()


def test_ctrl_c_during_a_100_vu_run_runs_teardown_and_prints_the_summary(tmp_path, echo):
    with running(tmp_path, echo, teardown_sleep=0) as run:
        run.wait_for("RUNNING", 100, timeout=60)
        time.sleep(1)
        sent = time.monotonic()
        run.interrupt()
        code = run.exit_code(timeout=15)
        took = time.monotonic() - sent
        assert code == EXTERNAL_ABORT, f"exit {code} after {took:.1f}s (None: still running):\n{run.stderr[-2000:]}"
        assert took < 10
        assert "TEARDOWN DONE" in run.stderr
        assert SUMMARY in run.stdout
        assert "Traceback" not in run.stderr


def test_a_second_ctrl_c_during_a_100_vu_run_ends_it_at_once(tmp_path, echo):
    with running(tmp_path, echo, teardown_sleep=30) as run:
        run.wait_for("RUNNING", 100, timeout=60)
        run.interrupt()
        run.wait_for("TEARDOWN START", 1, timeout=15)
        time.sleep(0.3)
        sent = time.monotonic()
        run.interrupt()
        code = run.exit_code(timeout=5)
        took = time.monotonic() - sent
        assert code == EXTERNAL_ABORT, f"exit {code}:\n{run.stderr[-2000:]}"
        assert took < 2
        assert "TEARDOWN DONE" not in run.stderr
        assert SUMMARY not in run.stdout
