"""Servers that misbehave (tests/faultserver.py), one test per fault.

Each test runs a two-iteration script on one VU, in this process: the first
iteration meets the fault and reports what it saw (listener events in order,
promise outcomes, socket properties); the second must still complete a round
trip with the echo server on the same VU. Every test also checks the
``tcp_*`` metrics, that the run ended within its bound, and that no file
descriptor the run opened is still open afterwards (the servers' own
sockets, the ones whose local port is theirs, are not the run's).
"""

from __future__ import annotations

import io
import json
import os
import sys
import textwrap
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest
from faultserver import FaultServer, free_port
from k6host.report.log import Log
from k6host.run.metrics import Metrics
from k6host.run.runner import run_script

MiB = 1 << 20

# -- file descriptors ------------------------------------------------------------


def open_fds() -> dict[int, str]:
    """This process's descriptors: number -> what it points at."""
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the descriptor listdir itself used, now closed
            pass
    return fds


def _socket_ends() -> dict[str, tuple[int, int]]:
    """'socket:[inode]' -> (local port, remote port) for every TCP socket of the host."""
    ends = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            ends[f"socket:[{inode}]"] = (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16))
    return ends


def leaked_fds(before: dict[int, str], server_ports: set[int]) -> list[str]:
    """Descriptors opened since ``before`` that are still open, servers' sockets aside."""
    ends = _socket_ends()
    leaks = []
    for fd, target in open_fds().items():
        if before.get(fd) == target:
            continue
        local, remote = ends.get(target, (None, None))
        if local in server_ports:
            continue  # accepted by one of the test's servers
        leaks.append(f"fd {fd} -> {target}" + (f" (local port {local}, remote port {remote})" if local else ""))
    return leaks


def wait_for_no_leaks(before: dict[int, str], server_ports: set[int], within: float = 2.0) -> list[str]:
    """The leaks still there after ``within`` seconds (VUs close their loops as they end)."""
    deadline = time.monotonic() + within
    while True:
        leaks = leaked_fds(before, server_ports)
        if not leaks or time.monotonic() >= deadline:
            return leaks
        time.sleep(0.05)


# -- running a script with a bound -------------------------------------------------


@dataclass
class BoundedRun:
    exit_code: int
    metrics: Metrics
    output: str
    messages: list[str]
    seconds: float
    crashed_threads: list[str]  # Python exceptions that escaped a thread of the run

    def reported(self) -> list:
        return [json.loads(m[len("REPORT "):]) for m in self.messages if m.startswith("REPORT ")]


def run_bounded(path: Path, env: dict[str, str], bound: float) -> BoundedRun:
    """run_script in a thread; fail (with every thread's stack) if it is not done within ``bound`` s.

    ``output`` holds the log and the summary; an exception that escapes any
    thread meanwhile (a VU's, say) is collected in ``crashed_threads``.
    """
    stream, summary = io.StringIO(), io.StringIO()
    log = Log(stream)
    box: list = []
    crashed: list[str] = []

    def target() -> None:
        try:
            box.append(run_script(str(path), env, log, record_samples=True, stdout=summary))
        except BaseException as exc:  # reported below, in the test's thread
            box.append(exc)

    def excepthook(args: threading.ExceptHookArgs) -> None:
        crashed.append("".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))

    previous_hook = threading.excepthook
    threading.excepthook = excepthook
    started = time.monotonic()
    try:
        thread = threading.Thread(target=target, name="bounded-run", daemon=True)
        thread.start()
        thread.join(bound)
    finally:
        threading.excepthook = previous_hook
    seconds = time.monotonic() - started
    if thread.is_alive():
        stacks = "\n".join(
            f"--- {t.name}\n" + "".join(traceback.format_stack(sys._current_frames()[t.ident]))
            for t in threading.enumerate()
            if t.ident in sys._current_frames() and t.name in ("vus", "bounded-run")
        )
        pytest.fail(f"the run did not end within {bound}s; output so far:\n{stream.getvalue()}\n{stacks}")
    (result,) = box
    if isinstance(result, BaseException):
        raise result
    output = stream.getvalue() + summary.getvalue()
    return BoundedRun(result.exit_code, result.metrics, output, [m for _, m, _ in log.lines], seconds, crashed)


# -- the scripts -------------------------------------------------------------------

# Every script: report(), the fault server's port, an event recorder, and the
# second iteration (a round trip with the echo server on the same VU).
PRELUDE = """
import { Socket } from "k6/x/tcp"
export const options = { iterations: 2 }
function report(v) { console.log("REPORT " + JSON.stringify(v)) }
const HOST = "127.0.0.1"
const FAULT = Number(__ENV.FAULT_PORT)
const ECHO = Number(__ENV.TCP_ECHO_PORT)
const sleepMs = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
// `p`, or give up waiting after `ms`; the timer is cleared either way (a
// pending timer would keep the iteration alive, as in k6).
function within(p, ms) {
  let timer
  const limit = new Promise((resolve) => { timer = setTimeout(resolve, ms) })
  return Promise.race([p, limit]).finally(() => clearTimeout(timer))
}

// Listener calls of `s` go to `events` in order; the result settles at close.
function watch(s, events) {
  s.on("connect", () => events.push(["connect"]))
  s.on("error", (e) => events.push(["error", e.name, e.method, e.message, e instanceof Error]))
  s.on("timeout", () => events.push(["timeout"]))
  s.on("data", (d) => events.push(["data", d.length]))
  return new Promise((resolve) => s.on("close", () => { events.push(["close"]); resolve() }))
}

// How a promise settled: ["resolved"] or ["rejected", name, message].
function outcome(p) {
  return p.then(() => ["resolved"], (e) => ["rejected", e && e.name, e && e.message])
}

async function healthy() {
  const s = new Socket()
  const got = new Promise((resolve, reject) => {
    s.on("data", (d) => resolve(String.fromCharCode.apply(null, d)))
    s.on("error", reject)
  })
  await s.connect(ECHO, HOST)
  await s.write("still alive")
  report({ second: await got })
  s.destroy()
}

export default async function () {
  if (__ITER === 1) return healthy()
  const events = []
  const result = await fault(events)
  report(Object.assign({ events }, result))
}
"""


@dataclass
class FaultRun:
    run: BoundedRun
    first: dict
    port: int

    @property
    def events(self) -> list[list]:
        return self.first["events"]

    def names(self) -> list[str]:
        return [e[0] for e in self.events]

    def total(self, metric: str) -> float:
        return self.run.metrics.total(metric)

    def on_fault_port(self, metric: str) -> float:
        """``metric`` summed over the samples of the faulty connection only."""
        return sum(s.value for s in self.run.metrics.of(metric) if s.tags.get("port") == str(self.port))


@pytest.fixture
def fault(tmp_path, echo):
    """``fault(mode, js, bound)``: run ``js`` (defining ``async function fault(events)``)
    against a FaultServer in ``mode`` (None: a port nobody listens on)."""

    def run(mode: str | None, js: str, bound: float = 30.0) -> FaultRun:
        path = tmp_path / "fault.js"
        path.write_text(PRELUDE + textwrap.dedent(js))
        server = FaultServer(mode).__enter__() if mode else None
        try:
            port = server.port if server else free_port()
            before = open_fds()
            env = {"TCP_ECHO_HOST": echo.host, "TCP_ECHO_PORT": str(echo.port), "FAULT_PORT": str(port)}
            run = run_bounded(path, env, bound)
            leaks = wait_for_no_leaks(before, {echo.port, port})
        finally:
            if server:
                server.__exit__(None, None, None)
        assert run.crashed_threads == [], run.crashed_threads
        assert "Traceback" not in run.output, run.output
        assert run.exit_code == 0, run.output
        reported = run.reported()
        assert len(reported) == 2, f"expected a report from each iteration, got {reported}:\n{run.output}"
        assert reported[1] == {"second": "still alive"}, f"the VU is not usable after the fault:\n{run.output}"
        assert leaks == [], f"descriptors left open after the run: {leaks}"
        return FaultRun(run, reported[0], port)

    return run


def assert_tcp_error(event: list, method: str | tuple[str, ...], *reasons: str) -> None:
    """An ``error`` event carrying a TCPError of ``method`` whose message names one of ``reasons``."""
    kind, name, got_method, message, is_error = event
    methods = (method,) if isinstance(method, str) else method
    assert (kind, name, is_error) == ("error", "TCPError", True), event
    assert got_method in methods, event
    assert message.startswith(f"TCP error during {got_method}: "), event
    assert any(r in message for r in reasons), f"{message!r} names none of {reasons}"


# -- the faults ------------------------------------------------------------------------


def test_reset_right_after_accept(fault):
    r = fault("reset", """
    async function fault(events) {
      const s = new Socket()
      const closed = watch(s, events)
      const connect = await outcome(s.connect(FAULT, HOST))
      // An open connection must end by itself; a refused one waits for destroy().
      if (connect[0] === "resolved") await within(closed, 5000)
      const state = s.ready_state
      s.destroy()
      s.destroy()
      await closed
      await sleepMs(50) // a second close would have arrived by now
      return { connect, state }
    }
    """)
    names = r.names()
    # The reset may reach the socket while it connects or just after.
    if r.first["connect"] == ["resolved"]:
        assert names == ["connect", "error", "close"], r.events
        assert_tcp_error(r.events[1], ("read", "write"), "connection reset by peer")
        assert r.first["state"] == "destroyed"  # an error ends the connection by itself
    else:
        assert names == ["error", "close"], r.events
        assert_tcp_error(r.events[0], "connect", "connection reset by peer")
        assert r.first["connect"] == ["rejected", "TCPError", r.events[0][3]]
    assert r.total("tcp_errors") == 1
    assert r.total("tcp_partial_writes") == 0
    assert r.total("tcp_timeouts") == 0
    assert r.run.seconds < 10


def test_reset_after_n_bytes_fails_the_write_in_flight(fault):
    # The server reads 64 KiB and resets; the 16 MiB write cannot all be out by then.
    r = fault("reset_after:65536", """
    async function fault(events) {
      const s = new Socket()
      const closed = watch(s, events)
      await s.connect(FAULT, HOST)
      const write = await outcome(s.write("r".repeat(16 * 1024 * 1024)))
      await closed
      await sleepMs(50)
      return { write, written: s.bytes_written, state: s.ready_state }
    }
    """)
    assert r.names() == ["connect", "error", "close"], r.events
    assert_tcp_error(r.events[1], ("read", "write"), "connection reset by peer", "broken pipe")
    kind, name, message = r.first["write"]
    assert (kind, name) == ("rejected", "TCPError"), r.first["write"]
    assert message.startswith("TCP error during write: "), message
    assert r.first["state"] == "destroyed"
    assert r.total("tcp_errors") == 1
    assert r.total("tcp_partial_writes") == 1
    assert r.total("tcp_timeouts") == 0
    assert 65536 <= r.first["written"] < 16 * MiB
    assert r.first["written"] == r.on_fault_port("data_sent")
    assert r.run.seconds < 15


def test_close_after_one_message_is_not_an_error(fault):
    r = fault("close_after_message", """
    async function fault(events) {
      const s = new Socket()
      const closed = watch(s, events)
      let text = ""
      s.on("data", (d) => { events.push(["data", d.length]); text += String.fromCharCode.apply(null, d) })
      const connect = await outcome(s.connect(FAULT, HOST))
      const write = await outcome(s.write("one message"))
      await closed
      const after = await outcome(s.write("too late"))
      s.destroy()
      await sleepMs(50)
      return { connect, write, after, text, read: s.bytes_read, state: s.ready_state }
    }
    """)
    names = r.names()  # the echoed message may arrive in more than one piece
    assert names[0] == "connect" and names[-1] == "close" and set(names[1:-1]) == {"data"}, r.events
    assert r.first["text"] == "one message"
    assert (r.first["connect"], r.first["write"]) == (["resolved"], ["resolved"])
    kind, name, message = r.first["after"]
    assert (kind, name) == ("rejected", "TCPError") and "write" in message, r.first["after"]
    assert r.first["read"] == len("one message")
    assert r.first["state"] == "destroyed"
    assert r.total("tcp_errors") == 0
    assert r.total("tcp_partial_writes") == 0
    assert r.total("tcp_timeouts") == 0
    assert r.run.seconds < 10


def test_close_at_once_is_a_plain_close(fault):
    r = fault("close_at_once", """
    async function fault(events) {
      const s = new Socket()
      const closed = watch(s, events)
      const connect = await outcome(s.connect(FAULT, HOST))
      await within(closed, 5000)
      s.destroy()
      await closed
      await sleepMs(50)
      return { connect }
    }
    """)
    assert r.first["connect"] == ["resolved"]
    assert r.names() == ["connect", "close"], r.events
    assert r.total("tcp_errors") == 0
    assert r.run.seconds < 10


NEVER_READ = """
async function fault(events) {
  const s = new Socket()
  const closed = watch(s, events)
  s.on("timeout", () => { events.push(["timeout"]); s.destroy() })
  await s.connect(FAULT, HOST)
  s.setTimeout(500) // the deadline: nothing ever comes back from this server
  const write = outcome(s.write("n".repeat(SIZE)))
  await closed
  await sleepMs(50)
  return { write: await write, written: s.bytes_written, state: s.ready_state }
}
"""


def test_never_read_64mib_write_is_rejected_on_destroy(fault):
    r = fault("never_read", "const SIZE = 64 * 1024 * 1024\n" + NEVER_READ)
    assert r.names() == ["connect", "timeout", "close"], r.events
    kind, name, message = r.first["write"]
    # Pending until destroy() ends the connection, then rejected as a TCP error.
    assert (kind, name) == ("rejected", "TCPError"), r.first["write"]
    assert message.startswith("TCP error during write: "), message
    assert r.total("tcp_timeouts") == 1
    assert r.total("tcp_partial_writes") == 1  # the peer's buffers took some bytes
    assert r.on_fault_port("data_sent") > 0
    assert r.total("tcp_errors") == 0  # destroy() is not an error
    assert r.run.seconds < 15


def test_never_read_bytes_written_counts_what_went_out(fault):
    # A write small enough for the engine; the peer still takes only part of it.
    r = fault("never_read", "const SIZE = 8 * 1024 * 1024\n" + NEVER_READ)
    assert r.names() == ["connect", "timeout", "close"], r.events
    assert r.first["write"][:2] == ["rejected", "TCPError"], r.first["write"]
    assert r.total("tcp_partial_writes") == 1
    sent = r.on_fault_port("data_sent")
    assert 0 < sent < 8 * MiB
    # bytes_written: "bytes handed to the OS so far" (API.md), the part of a cut write included.
    assert r.first["written"] == sent, f"bytes_written {r.first['written']}, data_sent {sent}"


def test_drip_delivers_bytes_in_order_and_rearms_the_idle_timeout(fault):
    r = fault("drip", """
    async function fault(events) {
      const s = new Socket()
      const closed = watch(s, events)
      const bytes = []
      let phase = 1
      let enough
      const done = new Promise((resolve) => { enough = resolve })
      s.on("data", (d) => {
        events.push(["data", phase, Array.from(d)])
        bytes.push(...d)
        if (phase === 1 && bytes.length >= 8) { phase = 2; s.setTimeout(40) }
        else if (phase === 2 && bytes.length >= 13) enough()
      })
      s.on("timeout", () => events.push(["timeout", phase]))
      s.setTimeout(400) // longer than the 100 ms between bytes: never idle that long
      await s.connect(FAULT, HOST)
      await done
      s.destroy()
      await closed
      return { bytes, read: s.bytes_read }
    }
    """)
    events = r.events
    assert events[0] == ["connect"] and events[-1] == ["close"], events
    assert r.first["bytes"] == list(range(len(r.first["bytes"])))
    assert r.first["read"] == len(r.first["bytes"]) >= 13
    assert [e for e in events if e[0] == "timeout" and e[1] == 1] == [], "timed out while data kept coming"
    # Phase 2 (40 ms idle timeout, a byte every 100 ms): each gap times out, and
    # each byte restarts the period, so timeouts and data alternate.
    phase2 = [e[0] for e in events if len(e) > 1 and e[1] == 2]
    gaps = "".join("d" if name == "data" else "t" for name in phase2).split("d")[1:-1]
    assert len(gaps) >= 3 and all(gap for gap in gaps), f"a gap without a timeout: {phase2}"
    assert r.total("tcp_timeouts") == sum(1 for e in events if e[0] == "timeout")
    assert r.total("tcp_errors") == 0
    assert r.on_fault_port("data_received") == len(r.first["bytes"])
    assert r.run.seconds < 10


def test_flood_of_10mib_unasked_is_all_counted(fault):
    size = 10 * MiB
    r = fault(f"flood:{size}", """
    async function fault(events) {
      const s = new Socket()
      let total = 0, chunks = 0, wrong = -1
      s.on("data", (d) => {
        for (let i = 0; i < d.length; i++) {
          if (wrong < 0 && d[i] !== (total + i) % 256) wrong = total + i
        }
        total += d.length
        chunks++
      })
      s.on("connect", () => events.push(["connect"]))
      s.on("error", (e) => events.push(["error", e.name, e.method, e.message, true]))
      const closed = new Promise((resolve) => s.on("close", () => { events.push(["close"]); resolve() }))
      await s.connect(FAULT, HOST)
      await closed
      await sleepMs(50)
      return { total, chunks, wrong, read: s.bytes_read }
    }
    """, bound=60)
    assert r.names() == ["connect", "close"], r.events
    assert r.first["total"] == size
    assert r.first["read"] == size
    assert r.first["wrong"] == -1, f"first wrong byte at offset {r.first['wrong']}"
    assert r.on_fault_port("data_received") == size
    assert r.on_fault_port("tcp_reads") == r.first["chunks"]
    assert r.total("tcp_errors") == 0
    assert r.run.seconds < 30, f"10 MiB took {r.run.seconds:.1f}s"


def test_silent_server_times_out_repeatedly_until_destroyed(fault):
    r = fault("silent", """
    async function fault(events) {
      const s = new Socket()
      const closed = watch(s, events)
      let timeouts = 0
      const started = Date.now()
      s.on("timeout", () => {
        events.push(["timeout"])
        if (++timeouts === 3) s.destroy()
      })
      s.setTimeout(200)
      const connect = await outcome(s.connect(FAULT, HOST))
      await closed
      await sleepMs(50)
      return { connect, elapsed: Date.now() - started }
    }
    """)
    assert r.first["connect"] == ["resolved"]
    assert r.names() == ["connect", "timeout", "timeout", "timeout", "close"], r.events
    assert r.total("tcp_timeouts") == 3
    assert r.total("tcp_errors") == 0
    assert 550 <= r.first["elapsed"] < 5000
    assert r.run.seconds < 10


def test_port_with_no_listener_rejects_connect(fault):
    r = fault(None, """
    async function fault(events) {
      const s = new Socket()
      const closed = watch(s, events)
      let heard = null
      s.on("error", (e) => { heard = e; events.push(["error", e.name, e.method, e.message, e instanceof Error]) })
      let same = false
      const connect = await s.connect(FAULT, HOST).then(() => ["resolved"], (e) => {
        same = e === heard
        return ["rejected", e.name, e.message]
      })
      const state = s.ready_state
      const write = await outcome(s.write("nobody"))
      s.destroy()
      await closed
      await sleepMs(50)
      return { connect, same, state, write }
    }
    """)
    assert r.names() == ["error", "close"], r.events
    assert_tcp_error(r.events[0], "connect", "connection refused")
    assert f"127.0.0.1:{r.port}" in r.events[0][3]
    assert r.first["connect"] == ["rejected", "TCPError", r.events[0][3]]
    assert r.first["same"], "the error listener and the rejection should get the same TCPError"
    assert r.first["state"] == "disconnected"
    assert r.first["write"][:2] == ["rejected", "TCPError"]
    assert r.total("tcp_errors") == 1
    assert r.total("tcp_sockets") == 1  # the echo iteration's only
    assert r.run.seconds < 10


def test_tls_handshake_that_stalls_is_ended_by_destroy(fault):
    # There is no connect timeout (k6's own dialer gives up after 30 s), so
    # the script bounds the handshake itself.
    r = fault("tls_stall", """
    async function fault(events) {
      const s = new Socket()
      const closed = watch(s, events)
      const started = Date.now()
      setTimeout(() => s.destroy(), 500)
      const connect = await outcome(s.connect({ port: FAULT, host: HOST, tls: true }))
      const elapsed = Date.now() - started
      await closed
      await sleepMs(50)
      return { connect, elapsed, state: s.ready_state }
    }
    """)
    kind, name, message = r.first["connect"]
    assert (kind, name) == ("rejected", "TCPError"), r.first["connect"]
    assert message.startswith("TCP error during connect: ") and "destroy" in message, message
    assert 450 <= r.first["elapsed"] < 3000
    assert r.names() == ["close"], r.events
    assert r.first["state"] == "destroyed"
    assert r.total("tcp_errors") == 0  # the script gave up; nothing failed
    assert r.run.seconds < 10


def test_tls_handshake_that_stalls_ends_with_the_scenario(tmp_path, echo):
    """No destroy, no timer: maxDuration must still end the iteration and close the socket."""
    path = tmp_path / "stall.js"
    path.write_text("""
    import { Socket } from "k6/x/tcp"
    export const options = { scenarios: { s: {
      executor: "per-vu-iterations", vus: 1, iterations: 1, maxDuration: "1s", gracefulStop: "0s" } } }
    export default async function () {
      const s = new Socket()
      await s.connect({ port: Number(__ENV.FAULT_PORT), host: "127.0.0.1", tls: true })
      console.log("CONNECTED")
    }
    """)
    with FaultServer("tls_stall") as server:
        before = open_fds()
        run = run_bounded(path, {"FAULT_PORT": str(server.port)}, bound=15)
        leaks = wait_for_no_leaks(before, {echo.port, server.port})
    assert run.crashed_threads == []
    assert "CONNECTED" not in run.output
    assert run.seconds < 6
    assert run.metrics.total("iterations") == 0
    assert leaks == []


def test_plain_bytes_where_tls_is_expected(fault):
    r = fault("garbage", """
    async function fault(events) {
      const s = new Socket()
      const closed = watch(s, events)
      const connect = await outcome(s.connect({ port: FAULT, host: HOST, tls: true }))
      const state = s.ready_state
      s.destroy()
      await closed
      await sleepMs(50)
      return { connect, state }
    }
    """)
    assert r.names() == ["error", "close"], r.events
    assert_tcp_error(r.events[0], "connect", "tls", "ssl", "wrong version", "record")
    assert r.first["connect"] == ["rejected", "TCPError", r.events[0][3]]
    assert r.first["state"] == "disconnected"
    assert r.total("tcp_errors") == 1
    assert r.total("tcp_sockets") == 1  # the echo iteration's only
    assert r.run.seconds < 10
