"""Wrong input everywhere: every public method of k6/x/tcp, scripts that break
the engine's limits, and every option flag of ``k6host run``.

Whatever goes in, the outcome is a rejection or a clear error that names the
problem: never a hang, never a Python traceback or a Python exception text
leaking into JavaScript, and the run goes on. Host names here are invalid by
construction, so resolving them never leaves the machine (glibc refuses
``exa mple`` without a query; ``a..b`` fails before any lookup).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from faultserver import free_port
from test_faults import open_fds, run_bounded, wait_for_no_leaks

MiB = 1 << 20
K6 = str(Path(sys.executable).with_name("k6")) if Path(sys.executable).with_name("k6").is_file() else None
# What a Python exception looks like once it has crossed into JavaScript.
PYTHON_LEAKS = ("Error while calling Python Function", "Traceback", "NoneType")

# -- one run, many probes -----------------------------------------------------------

PROBE_JS = """
import { Socket } from "k6/x/tcp"
const HOST = "127.0.0.1"
const P = Number(__ENV.TCP_ECHO_PORT)
const results = {}

function within(p, ms) {
  let timer
  const limit = new Promise((resolve) => { timer = setTimeout(() => resolve(null), ms) })
  return Promise.race([p, limit]).finally(() => clearTimeout(timer))
}

// How `fn(socket)` ended: resolved, rejected, threw (synchronously) or still
// pending after 3 s; what the error listener heard; the state afterwards.
async function probe(label, fn) {
  const s = new Socket()
  let heard = null
  s.on("error", (e) => { heard = e.message })
  const r = { how: null, name: null, message: null, listener: null, state: null }
  try {
    const p = Promise.resolve(fn(s))
    const settled = await within(p.then(
      () => ({ how: "resolved" }),
      (e) => ({ how: "rejected", name: e && e.name, message: e && String(e.message) })), 3000)
    Object.assign(r, settled || { how: "pending" })
  } catch (e) {
    Object.assign(r, { how: "threw", name: e && e.name, message: e && String(e.message) })
  }
  r.listener = heard
  r.state = s.ready_state
  s.destroy()
  results[label] = r
}
const open = async (s) => { await s.connect(P, HOST); return s }

export default async function () {
%(probes)s
  console.log("PROBES " + JSON.stringify(results))
}
"""

# label -> the JavaScript expression given as the port.
BAD_PORTS = {
    "true": "true", "array": "[80]", "empty-object": "{}", "null": "null", "undefined": "undefined",
    "function": "() => 80", "-1": "-1", "65536": "65536", "NaN": "NaN", "'abc'": "'abc'", "0": "0",
    "1.5": "1.5", "Infinity": "Infinity", "''": "''", "'8e3'": "'8e3'", "2**53": "2 ** 53", "'-1'": "'-1'",
    "'65536'": "'65536'",
}
# label -> (JavaScript expression given as the host, text the message must contain).
BAD_HOSTS = {
    "empty": ("''", "host"),
    "a..b": ("'a..b'", "a..b"),
    "exa mple": ("'exa mple'", "exa mple"),
    "254 chars": ("'a'.repeat(254)", "aaaaaaaaaa"),
    "64-char label": ("'a'.repeat(64) + '.test'", "aaaaaaaaaa"),
    "number": ("123", "123"),
    "object": ("{}", "host"),
    "boolean": ("true", "true"),
    "NUL inside": ("'a\\u0000b'", "a\x00b"),
}
BAD_DATA = {
    "number": "123", "null": "null", "undefined": "undefined", "object": "{}", "array": "[1, 2]",
    "boolean": "true", "symbol": "Symbol('x')", "function": "() => 'x'", "Date": "new Date(0)",
}
BAD_ENCODINGS = ["utf16le", "latin1", "binary", "", "base32", 5, {}]
UNDECODABLE = {
    "hex zzzz": ("zzzz", "hex"), "hex odd length": ("abc", "hex"), "base64 not!!base64": ("not!!base64", "base64"),
    "base64 one char": ("a", "base64"), "base64url with +/": ("ab+/", "base64url"),
}
# label -> JavaScript body of fn(s); the expected outcome is in the test.
STATES = {
    "write before connect": "(s) => s.write('x')",
    "connect while opening": "(s) => { s.connect(P, HOST).catch(() => {}); return s.connect(P, HOST) }",
    "connect when open": "async (s) => { await open(s); return s.connect(P, HOST) }",
    "connect after destroy": "(s) => { s.destroy(); return s.connect(P, HOST) }",
    "write after destroy": "async (s) => { await open(s); s.destroy(); return s.write('x') }",
    "connect bad tls option": "(s) => s.connect({ port: P, host: HOST, tls: 'yes' })",
    "connect tags not an object": "(s) => s.connect({ port: P, host: HOST, tags: 5 })",
    "write options not an object": "async (s) => { await open(s); return s.write('x', 5) }",
    "write tags not an object": "async (s) => { await open(s); return s.write('x', { tags: 5 }) }",
    "setTimeout(NaN)": "(s) => { s.setTimeout(NaN) }",
    "setTimeout('100')": "(s) => { s.setTimeout('100') }",
    "setTimeout()": "(s) => { s.setTimeout() }",
    "setTimeout(NaN) when open": "async (s) => { await open(s); s.setTimeout(NaN) }",
    "setTimeout(Infinity) then connect": "(s) => { s.setTimeout(Infinity); return s.connect(P, HOST) }",
    "setTimeout(Infinity) when open": "async (s) => { await open(s); s.setTimeout(Infinity) }",
    "on('data', 5)": "(s) => { s.on('data', 5) }",
    "on('data', null)": "(s) => { s.on('data', null) }",
    "on('data', 'fn')": "(s) => { s.on('data', 'fn') }",
    "on('close', {})": "(s) => { s.on('close', {}) }",
    "on('bogus', fn)": "(s) => { if (s.on('bogus', () => {}) !== undefined) throw new Error('on() returned something') }",
    "on(5, fn)": "(s) => { s.on(5, () => {}) }",
    "on() with nothing": "(s) => { s.on() }",
}


def _probe_calls() -> str:
    calls = []
    for label, expr in BAD_PORTS.items():
        calls.append(f"await probe({json.dumps('port ' + label)}, (s) => s.connect({expr}, HOST))")
    for label, (expr, _) in BAD_HOSTS.items():
        calls.append(f"await probe({json.dumps('host ' + label)}, (s) => s.connect(P, {expr}))")
    for label, expr in BAD_DATA.items():
        calls.append(f"await probe({json.dumps('data ' + label)}, async (s) => {{ await open(s); return s.write({expr}) }})")
    for enc in BAD_ENCODINGS:
        calls.append(
            f"await probe({json.dumps('encoding ' + json.dumps(enc))}, "
            f"async (s) => {{ await open(s); return s.write('6869', {{ encoding: {json.dumps(enc)} }}) }})"
        )
    for label, (text, enc) in UNDECODABLE.items():
        calls.append(
            f"await probe({json.dumps('decode ' + label)}, "
            f"async (s) => {{ await open(s); return s.write({json.dumps(text)}, {{ encoding: {json.dumps(enc)} }}) }})"
        )
    for label, body in STATES.items():
        calls.append(f"await probe({json.dumps('state ' + label)}, {body})")
    return textwrap.indent("\n".join(calls), "  ")


@pytest.fixture(scope="module")
def probes(tmp_path_factory, echo):
    path = tmp_path_factory.mktemp("probes") / "probes.js"
    path.write_text(PROBE_JS % {"probes": _probe_calls()})
    before = open_fds()
    run = run_bounded(path, {"TCP_ECHO_HOST": echo.host, "TCP_ECHO_PORT": str(echo.port)}, bound=120)
    leaks = wait_for_no_leaks(before, {echo.port})
    lines = [m for m in run.messages if m.startswith("PROBES ")]
    assert len(lines) == 1, f"the probe script did not finish:\n{run.output}"
    return {"results": json.loads(lines[0][len("PROBES "):]), "run": run, "leaks": leaks}


def result(probes, label: str) -> dict:
    r = probes["results"][label]
    text = json.dumps(r)
    assert not any(leak in text for leak in PYTHON_LEAKS), f"{label}: a Python error leaked into JavaScript: {r}"
    return r


def test_the_probe_run_itself_is_clean(probes):
    run = probes["run"]
    assert run.exit_code == 0, run.output
    assert run.crashed_threads == [], run.crashed_threads
    assert "Traceback" not in run.output
    assert probes["leaks"] == []
    assert run.seconds < 60


@pytest.mark.parametrize("label", list(BAD_PORTS))
def test_connect_rejects_a_bad_port(probes, label):
    r = result(probes, "port " + label)
    assert (r["how"], r["name"]) == ("rejected", "TCPError"), r
    assert r["message"].startswith("TCP error during connect: invalid port"), r
    assert r["state"] == "disconnected", r
    # When the error listener hears of it, it hears the same error.
    assert r["listener"] in (None, r["message"]), r


@pytest.mark.parametrize("label", list(BAD_HOSTS))
def test_connect_rejects_a_bad_host(probes, label):
    r = result(probes, "host " + label)
    assert (r["how"], r["name"]) == ("rejected", "TCPError"), r
    assert r["message"].startswith("TCP error during connect: "), r
    assert BAD_HOSTS[label][1] in r["message"], r
    assert r["state"] == "disconnected", r
    assert r["listener"] in (None, r["message"]), r


@pytest.mark.parametrize("label", list(BAD_DATA))
def test_write_rejects_data_of_a_wrong_type(probes, label):
    r = result(probes, "data " + label)
    assert (r["how"], r["name"]) == ("rejected", "TCPError"), r
    assert r["message"].startswith("TCP error during write: invalid data type"), r
    assert r["state"] == "open", r  # the connection survives a refused write


@pytest.mark.parametrize("enc", BAD_ENCODINGS, ids=[json.dumps(e) for e in BAD_ENCODINGS])
def test_write_rejects_an_unsupported_encoding(probes, enc):
    r = result(probes, "encoding " + json.dumps(enc))
    assert (r["how"], r["name"]) == ("rejected", "TCPError"), r
    assert "unsupported encoding" in r["message"], r
    assert r["listener"] == r["message"], r  # API.md: the error listener is called too
    assert r["state"] == "open", r


@pytest.mark.parametrize("label", list(UNDECODABLE))
def test_write_rejects_text_that_does_not_decode(probes, label):
    r = result(probes, "decode " + label)
    assert (r["how"], r["name"]) == ("rejected", "TCPError"), r
    assert UNDECODABLE[label][1] in r["message"], r
    assert r["listener"] == r["message"], r
    assert r["state"] == "open", r


STATE_EXPECTATIONS = {
    # label: (how, error name, text in the message, state afterwards)
    "write before connect": ("rejected", "TCPError", "no active connection", "disconnected"),
    "connect while opening": ("rejected", "TCPError", "opening", None),
    "connect when open": ("rejected", "TCPError", "already open", "open"),
    "connect after destroy": ("rejected", "TCPError", "destroyed", "destroyed"),
    "write after destroy": ("rejected", "TCPError", "destroyed", "destroyed"),
    "connect bad tls option": ("rejected", "TCPError", "tls", "disconnected"),
    "connect tags not an object": ("rejected", None, "tags", "disconnected"),
    "write options not an object": ("rejected", None, "options", "open"),
    "write tags not an object": ("rejected", None, "tags", "open"),
    "setTimeout(NaN)": ("threw", "TypeError", "setTimeout", "disconnected"),
    "setTimeout('100')": ("threw", "TypeError", "setTimeout", "disconnected"),
    "setTimeout()": ("threw", "TypeError", "setTimeout", "disconnected"),
    "setTimeout(NaN) when open": ("rejected", "TypeError", "setTimeout", "open"),
    "on('data', 5)": ("threw", "TypeError", "listener", "disconnected"),
    "on('data', null)": ("threw", "TypeError", "listener", "disconnected"),
    "on('data', 'fn')": ("threw", "TypeError", "listener", "disconnected"),
    "on('close', {})": ("threw", "TypeError", "listener", "disconnected"),
    "on('bogus', fn)": ("resolved", None, None, "disconnected"),
    "on(5, fn)": ("resolved", None, None, "disconnected"),
    "on() with nothing": ("resolved", None, None, "disconnected"),
}


@pytest.mark.parametrize("label", list(STATE_EXPECTATIONS))
def test_methods_in_the_wrong_state_or_with_wrong_arguments(probes, label):
    r = result(probes, "state " + label)
    how, name, text, state = STATE_EXPECTATIONS[label]
    assert r["how"] == how, r
    if name is not None:
        assert r["name"] == name, r
    if text is not None:
        assert text in r["message"], r
    if state is not None:
        assert r["state"] == state, r


def test_unknown_event_names_are_warned_about(probes):
    warnings = [m for m in probes["run"].messages if "unknown event" in m]
    assert any('"bogus"' in m for m in warnings), warnings
    assert any('"5"' in m for m in warnings), warnings


@pytest.mark.parametrize("label", ["setTimeout(Infinity) then connect", "setTimeout(Infinity) when open"])
def test_set_timeout_infinity_is_refused_clearly_or_means_no_timeout(probes, label):
    r = result(probes, "state " + label)
    if r["how"] in ("threw", "rejected"):
        assert r["name"] in ("TypeError", "RangeError") and "setTimeout" in r["message"], r
    else:
        assert r["how"] == "resolved" and r["state"] == "open", r


# -- focused runs --------------------------------------------------------------------------


def test_refused_writes_are_counted(run_js):
    r = run_js("""
    import { Socket } from "k6/x/tcp"
    export default async function () {
      const s = new Socket()
      s.on("error", () => {})
      await s.connect(Number(__ENV.TCP_ECHO_PORT), __ENV.TCP_ECHO_HOST)
      const out = []
      for (const [data, encoding] of [["6869", "utf16le"], ["zz", "hex"], ["!!", "base64"]]) {
        out.push(await s.write(data, { encoding }).then(() => "resolved", (e) => e.name))
      }
      s.destroy()
      report(out)
    }
    """)
    assert r.report() == ["TCPError", "TCPError", "TCPError"]
    assert r.metrics.total("tcp_errors") == 3  # write preparation errors
    assert r.metrics.total("tcp_writes") == 3  # failed ones included
    assert r.metrics.total("data_sent") == 0


def test_zero_byte_writes_resolve_and_the_connection_goes_on(run_js):
    r = run_js("""
    import { Socket } from "k6/x/tcp"
    export default async function () {
      const s = new Socket()
      const got = new Promise((resolve) => s.on("data", (d) => resolve(String.fromCharCode.apply(null, d))))
      await s.connect(Number(__ENV.TCP_ECHO_PORT), __ENV.TCP_ECHO_HOST)
      const out = []
      for (const empty of ["", new Uint8Array(0), new ArrayBuffer(0), "", ""]) {
        out.push(await s.write(empty).then(() => "resolved", (e) => "rejected " + e.message))
      }
      out.push(s.bytes_written)
      await s.write("after")
      out.push(await got, s.bytes_written)
      s.destroy()
      report(out)
    }
    """)
    assert r.report() == ["resolved"] * 5 + [0, "after", 5]
    assert r.metrics.total("tcp_errors") == 0


ECHO_BIG = """
import { Socket } from "k6/x/tcp"
export default async function () {
  const SIZE = %(size)d
  const s = new Socket()
  let echoed = 0, wrong = -1, done
  const all = new Promise((resolve) => { done = resolve })
  s.on("data", (d) => {
    if (wrong < 0 && (d[0] !== 120 || d[d.length - 1] !== 120)) wrong = echoed
    echoed += d.length
    if (echoed >= SIZE) done()
  })
  s.on("close", () => done())
  await s.connect(Number(__ENV.TCP_ECHO_PORT), __ENV.TCP_ECHO_HOST)
  const started = Date.now()
  const payload = %(payload)s
  let write
  try { await s.write(payload); write = "resolved" } catch (e) { write = "rejected " + e.name + ": " + e.message }
  const wrote = Date.now() - started
  if (write === "resolved") await all
  console.log("REPORT " + JSON.stringify({ write, wrote, echoed, wrong, total: Date.now() - started }))
  s.destroy()
}
"""


def _echo_big(tmp_path, echo, size: int, payload: str, bound: float):
    path = tmp_path / "big.js"
    path.write_text(ECHO_BIG % {"size": size, "payload": payload})
    run = run_bounded(path, {"TCP_ECHO_HOST": echo.host, "TCP_ECHO_PORT": str(echo.port)}, bound)
    assert "Traceback" not in run.output and run.crashed_threads == [], run.crashed_threads
    (report,) = run.reported()
    print(f"{size // MiB} MiB: {report}")
    return run, report


def test_a_100mib_write_to_the_echo_server_completes(tmp_path, echo):
    size = 100 * MiB
    run, report = _echo_big(tmp_path, echo, size, "'x'.repeat(SIZE)", bound=120)
    assert report["write"] == "resolved", report
    assert report["echoed"] == size and report["wrong"] == -1, report
    assert report["total"] < 60_000, report
    assert run.metrics.total("data_sent") == size


def test_turning_bytes_into_a_write_is_linear(run_js):
    """Bytes cross to Python as latin-1 text, built before write() returns.

    For a string that step is the crossing alone; for a Uint8Array of the
    same size it must cost about as much, not grow with the square of it.
    """
    r = run_js("""
    import { Socket } from "k6/x/tcp"
    export default async function () {
      const SIZE = 16 * 1024 * 1024
      const times = {}
      for (const kind of ["string", "bytes", "string", "bytes"]) {
        const s = new Socket()
        let echoed = 0, done
        const all = new Promise((resolve) => { done = resolve })
        s.on("data", (d) => { echoed += d.length; if (echoed >= SIZE) done() })
        await s.connect(Number(__ENV.TCP_ECHO_PORT), __ENV.TCP_ECHO_HOST)
        const payload = kind === "bytes" ? new Uint8Array(SIZE).fill(120) : "x".repeat(SIZE)
        const started = Date.now()
        const write = s.write(payload)
        const took = Date.now() - started // conversion and crossing happen before write() returns
        times[kind] = Math.min(times[kind] || Infinity, took)
        await write
        await all
        s.destroy()
      }
      report(times)
    }
    """)
    times = r.report()
    print(f"16 MiB write() call: {times}")
    assert times["bytes"] < 3 * times["string"] + 500, f"string {times['string']} ms, Uint8Array {times['bytes']} ms"


@pytest.mark.parametrize("event", ["connect", "data", "error", "close", "timeout"])
def test_a_listener_that_throws_fails_only_its_iteration(run_js, event):
    port = free_port()
    r = run_js(f"""
    import {{ Socket }} from "k6/x/tcp"
    export const options = {{ iterations: 2 }}
    export default async function () {{
      if (__ITER === 1) {{ console.log("SECOND ITERATION RAN"); return }}
      const s = new Socket()
      s.on("{event}", () => {{ throw new Error("boom from the {event} listener") }})
      s.setTimeout(50)
      if ("{event}" === "error") await s.connect({port}, "127.0.0.1").catch(() => {{}})
      else await s.connect(Number(__ENV.TCP_ECHO_PORT), __ENV.TCP_ECHO_HOST)
      if ("{event}" === "data") await s.write("x")
      if ("{event}" === "close") s.destroy()
      await new Promise((resolve) => setTimeout(resolve, 300))
      console.log("FIRST ITERATION WENT ON")
      s.destroy()
    }}
    """)
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    assert len(r.errors) == 1 and f"boom from the {event} listener" in r.errors[0], r.errors
    assert "FIRST ITERATION WENT ON" not in r.messages
    assert "SECOND ITERATION RAN" in r.messages
    assert r.metrics.total("iterations") == 2


# -- the engine's limits, in a subprocess (a crash must not take pytest with it) -----------


def _k6host_run(script: Path, *flags: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "k6host", "run", "--no-color", *flags, str(script)],
        capture_output=True, text=True, check=False, timeout=timeout, cwd=script.parent,
        env={**os.environ, "K6_NO_USAGE_REPORT": "true"},
    )


LIMITS = {
    "out of memory": (
        "let a = []\n  while (true) a.push(new Array(1e5).fill(1))",
        ("InternalError", "out of memory"),
    ),
    "out of memory, async": (
        "await null\n  let a = []\n  while (true) a.push('x'.repeat(1e6) + a.length)",
        ("InternalError", "out of memory"),
    ),
    "stack overflow": (
        "const f = (n) => f(n + 1) + 1\n  f(0)",
        ("RangeError", "Maximum call stack size exceeded"),
    ),
}


@pytest.mark.parametrize("label", list(LIMITS))
def test_engine_limits_fail_the_iteration_and_the_run_goes_on(tmp_path, label):
    body, (name, text) = LIMITS[label]
    script = tmp_path / "limit.js"
    script.write_text(f"""
export const options = {{ iterations: 2 }}
export default async function () {{
  if (__ITER === 1) {{
    const room = new Array(4e6).fill(7)  // the memory of the first iteration is back
    console.log("SECOND ITERATION RAN " + room.length)
    return
  }}
  {body}
}}
""")
    started = time.monotonic()
    done = _k6host_run(script)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == 0, done.stderr  # k6: a failed iteration does not fail the run
    errors = [line for line in done.stderr.splitlines() if "level=error" in line]
    assert len(errors) == 1 and name in errors[0] and text in errors[0], done.stderr
    assert "SECOND ITERATION RAN 4000000" in done.stderr
    assert "TOTAL RESULTS" in done.stdout
    assert time.monotonic() - started < 60


def test_a_busy_loop_is_stopped_by_sigint(tmp_path):
    """1 VU in `while (true) {}`: SIGINT must still stop the run, print the summary, exit 105.

    dukpy never releases the GIL and Python handles signals only on the main
    thread, so this needs the host to interrupt the engine some other way.
    """
    script = tmp_path / "busy.js"
    script.write_text("""
export const options = { vus: 1, duration: "10m" }
export default function () {
  console.log("LOOPING")
  while (true) {}
}
export function teardown() { console.log("TEARDOWN RAN") }
""")
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "k6host", "run", "--no-color", str(script)],
            stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while "LOOPING" not in err.read_text():
                assert process.poll() is None and time.monotonic() < deadline, err.read_text()
                time.sleep(0.05)
            time.sleep(0.5)
            os.killpg(process.pid, signal.SIGINT)
            sent = time.monotonic()
            try:
                code = process.wait(10)
            except subprocess.TimeoutExpired:
                code = None
            took = time.monotonic() - sent
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
    assert code is not None, f"still running {took:.0f}s after SIGINT (killed):\n{err.read_text()[-2000:]}"
    assert code == 105, err.read_text()
    assert "TOTAL RESULTS" in out.read_text()
    assert "Traceback" not in err.read_text()


# -- the command line ------------------------------------------------------------------------------

# flag -> (the arguments, text the message must contain)
BAD_FLAGS = {
    "--vus abc": (["--vus", "abc"], "abc"),
    "--duration xyz": (["--duration", "xyz"], "xyz"),
    "--iterations -1": (["--iterations", "-1"], "-1"),
    "--stage bad": (["--stage", "bad"], "bad"),
    "--tag novalue": (["--tag", "novalue"], "novalue"),
    "--out bogus=x": (["--out", "bogus=x"], "bogus"),
    "--summary-export into a missing folder": (["--summary-export", "/nonexistent/dir/f.json"], "/nonexistent/dir/f.json"),
    "--config missing.json": (["--config", "missing.json"], "missing.json"),
    "--summary-trend-stats p(abc)": (["--summary-trend-stats", "p(abc)"], "p(abc)"),
    "--duration=-5s": (["--duration=-5s"], "duration"),
    "--stage 10s:abc": (["--stage", "10s:abc"], "abc"),
    "--out json into a missing folder": (["--out", "json=/nonexistent/dir/x.json"], "/nonexistent/dir/x.json"),
}
# k6 1.1.0's exit codes for the same flags, measured; used when no k6 binary is at hand.
# --summary-export is an error k6 only logs: the test ran, so k6 exits 0.
K6_EXIT_CODES = {
    "--vus abc": 255, "--duration xyz": 255, "--iterations -1": 104, "--stage bad": 255, "--tag novalue": 255,
    "--out bogus=x": 255, "--summary-export into a missing folder": 0, "--config missing.json": 104,
    "--summary-trend-stats p(abc)": 255, "--duration=-5s": 104, "--stage 10s:abc": 255,
    "--out json into a missing folder": 255,
}


def _k6_exit_code(label: str, args: list[str], script: Path) -> int:
    if K6 is None:
        return K6_EXIT_CODES[label]
    done = subprocess.run(
        [K6, "run", "--address", "", "--no-color", "-q", *args, str(script)],
        capture_output=True, text=True, check=False, timeout=60, cwd=script.parent,
        env={**os.environ, "K6_NO_USAGE_REPORT": "true"},
    )
    return done.returncode


@pytest.mark.parametrize("label", list(BAD_FLAGS))
def test_a_bad_flag_value_is_named_and_exits_as_k6_does(tmp_path, label):
    args, text = BAD_FLAGS[label]
    script = tmp_path / "ok.js"
    script.write_text("export default function () {}\n")
    done = _k6host_run(script, "-q", *args, timeout=60)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert text in done.stderr, f"the message does not name {text!r}:\n{done.stderr}"
    expected = _k6_exit_code(label, args, script)
    assert done.returncode == expected, f"exit {done.returncode}, k6 exits {expected}:\n{done.stderr}"
    if expected != 0:
        assert "TOTAL RESULTS" not in done.stdout  # refused before the test ran
