"""``--tcp-debug``: a line per socket step with VU, iteration, socket id and time; ``full`` adds hexdumps."""

from __future__ import annotations

import io
import re
import shutil
import socket
import subprocess
import textwrap
import threading

import pytest

from k6host.testing.certs import TestCA
from k6host.report.log import Log
from k6host.testing.echo import EchoServer
from k6host.run.runner import run_script
from k6host.net.tcpdebug import DUMP_LIMIT, hexdump

from conftest import k6host

LINE = re.compile(r"^TCP (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) vu=(\d+) iter=(\d+) socket=(\d+) (.*)$")


def debug_lines(text: str) -> list[tuple[int, int, int, str]]:
    """(vu, iter, socket, what) of every debug line, in order."""
    found = []
    for line in text.splitlines():
        match = LINE.match(line)
        if match:
            found.append((int(match.group(2)), int(match.group(3)), int(match.group(4)), match.group(5)))
    return found


def run(tmp_path, source: str, mode: str | None, env: dict[str, str] | None = None) -> tuple[int, str]:
    path = tmp_path / "script.js"
    path.write_text(textwrap.dedent(source))
    stream = io.StringIO()
    cli = {"tcp_debug": mode} if mode else {}
    result = run_script(str(path), dict(env or {}), Log(stream), cli=cli, process_env=env or {})
    return result.exit_code, stream.getvalue()


ECHO_TWICE = """
import { Socket } from "k6/x/tcp"
export const options = { vus: 2, iterations: 4 }
export default async function () {
  const s = new Socket()
  const got = new Promise((resolve) => s.on("data", resolve))
  await s.connect(__ENV.PORT, "127.0.0.1")
  await s.write(__ENV.PAYLOAD || "ping")
  await got
  s.destroy()
}
"""


@pytest.mark.parametrize("data", [
    b"", b"Hello, server!", bytes(range(16)), bytes(range(256)), b"\x00" * 64 + b"tail", b"ab" * 40,
])
def test_hexdump_is_what_hexdump_c_prints(data):
    tool = shutil.which("hexdump")
    if tool is None:
        pytest.skip("no hexdump program (Debian's bsdextrautils) to compare with")
    expected = subprocess.run([tool, "-C"], input=data, capture_output=True, check=True).stdout.decode()
    assert (hexdump(data) + "\n" if data else "") == expected


def test_hexdump_past_the_limit_says_what_it_left_out():
    dump = hexdump(bytes(range(256)) * 2, limit=64)
    lines = dump.splitlines()
    assert lines[-2] == "00000040"
    assert lines[-1] == "... 448 more bytes not shown (the dump stops at 64 bytes)"
    assert len(lines) == 64 // 16 + 2


def test_basic_lines_per_step_with_vu_iteration_and_socket(tmp_path, echo):
    code, out = run(tmp_path, ECHO_TWICE, "basic", {"PORT": str(echo.port)})
    assert code == 0
    lines = debug_lines(out)
    # Four iterations, each: connecting, connect, write, read, close.
    steps = [re.sub(r"\d+", "N", what) for _, _, _, what in lines]
    assert steps.count("connecting to N.N.N.N:N") == 4
    assert steps.count("connect N.N.N.N:N -> N.N.N.N:N") == 4
    assert steps.count("write N bytes") == 4
    assert steps.count("read N bytes") == 4
    assert steps.count("close (destroy)") == 4
    assert len(lines) == 20
    # Each VU did two iterations; a socket's lines all carry its VU and iteration.
    per_socket: dict[tuple[int, int, int], list[str]] = {}
    for vu, it, sid, what in lines:
        per_socket.setdefault((vu, it, sid), []).append(what)
    assert sorted(key[:2] for key in per_socket) == [(1, 0), (1, 1), (2, 0), (2, 1)]
    for steps_of_one in per_socket.values():
        assert [s.split()[0] for s in steps_of_one] == ["connecting", "connect", "write", "read", "close"]
        assert steps_of_one[1].endswith(f"-> 127.0.0.1:{echo.port}")
    assert "\n00000000  " not in out  # no dump without full


def test_full_adds_hexdumps_cut_at_the_limit(tmp_path, echo):
    payload = "x" * (DUMP_LIMIT + 100)
    code, out = run(tmp_path, ECHO_TWICE.replace("vus: 2, iterations: 4", "vus: 1, iterations: 1"), "full",
                    {"PORT": str(echo.port), "PAYLOAD": payload})
    assert code == 0
    assert "write 1124 bytes\n00000000  78 78 78 78 78 78 78 78  78 78 78 78 78 78 78 78  |xxxxxxxxxxxxxxxx|\n*\n" in out
    assert f"... 100 more bytes not shown (the dump stops at {DUMP_LIMIT} bytes)" in out
    # The echo may come back in more than one read; every read has its dump.
    reads = [what for *_, what in debug_lines(out) if what.startswith("read ")]
    assert sum(int(r.split()[1]) for r in reads) == len(payload)


def test_errors_timeouts_and_peer_close(tmp_path):
    # A port nobody listens on, and a server that stays silent and then hangs up.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def silent_then_close() -> None:
        conn, _ = listener.accept()
        threading.Event().wait(0.35)
        conn.close()

    thread = threading.Thread(target=silent_then_close, daemon=True)
    thread.start()
    source = f"""
    import {{ Socket }} from "k6/x/tcp"
    export default async function () {{
      const bad = new Socket()
      await bad.connect({closed_port}, "127.0.0.1").catch(() => {{}})
      const s = new Socket()
      s.setTimeout(100)
      const closed = new Promise((resolve) => s.on("close", resolve))
      s.on("timeout", () => {{}})
      await s.connect({listener.getsockname()[1]}, "127.0.0.1")
      await closed
    }}
    """
    try:
        code, out = run(tmp_path, source, "basic")
    finally:
        thread.join(5)
        listener.close()
    assert code == 0
    whats = [(sid, what) for _, _, sid, what in debug_lines(out)]
    assert (1, f"connect error: dial tcp 127.0.0.1:{closed_port}: connect: connection refused") in whats
    timeouts = [w for sid, w in whats if sid == 2 and w.startswith("timeout")]
    assert timeouts and timeouts[0] == "timeout: no data for 100ms"
    assert whats[-1] == (2, "closed by the peer or an error")


def test_tls_handshake_line(tmp_path, monkeypatch):
    ca = TestCA()
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.write_ca_pem(tmp_path)))
    source = """
    import { Socket } from "k6/x/tcp"
    export default async function () {
      const s = new Socket()
      const got = new Promise((resolve) => s.on("data", resolve))
      await s.connect({ port: Number(__ENV.PORT), host: "localhost", tls: true })
      await s.write("secret")
      await got
      s.destroy()
    }
    """
    with EchoServer(ssl_context=ca.server_context()) as server:
        code, out = run(tmp_path, source, "basic", {"PORT": str(server.port)})
    assert code == 0
    whats = [what for *_, what in debug_lines(out)]
    assert whats[0] == f"connecting to localhost:{server.port} with TLS"
    assert whats[1] == "tls handshake with localhost"
    assert re.fullmatch(r"tls handshake done: TLSv1\.[23] \S+ in \d+\.\d{3}ms", whats[2])
    assert whats[3].startswith("connect ")
    assert whats[4:] == ["write 6 bytes", "read 6 bytes", "close (destroy)"]


def test_off_by_default_and_from_the_environment(tmp_path, echo):
    env = {"PORT": str(echo.port)}
    _, quiet = run(tmp_path, ECHO_TWICE, None, env)
    assert debug_lines(quiet) == []
    _, from_env = run(tmp_path, ECHO_TWICE, None, {**env, "K6_TCP_DEBUG": "true"})
    assert len(debug_lines(from_env)) == 20
    _, off = run(tmp_path, ECHO_TWICE, None, {**env, "K6_TCP_DEBUG": "false"})
    assert debug_lines(off) == []


def test_command_line_flag_and_bad_values(tmp_path, echo):
    script = tmp_path / "s.js"
    script.write_text(ECHO_TWICE)
    env = {"PORT": str(echo.port)}
    good = k6host("run", "-q", "--tcp-debug=full", str(script), env=env)
    assert good.returncode == 0, good.stderr
    assert len(debug_lines(good.stderr)) == 20
    assert "|ping|" in good.stderr
    bare = k6host("run", "-q", "--tcp-debug", str(script), env=env)  # the flag does not take the script as its value
    assert bare.returncode == 0, bare.stderr
    assert len(debug_lines(bare.stderr)) == 20 and "|ping|" not in bare.stderr
    bad_flag = k6host("run", "--tcp-debug=everything", str(script), env=env)
    assert bad_flag.returncode == 255
    assert "invalid --tcp-debug value 'everything': expected basic or full" in bad_flag.stderr
    assert "Traceback" not in bad_flag.stderr
    bad_env = k6host("run", str(script), env={**env, "K6_TCP_DEBUG": "loud"})
    assert bad_env.returncode == 255
    assert "invalid K6_TCP_DEBUG value 'loud': expected basic or full" in bad_env.stderr
    assert "Traceback" not in bad_env.stderr
