"""The k6/x/tcp contract (../shared/API.md), point by point, over real sockets."""

from __future__ import annotations

import pytest

from faultserver import FaultServer, free_port

# Helpers prepended to scripts that need them: connect to the echo server and
# collect what comes back until `n` bytes have arrived.
ECHO = """
import { Socket } from "k6/x/tcp"
const HOST = __ENV.TCP_ECHO_HOST, PORT = Number(__ENV.TCP_ECHO_PORT)
function collect(socket, n) {
  return new Promise((resolve, reject) => {
    const parts = []
    let total = 0
    socket.on("data", (d) => {
      parts.push(...d)
      total += d.length
      if (total >= n) resolve(parts)
    })
    socket.on("error", reject)
  })
}
"""


def tags_of(run, metric):
    return [s.tags for s in run.metrics.of(metric)]


# -- importing ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["s.js", "s.cjs"])
def test_commonjs_and_esm_see_one_socket_class(run_js, name):
    if name.endswith(".cjs"):
        source = """
        const tcp = require("k6/x/tcp")
        exports.default = function () { report(typeof tcp.Socket === "function" && new tcp.Socket().ready_state) }
        """
    else:
        source = """
        import { Socket } from "k6/x/tcp"
        import tcp from "k6/x/tcp"
        const t3 = require("k6/x/tcp")
        export default function () { report(Socket === tcp.Socket && tcp.Socket === t3.Socket && new Socket().ready_state) }
        """
    r = run_js(source, name=name)
    assert r.exit_code == 0, r.output
    assert r.report() == "disconnected"


# -- constructor and state ------------------------------------------------------


def test_new_socket_opens_nothing(run_js, echo):
    r = run_js(ECHO + """
    export default function () {
      const s = new Socket({ tags: { a: "1" } })
      report([s.ready_state, s.connected, s.bytes_read, s.bytes_written, s.local_ip, s.remote_port])
    }
    """)
    assert r.report() == ["disconnected", False, 0, 0, None, None]
    assert r.metrics.of("tcp_sockets") == []


def test_constructor_rejects_non_object_options(run_js):
    r = run_js(ECHO + """
    export default function () {
      const out = []
      for (const bad of [5, "x", [1]]) {
        try { new Socket(bad); out.push("no error") } catch (e) { out.push(e.name) }
      }
      report(out)
    }
    """)
    assert r.report() == ["TypeError", "TypeError", "TypeError"]


# -- connect ----------------------------------------------------------------------


def test_connect_forms_and_properties(run_js, echo):
    r = run_js(ECHO + """
    export default async function () {
      const out = []
      const a = new Socket()
      const p = a.connect(PORT, HOST)
      out.push(a.ready_state)
      await p
      out.push(a.ready_state, a.connected, a.remote_ip, a.remote_port, a.local_ip, typeof a.local_port)
      a.destroy()
      const b = new Socket()
      await b.connect({ port: String(PORT), host: HOST })
      out.push(b.ready_state)
      b.destroy()
      const c = new Socket()
      await c.connect(String(PORT), null)   // host null means localhost
      out.push(c.ready_state, ["127.0.0.1", "::1"].includes(c.remote_ip))
      c.destroy()
      report(out)
    }
    """)
    assert r.exit_code == 0, r.output
    assert r.report() == [
        "opening", "open", True, "127.0.0.1", echo.port, "127.0.0.1", "number", "open", "open", True,
    ]


@pytest.mark.parametrize("arg", ["true", "[8080]", "{}", "'abc'", "undefined", "() => 1"])
def test_connect_with_a_bad_port_rejects_without_throwing(run_js, arg):
    r = run_js(ECHO + f"""
    export default async function () {{
      const s = new Socket()
      let p
      try {{ p = s.connect({arg}, HOST) }} catch (e) {{ report("threw synchronously"); return }}
      try {{ await p; report("resolved") }} catch (e) {{ report([e.name, s.ready_state]) }}
    }}
    """)
    assert r.report() == ["TCPError", "disconnected"]


def test_refused_connection_rejects_calls_error_listener_and_counts(run_js):
    port = free_port()
    r = run_js(ECHO + f"""
    export default async function () {{
      const s = new Socket()
      const seen = []
      s.on("error", (e) => seen.push(["listener", e.name, e.method, e instanceof Error, String(e)]))
      s.on("close", () => seen.push(["close"]))
      try {{ await s.connect({port}, "127.0.0.1") }} catch (e) {{ seen.push(["rejected", e.name, e.message]) }}
      seen.push([s.ready_state])
      report(seen)
    }}
    """)
    seen = r.report()
    assert seen[0][:4] == ["listener", "TCPError", "connect", True]
    assert seen[0][4].startswith("TCPError: TCP error during connect:")
    assert "connection refused" in seen[0][4]
    assert seen[1][0:2] == ["rejected", "TCPError"]
    assert seen[2] == ["disconnected"]  # no close: the socket never opened and was not destroyed
    assert r.metrics.total("tcp_errors") == 1
    assert r.metrics.of("tcp_sockets") == []


def test_refused_connection_rejects_without_error_listener(run_js):
    r = run_js(ECHO + f"""
    export default async function () {{
      try {{ await new Socket().connect({free_port()}, "127.0.0.1"); report("resolved") }}
      catch (e) {{ report(e.method) }}
    }}
    """)
    assert r.report() == "connect"


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_out_of_range_port_is_a_tcp_error(run_js, port):
    r = run_js(ECHO + f"""
    export default async function () {{
      const s = new Socket()
      let listener = null
      s.on("error", (e) => {{ listener = e.name }})
      try {{ await s.connect({port}, "127.0.0.1"); report("resolved") }}
      catch (e) {{ report([e.name, listener, e.message.includes("port")]) }}
    }}
    """)
    assert r.report() == ["TCPError", "TCPError", True]


def test_unresolvable_host_rejects(run_js):
    r = run_js(ECHO + """
    export default async function () {
      try { await new Socket().connect(80, "no-such-host.invalid"); report("resolved") }
      catch (e) { report([e.name, e.message.includes("no-such-host.invalid")]) }
    }
    """)
    assert r.report() == ["TCPError", True]


def test_connect_listener_runs_before_promise_resolves(run_js):
    r = run_js(ECHO + """
    export default async function () {
      const s = new Socket()
      const order = []
      s.on("connect", () => order.push("listener:" + s.ready_state))
      await s.connect(PORT, HOST)
      order.push("resolved")
      s.destroy()
      report(order)
    }
    """)
    assert r.report() == ["listener:open", "resolved"]


def test_connect_twice_rejects(run_js):
    r = run_js(ECHO + """
    export default async function () {
      const s = new Socket()
      await s.connect(PORT, HOST)
      try { await s.connect(PORT, HOST); report("resolved") } catch (e) { report([e.name, s.ready_state]) }
      s.destroy()
    }
    """)
    assert r.report() == ["TCPError", "open"]


# -- write ------------------------------------------------------------------------


def test_all_byte_values_survive_a_round_trip(run_js):
    r = run_js(ECHO + """
    export default async function () {
      const s = new Socket()
      await s.connect(PORT, HOST)
      const got = collect(s, 256)
      const all = new Uint8Array(256).map((_, i) => i)
      await s.write(all)
      report(Array.from(await got))
      s.destroy()
    }
    """)
    assert r.report() == list(range(256))


def test_one_mebibyte_write_arrives_intact(run_js):
    r = run_js(ECHO + """
    export default async function () {
      const s = new Socket()
      await s.connect(PORT, HOST)
      const n = 1 << 20
      const data = new Uint8Array(n).map((_, i) => (i * 7 + (i >> 8)) & 255)
      let total = 0, mismatches = 0
      const done = new Promise((resolve) => {
        s.on("data", (d) => {
          for (let i = 0; i < d.length; i++) if (d[i] !== data[total + i]) mismatches++
          total += d.length
          if (total >= n) resolve()
        })
      })
      await s.write(data)
      await done
      report([total, mismatches, s.bytes_written, s.bytes_read])
      s.destroy()
    }
    """)
    n = 1 << 20
    assert r.report() == [n, 0, n, n]
    assert r.metrics.total("data_sent") == n
    assert r.metrics.total("data_received") == n


@pytest.mark.parametrize(
    "data,options,expected",
    [
        ('"héllo"', "undefined", list("héllo".encode())),
        ('"héllo"', '{ encoding: "UTF-8" }', list("héllo".encode())),
        ('"abc"', '{ encoding: "ascii" }', [97, 98, 99]),
        ('"AP8Q"', '{ encoding: "base64" }', [0, 255, 16]),
        ('"_-8"', '{ encoding: "base64url" }', [255, 239]),
        ('"_-8="', '{ encoding: "Base64URL" }', [255, 239]),
        ('"00ff7f"', '{ encoding: "hex" }', [0, 255, 127]),
        ("new Uint8Array([1, 2, 3]).buffer", "undefined", [1, 2, 3]),
        ("new Uint16Array([0x0102])", "undefined", [2, 1]),
        ("new DataView(new Uint8Array([9, 8, 7, 6]).buffer, 1, 2)", "undefined", [8, 7]),
        ("new Uint8Array([5, 6, 7, 8, 9]).subarray(1, 3)", "undefined", [6, 7]),
    ],
)
def test_write_inputs_and_encodings(run_js, data, options, expected):
    r = run_js(ECHO + f"""
    export default async function () {{
      const s = new Socket()
      await s.connect(PORT, HOST)
      const got = collect(s, {len(expected)})
      await s.write({data}, {options})
      report(Array.from(await got))
      s.destroy()
    }}
    """)
    assert r.exit_code == 0, r.output
    assert r.report() == expected


@pytest.mark.parametrize(
    "data,options,words",
    [
        ('"zzzz"', '{ encoding: "hex" }', "hex"),
        ('"abc"', '{ encoding: "hex" }', "hex"),
        ('"not!!base64"', '{ encoding: "base64" }', "base64"),
        ('"abc"', '{ encoding: "utf16" }', "encoding"),
        ('"é"', '{ encoding: "ascii" }', "ascii"),
        ("42", "undefined", "data"),
        ("null", "undefined", "data"),
        ("[1, 2]", "undefined", "data"),
        ("{}", "undefined", "data"),
    ],
)
def test_bad_write_rejects_and_tells_error_listener(run_js, data, options, words):
    r = run_js(ECHO + f"""
    export default async function () {{
      const s = new Socket()
      await s.connect(PORT, HOST)
      let listener = null
      s.on("error", (e) => {{ listener = e.method }})
      let p
      try {{ p = s.write({data}, {options}) }} catch (e) {{ report("threw"); return }}
      try {{ await p; report("resolved") }} catch (e) {{ report([e.name, e.method, listener, e.message]) }}
      s.destroy()
    }}
    """)
    name, method, listener, message = r.report()
    assert (name, method, listener) == ("TCPError", "write", "write")
    assert words in message
    assert r.metrics.total("tcp_writes") == 1
    assert r.metrics.total("tcp_errors") == 1


def test_write_before_connect_and_after_destroy_reject(run_js):
    r = run_js(ECHO + """
    export default async function () {
      const s = new Socket()
      const out = []
      try { await s.write("x"); out.push("resolved") } catch (e) { out.push(e.message) }
      await s.connect(PORT, HOST)
      s.destroy()
      try { await s.write("x"); out.push("resolved") } catch (e) { out.push(e.message) }
      try { await s.connect(PORT, HOST); out.push("resolved") } catch (e) { out.push(e.message) }
      report(out)
    }
    """)
    before, after, reconnect = r.report()
    assert "no active connection" in before
    assert "destroyed" in after
    assert "destroyed" in reconnect


def test_writes_arrive_in_call_order(run_js):
    r = run_js(ECHO + """
    export default async function () {
      const s = new Socket()
      await s.connect(PORT, HOST)
      const chunks = []
      for (let i = 0; i < 50; i++) chunks.push(String.fromCharCode(65 + (i % 26)).repeat(1000 + i))
      const total = chunks.reduce((n, c) => n + c.length, 0)
      const got = collect(s, total)
      await Promise.all(chunks.map((c) => s.write(c)))
      report(String.fromCharCode.apply(null, await got) === chunks.join(""))
      s.destroy()
    }
    """)
    assert r.report() is True


# -- destroy and close ----------------------------------------------------------------


def test_destroy_twice_gives_one_close(run_js):
    r = run_js(ECHO + """
    export default async function () {
      const s = new Socket()
      let closes = 0
      s.on("close", () => closes++)
      await s.connect(PORT, HOST)
      s.destroy()
      s.destroy()
      await new Promise((r) => setTimeout(r, 20))
      s.destroy()
      report([closes, s.ready_state, s.connected])
    }
    """)
    assert r.report() == [1, "destroyed", False]
    assert len(r.metrics.of("tcp_socket_duration")) == 1


def test_close_runs_for_a_socket_that_never_connected(run_js):
    r = run_js(ECHO + """
    export default async function () {
      const s = new Socket()
      let closes = 0
      s.on("close", () => closes++)
      s.destroy()
      await new Promise((r) => setTimeout(r, 10))
      report([closes, s.ready_state])
    }
    """)
    assert r.report() == [1, "destroyed"]


def test_destroy_while_connecting_rejects_connect_and_closes(run_js):
    r = run_js(ECHO + """
    export default async function () {
      const s = new Socket()
      const seen = []
      s.on("close", () => seen.push("close"))
      s.on("connect", () => seen.push("connect"))
      const p = s.connect(PORT, HOST)
      s.destroy()
      try { await p; seen.push("resolved") } catch (e) { seen.push("rejected") }
      await new Promise((r) => setTimeout(r, 50))
      report(seen)
    }
    """)
    # destroy() queues close before the await below subscribes to the rejection.
    assert r.report() == ["close", "rejected"]


def test_no_data_after_destroy(run_js):
    r = run_js(ECHO + """
    export default async function () {
      const s = new Socket()
      let after = 0, destroyed = false
      s.on("data", () => { if (destroyed) after++ })
      await s.connect(PORT, HOST)
      await s.write("x".repeat(100000))
      s.destroy()
      destroyed = true
      await new Promise((r) => setTimeout(r, 50))
      report(after)
    }
    """)
    assert r.report() == 0


def test_peer_close_is_close_not_error(run_js):
    with FaultServer("close_after_message") as server:
        r = run_js(ECHO + f"""
        export default async function () {{
          const s = new Socket()
          const seen = []
          const closed = new Promise((resolve) => s.on("close", () => {{ seen.push("close:" + s.ready_state); resolve() }}))
          s.on("error", (e) => seen.push("error"))
          s.on("data", (d) => seen.push("data:" + d.length))
          await s.connect({server.port}, "127.0.0.1")
          await s.write("hello")
          await closed
          report(seen)
        }}
        """)
    assert r.report() == ["data:5", "close:destroyed"]
    assert r.metrics.total("tcp_errors") == 0


def test_reset_is_error_then_close(run_js):
    with FaultServer("reset_after:5") as server:
        r = run_js(ECHO + f"""
        export default async function () {{
          const s = new Socket()
          const seen = []
          const closed = new Promise((resolve) => s.on("close", () => {{ seen.push("close"); resolve() }}))
          s.on("error", (e) => seen.push(["error", e.method, e.message]))
          await s.connect({server.port}, "127.0.0.1")
          await s.write("hello")
          await closed
          report(seen)
        }}
        """)
    seen = r.report()
    assert seen[-1] == "close" and len(seen) == 2, seen
    assert seen[0][:2] == ["error", "read"]
    assert "reset" in seen[0][2]
    assert r.metrics.total("tcp_errors") == 1


# -- on() -------------------------------------------------------------------------


def test_replaced_listener_is_not_called(run_js):
    r = run_js(ECHO + """
    export default async function () {
      const s = new Socket()
      const calls = []
      s.on("data", () => calls.push("first"))
      const got = new Promise((resolve) => s.on("data", (d) => { calls.push("second"); resolve() }))
      await s.connect(PORT, HOST)
      await s.write("x")
      await got
      s.destroy()
      report(calls)
    }
    """)
    assert r.report() == ["second"]


def test_unknown_event_warns_and_is_ignored(run_js):
    r = run_js(ECHO + """
    export default function () {
      const s = new Socket()
      report(s.on("nope", () => {}))
    }
    """)
    assert r.exit_code == 0
    assert any("nope" in m for m in r.messages)
    assert "level=warning" in r.output


def test_listener_that_is_not_a_function_throws_type_error(run_js):
    r = run_js(ECHO + """
    export default function () {
      try { new Socket().on("data", 5); report("no error") } catch (e) { report([e.name, e.message.includes("function")]) }
    }
    """)
    assert r.report() == ["TypeError", True]


def test_listener_exception_fails_the_iteration_not_the_process(run_js):
    r = run_js(ECHO + """
    export default async function () {
      const s = new Socket()
      s.on("connect", () => { throw new Error("listener boom") })
      await s.connect(PORT, HOST)
      await new Promise((r) => setTimeout(r, 5000))
      report("not reached")
    }
    """)
    assert r.exit_code == 0
    assert r.reported() == []
    assert len(r.errors) == 1 and "listener boom" in r.errors[0]
    assert "script.js:" in r.errors[0]


def test_fifty_sockets_at_once_in_one_vu(run_js):
    r = run_js(ECHO + """
    export default async function () {
      const one = async (i) => {
        const s = new Socket()
        await s.connect(PORT, HOST)
        const got = collect(s, String(i).length + 4)
        await s.write("msg-" + i)
        const text = String.fromCharCode.apply(null, await got)
        s.destroy()
        return text === "msg-" + i
      }
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => one(i)))
      report(results.filter(Boolean).length)
    }
    """)
    assert r.report() == 50
    assert r.metrics.total("tcp_sockets") == 50


# -- setTimeout ---------------------------------------------------------------------


def test_idle_timeout_repeats_and_data_rearms(run_js):
    r = run_js(ECHO + """
    export default async function () {
      const s = new Socket()
      const events = []
      const t0 = Date.now()
      const done = new Promise((resolve) => {
        s.on("timeout", () => {
          events.push(["timeout", Date.now() - t0])
          if (events.filter((e) => e[0] === "timeout").length === 3) { s.destroy(); resolve() }
        })
      })
      s.on("data", () => events.push(["data", Date.now() - t0]))
      report(s.setTimeout(100) === s)
      await s.connect(PORT, HOST)
      await new Promise((r) => setTimeout(r, 60))
      await s.write("x")        // data at ~60 ms pushes the first timeout to ~160 ms
      await done
      report(events)
    }
    """)
    chained, events = r.reported()
    assert chained is True
    kinds = [e[0] for e in events]
    assert kinds == ["data", "timeout", "timeout", "timeout"]
    first_timeout = events[1][1]
    assert first_timeout >= 150  # re-armed by the data, not 100 ms after connect
    assert r.metrics.total("tcp_timeouts") == 3


def test_timeout_zero_disables(run_js):
    r = run_js(ECHO + """
    export default async function () {
      const s = new Socket()
      let timeouts = 0
      s.on("timeout", () => timeouts++)
      s.setTimeout(50)
      await s.connect(PORT, HOST)
      s.setTimeout(0)
      await new Promise((r) => setTimeout(r, 200))
      s.destroy()
      report(timeouts)
    }
    """)
    assert r.report() == 0


def test_set_timeout_rejects_nan(run_js):
    r = run_js(ECHO + """
    export default function () {
      const out = []
      for (const bad of [NaN, "100", undefined]) {
        try { new Socket().setTimeout(bad); out.push("ok") } catch (e) { out.push(e.name) }
      }
      report(out)
    }
    """)
    assert r.report() == ["TypeError", "TypeError", "TypeError"]


# -- metrics and tags -----------------------------------------------------------------


def test_metrics_and_tags_at_three_levels(run_js, echo):
    r = run_js(ECHO + """
    export default async function () {
      const s = new Socket({ tags: { level: "socket", service: "echo" } })
      const got = collect(s, 2)
      await s.connect({ port: PORT, host: HOST, tags: { level: "connection" } })
      await s.write("hi", { tags: { level: "write", kind: "greeting" } })
      await got
      s.destroy()
    }
    """)
    assert r.exit_code == 0, r.output
    base = {
        "proto": "TCP", "host": echo.host, "port": str(echo.port), "service": "echo",
        "scenario": "default", "group": "",  # k6's system tags, from the VU
    }
    (connected,) = tags_of(r, "tcp_sockets")
    assert connected == {**base, "level": "connection", "remote_ip": "127.0.0.1"}
    (write,) = tags_of(r, "tcp_writes")
    assert write == {**base, "level": "write", "kind": "greeting", "remote_ip": "127.0.0.1"}
    for name in ("tcp_socket_resolving", "tcp_socket_connecting", "tcp_socket_duration", "tcp_reads", "data_sent", "data_received"):
        assert r.metrics.of(name), name
        assert all(t["proto"] == "TCP" and t["service"] == "echo" for t in tags_of(r, name)), name
    assert r.metrics.total("data_sent") == 2
    assert r.metrics.total("data_received") == 2
    assert r.metrics.total("tcp_writes") == 1
    (duration,) = r.metrics.of("tcp_socket_duration")
    assert duration.value >= 0



def test_events_wait_for_pending_promise_jobs(run_js):
    # The echo of each write arrives at once; its data listener must still run
    # only after the code after `await socket.write()` has set up the wait.
    r = run_js(ECHO + """
    export default async function () {
      const s = new Socket()
      let waiting = null
      let early = 0
      s.on("data", () => {
        if (waiting === null) early++
        const w = waiting
        waiting = null
        if (w) w()
      })
      await s.connect(PORT, HOST)
      for (let i = 0; i < 20; i++) {
        await s.write("ping")
        await new Promise((resolve) => { waiting = resolve })
      }
      s.destroy()
      report(early)
    }
    """)
    assert r.exit_code == 0, r.output
    assert r.report() == 0
