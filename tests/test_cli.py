"""The `k6host` command line, run as a real subprocess from a temporary folder."""

from __future__ import annotations

import contextlib
import json
import queue
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, k6host

from k6host import __version__

TIMEOUT = 20.0
EXAMPLES = sorted(p for p in (REPO / "examples").glob("*.js") if p.name != "tls.js")


def script(folder: Path, source: str, name: str = "script.js") -> str:
    path = folder / name
    path.write_text(source)
    return str(path)


def assert_clean_failure(result: subprocess.CompletedProcess, *names: str) -> None:
    """Failed with one line on stderr that names each of ``names``, and no traceback."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for name in names:
        assert name in lines[0], result.stderr


def console_messages(stderr: str) -> list[str]:
    """The unquoted ``msg=`` of each console line k6host logged."""
    found = re.findall(r'msg=("(?:[^"\\]|\\.)*"|\S+) source=console', stderr)
    return [json.loads(msg, strict=False) if msg.startswith('"') else msg for msg in found]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"EOF after {data!r}"
        data += chunk
    return data


# -- run: the script and its arguments ---------------------------------------------------------------


def test_missing_script_is_one_line_naming_it(tmp_path):
    result = k6host("run", "no-such-script.js", cwd=tmp_path, timeout=TIMEOUT)
    assert_clean_failure(result, "no-such-script.js")


def test_env_flags_reach_the_script(tmp_path):
    path = script(tmp_path, "export default function () { console.log(JSON.stringify([__ENV.A, __ENV.B, __ENV.C])) }")
    result = k6host("run", "-e", "A=one", "--env", "B=x=y", "-e", "C=", path, cwd=tmp_path, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert console_messages(result.stderr) == ['["one","x=y",""]']


@pytest.mark.parametrize("pair", ["=x", "1BAD=x"])
def test_malformed_env_flag_is_a_usage_error(tmp_path, pair):
    path = script(tmp_path, "export default function () {}")
    result = k6host("run", "-e", pair, path, cwd=tmp_path, timeout=TIMEOUT)
    assert result.returncode == 255, result.stderr
    assert_clean_failure(result, pair.partition("=")[0])


def test_env_flag_without_a_value_sets_an_empty_variable(tmp_path):
    """As `k6 run -e NAME`: the variable is there, empty, even when the system has it."""
    path = script(tmp_path, "export default function () { console.log(JSON.stringify(__ENV.NAME)) }")
    result = k6host("run", "-e", "NAME", path, cwd=tmp_path, env={"NAME": "system"}, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert console_messages(result.stderr) == ['""']


def test_unknown_flag_is_named(tmp_path):
    path = script(tmp_path, "export default function () {}")
    result = k6host("run", "--no-such-flag", path, cwd=tmp_path, timeout=TIMEOUT)
    assert_clean_failure(result, "--no-such-flag")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [([], "from the system"), (["--include-system-env-vars"], "from the system"),
     (["--no-include-system-env-vars"], None)],
    ids=["default", "include", "no-include"],
)
def test_system_env_vars_in_env(tmp_path, flags, expected):
    path = script(tmp_path, """
    export default function () { console.log(JSON.stringify([__ENV.K6HOST_SYS ?? null, __ENV.K6HOST_E])) }
    """)
    result = k6host("run", *flags, "-e", "K6HOST_E=given", path, cwd=tmp_path,
                    env={"K6HOST_SYS": "from the system"}, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    # -e values reach __ENV whatever the flag says.
    assert [json.loads(m) for m in console_messages(result.stderr)] == [[expected, "given"]]


def test_console_output_goes_to_stderr(tmp_path):
    path = script(tmp_path, 'export default function () { console.log("marker-1234"); console.error("marker-5678") }')
    result = k6host("run", path, cwd=tmp_path, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert "marker-1234" in result.stderr and "marker-5678" in result.stderr
    assert "marker" not in result.stdout


def test_verbose_shows_debug_output(tmp_path):
    path = script(tmp_path, 'export default function () { console.debug("debug-marker") }')
    quiet = k6host("run", path, cwd=tmp_path, timeout=TIMEOUT)
    verbose = k6host("run", "-v", path, cwd=tmp_path, timeout=TIMEOUT)
    assert (quiet.returncode, verbose.returncode) == (0, 0), quiet.stderr + verbose.stderr
    assert "debug-marker" not in quiet.stderr
    assert "debug-marker" in verbose.stderr


def test_version(tmp_path):
    result = k6host("--version", cwd=tmp_path, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert __version__ in result.stdout + result.stderr


# -- run --with-echo -----------------------------------------------------------------------------------

ROUND_TRIP = """
import { Socket } from "k6/x/tcp"
export default async function () {
  const socket = new Socket()
  const reply = new Promise((resolve) => socket.on("data", (d) => resolve(String.fromCharCode.apply(null, d))))
  await socket.connect(__ENV.TCP_ECHO_PORT, __ENV.TCP_ECHO_HOST)
  await socket.write("round trip")
  console.log(__ENV.TCP_ECHO_HOST + " echoed " + (await reply))
  socket.destroy()
}
"""


def test_with_echo_gives_the_script_an_echo_server(tmp_path):
    result = k6host("run", "--with-echo", script(tmp_path, ROUND_TRIP), cwd=tmp_path, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert console_messages(result.stderr) == ["127.0.0.1 echoed round trip"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_cleanly_with_echo(tmp_path, example):
    result = k6host("run", "--with-echo", str(example), cwd=tmp_path, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert "level=error" not in result.stderr, result.stderr


# -- echo -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["abc", "70000"])
def test_echo_rejects_a_bad_port(tmp_path, port):
    result = k6host("echo", "--port", port, cwd=tmp_path, timeout=TIMEOUT)
    assert_clean_failure(result, port)


class EchoProcess:
    """`k6host echo` in the background, with its stdout readable line by line with a timeout."""

    def __init__(self, *args: str, cwd: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "k6host", "echo", *args],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))

    def line_matching(self, pattern: str) -> re.Match[str]:
        """The first line (from here on) that matches ``pattern``; fails after TIMEOUT."""
        seen = []
        while True:
            try:
                line = self._lines.get(timeout=TIMEOUT)
            except queue.Empty:
                pytest.fail(f"no line matching {pattern!r} in {seen}")
            match = re.search(pattern, line)
            if match:
                return match
            seen.append(line)

    def interrupt(self) -> tuple[int, str]:
        """SIGINT; the exit status and stderr."""
        self.proc.send_signal(signal.SIGINT)
        _out, err = self.proc.communicate(timeout=TIMEOUT)
        return self.proc.returncode, err


@contextlib.contextmanager
def echo_process(*args: str, cwd: Path) -> Iterator[EchoProcess]:
    echo = EchoProcess(*args, cwd=cwd)
    try:
        yield echo
    finally:
        if echo.proc.poll() is None:
            echo.proc.kill()
            echo.proc.communicate(timeout=TIMEOUT)


def round_trip(sock: socket.socket, payload: bytes) -> bytes:
    with sock:
        sock.sendall(payload)
        return recv_exactly(sock, len(payload))


def test_echo_serves_on_the_given_port_until_sigint(tmp_path):
    port = free_port()
    with echo_process("--port", str(port), cwd=tmp_path) as echo:
        assert echo.line_matching(r"echo server listening on .*").group(0) == f"echo server listening on 127.0.0.1:{port}"
        payload = bytes(range(256)) * 4
        assert round_trip(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT), payload) == payload
        returncode, err = echo.interrupt()
    assert returncode == 0, err
    assert "Traceback" not in err


def start_tls_echo(echo: EchoProcess) -> tuple[int, Path]:
    """The port and CA file a `k6host echo --tls` announced."""
    port = int(echo.line_matching(r"listening on 127\.0\.0\.1:(\d+)").group(1))
    ca = Path(echo.line_matching(r"CA\b.*?(/\S+)").group(1))
    assert ca.is_file(), ca
    return port, ca


def test_echo_tls_round_trips_for_a_client_trusting_its_ca(tmp_path):
    with echo_process("--tls", cwd=tmp_path) as echo:
        port, ca = start_tls_echo(echo)
        context = ssl.create_default_context(cafile=str(ca))
        plain = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        payload = b"secret \x00\xff bytes"
        assert round_trip(context.wrap_socket(plain, server_hostname="localhost"), payload) == payload
        returncode, err = echo.interrupt()
    assert returncode == 0, err


def test_tls_example_against_echo_tls(tmp_path):
    with echo_process("--tls", cwd=tmp_path) as echo:
        port, ca = start_tls_echo(echo)
        result = k6host(
            "run", "-e", f"TCP_ECHO_PORT={port}", str(REPO / "examples" / "tls.js"),
            cwd=tmp_path, env={"SSL_CERT_FILE": str(ca)}, timeout=TIMEOUT,
        )
        echo.interrupt()
    assert result.returncode == 0, result.stderr
    assert "level=error" not in result.stderr, result.stderr
    assert "received over TLS: over TLS" in console_messages(result.stderr)
