"""The classic k6/x/tcp API (github.com/NAlexandrov/xk6-tcp and its forks), over real sockets on 127.0.0.1.

Scripts have the shape of that extension's README and example: a connection
made in the init context, writeLn/read in the default function,
String.fromCharCode(...bytes) on what read returns.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest


def counter(run, name: str) -> float:
    return run.metrics.sink_of(name).count


@contextlib.contextmanager
def server(handle) -> Iterator[int]:
    """A listener on 127.0.0.1 whose connections ``handle(conn)`` serves, each on a thread."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=lambda: (handle(conn), conn.close()), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        thread.join(2)
        listener.close()


def silent(conn: socket.socket) -> None:
    conn.settimeout(5)
    with contextlib.suppress(OSError):
        conn.recv(1)  # until the client goes (bounded by the timeout)


def hang_up(conn: socket.socket) -> None:
    pass  # closed at once by server()


README_SHAPE = """
import tcp from "k6/x/tcp"
import { check } from "k6"

const conn = tcp.connect(`${__ENV.TCP_ECHO_HOST}:${__ENV.TCP_ECHO_PORT}`)

export const options = { vus: 2, iterations: 6 }

export default function () {
  tcp.writeLn(conn, "Say Hello")
  let res = String.fromCharCode(...tcp.read(conn, 1024))
  check(res, { "verify ag tag": (res) => res.includes("Hello") })
}
"""


def test_readme_shape_runs_against_the_echo_server(run_js):
    run = run_js(README_SHAPE, helper=False)
    assert run.exit_code == 0, run.output
    checks = run.metrics.sink_of("checks")
    assert (checks.passes, checks.total) == (6, 6)
    assert counter(run, "tcp_writes") == counter(run, "tcp_reads") == 6
    assert counter(run, "data_sent") == counter(run, "data_received") == 6 * len("Say Hello\n")
    assert counter(run, "tcp_sockets") == 2  # one connection per VU, made in the init context
    assert counter(run, "tcp_errors") == 0


def test_readme_example_closing_in_the_iteration_fails_the_next_as_go_does(run_js):
    """The README closes the init-context connection in the default function: the next
    iteration of that VU writes to a closed connection, and Go says so."""
    run = run_js("""
        import tcp from "k6/x/tcp"
        const conn = tcp.connect(`${__ENV.TCP_ECHO_HOST}:${__ENV.TCP_ECHO_PORT}`)
        export const options = { vus: 1, iterations: 2 }
        export default function () {
          tcp.writeLn(conn, "Say Hello")
          report(String.fromCharCode(...tcp.read(conn, 1024)))
          tcp.close(conn)
        }
        """)
    assert run.reported() == ["Say Hello\n"]
    (error,) = run.errors
    assert error.startswith("GoError: write tcp 127.0.0.1:") and "->127.0.0.1:" in error
    assert "use of closed network connection" in error
    assert "classic" not in error.split("\n")[1]  # the script's own frame, not the module's


def test_named_imports_bytes_and_timeouts(run_js):
    run = run_js("""
        import { connect, write, read, close } from "k6/x/tcp"
        export default function () {
          const conn = connect(__ENV.TCP_ECHO_HOST + ":" + __ENV.TCP_ECHO_PORT, 2000)
          write(conn, [104, 105], 1000)
          write(conn, new Uint8Array([0, 255]))
          write(conn, Uint8Array.of(0xc3, 0xa9).buffer)
          let got = []
          while (got.length < 6) got = got.concat(Array.from(read(conn, 64, 2000)))
          const bytes = read.length
          close(conn)
          report([got, bytes])
        }
        """)
    assert run.exit_code == 0, run.output
    assert run.report() == [[104, 105, 0, 255, 0xC3, 0xA9], 3]


def test_read_returns_what_one_read_returns(run_js):
    run = run_js("""
        import tcp from "k6/x/tcp"
        export default function () {
          const conn = tcp.connect(__ENV.TCP_ECHO_HOST + ":" + __ENV.TCP_ECHO_PORT)
          tcp.write(conn, "abcdef")
          let first = tcp.read(conn, 4)
          let rest = tcp.read(conn, 4)
          report([first instanceof Uint8Array, String.fromCharCode(...first), String.fromCharCode(...rest),
                  tcp.read(conn, 0).length])
          tcp.close(conn)
        }
        """)
    assert run.exit_code == 0, run.output
    assert run.report() == [True, "abcd", "ef", 0]


def test_read_after_the_peer_hung_up_is_eof(run_js):
    with server(hang_up) as port:
        run = run_js(f"""
            import tcp from "k6/x/tcp"
            export default function () {{
              const conn = tcp.connect("127.0.0.1:{port}")
              try {{ tcp.read(conn, 10, 3000) }} catch (e) {{ report(String(e)) }}
            }}
            """)
    assert run.report() == "GoError: EOF"


def test_read_timeout_is_gos_i_o_timeout_and_counted(run_js):
    with server(silent) as port:
        started = time.monotonic()
        run = run_js(f"""
            import tcp from "k6/x/tcp"
            export default function () {{
              const conn = tcp.connect("127.0.0.1:{port}")
              try {{ tcp.read(conn, 10, 300) }} catch (e) {{ report(String(e)) }}
              tcp.close(conn)
            }}
            """)
        took = time.monotonic() - started
    message = run.report()
    assert message.startswith("GoError: read tcp 127.0.0.1:") and message.endswith(f"->127.0.0.1:{port}: i/o timeout")
    assert 0.3 <= took < 3
    assert counter(run, "tcp_timeouts") == 1


def test_connection_errors_are_gos(run_js):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]  # nobody listens once this closes
    run = run_js(f"""
        import tcp from "k6/x/tcp"
        export default function () {{
          const out = []
          for (const args of [["127.0.0.1:{closed_port}"], ["127.0.0.1"], ["127.0.0.1:99999"], ["[::1"]]) {{
            try {{ tcp.connect(...args); out.push("connected") }} catch (e) {{ out.push(String(e)) }}
          }}
          report(out)
        }}
        """)
    assert run.report() == [
        f"GoError: dial tcp 127.0.0.1:{closed_port}: connect: connection refused",
        "GoError: dial tcp: address 127.0.0.1: missing port in address",
        "GoError: dial tcp: address 99999: invalid port",
        "GoError: dial tcp: address [::1: missing ']' in address",
    ]
    assert counter(run, "tcp_errors") == 1


def test_a_failed_connect_in_the_init_context_is_a_script_error(run_js):
    run = run_js("""
        import tcp from "k6/x/tcp"
        const conn = tcp.connect("127.0.0.1")
        export default function () {}
        """)
    assert run.exit_code == 107
    assert "GoError: dial tcp: address 127.0.0.1: missing port in address" in run.output
    assert "script.js:4:" in run.output  # the line of tcp.connect (report()'s helper is line 1)


@pytest.mark.parametrize("call, message", [
    ('tcp.write("not a conn", "x")', "TypeError: tcp.write: the first argument must be a connection from tcp.connect()"),
    ("tcp.read(conn, -1)", "GoError: runtime error: makeslice: len out of range"),
    ('tcp.read(conn, "ten")', "GoError: tcp.read: size must be a number, got 'ten'"),
    ("tcp.write(conn, {})", "TypeError: tcp.write: data must be a string, an ArrayBuffer, a typed array or an array of bytes"),
    ("tcp.connect(9000)", 'TypeError: tcp.connect: address must be a "host:port" string'),
    ('tcp.read(conn, 1, "soon")', "TypeError: tcp.read: timeout must be a number of milliseconds, got soon"),
    ("tcp.close(conn); tcp.close(conn)", "use of closed network connection"),
    ("tcp.close(conn); tcp.read(conn, 1)", "use of closed network connection"),
])
def test_wrong_arguments_are_named(run_js, call, message):
    run = run_js(f"""
        import tcp from "k6/x/tcp"
        export default function () {{
          const conn = tcp.connect(__ENV.TCP_ECHO_HOST + ":" + __ENV.TCP_ECHO_PORT)
          try {{ {call}; report("no error") }} catch (e) {{ report(String(e)) }}
        }}
        """)
    assert message in run.report()


def test_options_that_forbid_hosts_apply(run_js):
    run = run_js("""
        import tcp from "k6/x/tcp"
        export const options = { blacklistIPs: ["127.0.0.0/8"], blockHostnames: ["*.blocked.test"] }
        export default function () {
          const out = []
          for (const address of [__ENV.TCP_ECHO_HOST + ":" + __ENV.TCP_ECHO_PORT, "a.blocked.test:80"]) {
            try { tcp.connect(address) } catch (e) { out.push(String(e)) }
          }
          report(out)
        }
        """)
    first, second = run.report()
    assert "is in a blacklisted range (127.0.0.0/8)" in first
    assert "hostname (a.blocked.test) is in a blocked pattern (*.blocked.test)" in second


def test_a_blocked_call_lets_other_vus_run(run_js):
    """A VU waiting in tcp.read must not stop the others (they share one thread)."""
    with server(silent) as port:
        run = run_js(f"""
            import tcp from "k6/x/tcp"
            import {{ sleep }} from "k6"
            import exec from "k6/execution"
            export const options = {{ scenarios: {{
              blocked: {{ executor: "per-vu-iterations", vus: 1, iterations: 1, exec: "blocked" }},
              busy: {{ executor: "constant-vus", vus: 1, duration: "1s", exec: "busy" }},
            }} }}
            export function blocked() {{
              const conn = tcp.connect("127.0.0.1:{port}")
              try {{ tcp.read(conn, 1, 1500) }} catch (e) {{ report(String(e).slice(-11)) }}
            }}
            export function busy() {{ sleep(0.01) }}
            """)
    assert run.exit_code == 0, run.output
    assert run.report() == "i/o timeout"
    iterations = counter(run, "iterations")
    assert iterations >= 40, iterations  # ~90 when nothing blocks them; 1 if the read held the thread


def test_a_stopping_test_ends_a_blocked_read(run_js):
    with server(silent) as port:
        started = time.monotonic()
        run = run_js(f"""
            import tcp from "k6/x/tcp"
            export const options = {{ scenarios: {{ s: {{ executor: "constant-vus", vus: 1, duration: "1s",
                                                       gracefulStop: "0s" }} }} }}
            export default function () {{
              const conn = tcp.connect("127.0.0.1:{port}")
              tcp.read(conn, 1)  // no timeout: only the end of the test ends it
            }}
            """)
        took = time.monotonic() - started
    assert run.exit_code == 0, run.output
    assert took < 4
    assert run.metrics.sink_of("iterations").count == 0
