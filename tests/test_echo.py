"""Echo server tests over real sockets on 127.0.0.1; every socket has a timeout, every loop a bound."""

from __future__ import annotations

import io
import os
import selectors
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from k6host.testing.certs import TestCA
from k6host.testing.echo import EchoServer, serve

TIMEOUT = 10.0


@pytest.fixture
def server() -> Iterator[EchoServer]:
    with EchoServer() as srv:
        yield srv


def connect(srv: EchoServer) -> socket.socket:
    return socket.create_connection((srv.host, srv.port), timeout=TIMEOUT)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Read n bytes; each recv is bounded by the socket timeout and returns at least one byte."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 16))
        if not chunk:
            raise EOFError(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_to_eof(sock: socket.socket, limit: int = 1 << 20) -> bytes:
    buf = bytearray()
    while len(buf) <= limit:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return bytes(buf)
        buf += chunk
    raise AssertionError("no EOF within limit")


def pump_echo(sock: socket.socket, payload: bytes, stall_first: bool = False) -> bytes:
    """Send payload while reading its echo, on one thread, since an SSLSocket must not be shared across threads.

    With stall_first, reading starts only once sending has stalled (the server stopped reading us) or
    finished; a payload larger than the kernel buffers plus the server's high-water mark therefore
    pushes the server into back-pressure, and the echo completes only if it resumes reading.
    """
    would_block = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
    data = memoryview(payload)
    sent, echoed = 0, bytearray()
    reading = not stall_first
    deadline = time.monotonic() + TIMEOUT
    sock.setblocking(False)
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_WRITE)
            while len(echoed) < len(payload):
                assert time.monotonic() < deadline, f"echoed {len(echoed)} of {len(payload)} bytes"
                reading = reading or sent == len(data)
                sel.modify(
                    sock, (selectors.EVENT_READ if reading else 0) | (selectors.EVENT_WRITE if sent < len(data) else 0)
                )
                if not sel.select(0.3):
                    reading = True  # sending has stalled: the server stopped reading us
                while reading:
                    try:
                        chunk = sock.recv(1 << 16)
                    except would_block:
                        break
                    if not chunk:
                        raise EOFError(f"EOF after {len(echoed)} of {len(payload)} bytes")
                    echoed += chunk
                while sent < len(data):
                    try:
                        sent += sock.send(data[sent : sent + (1 << 16)])
                    except would_block:
                        break
    finally:
        sock.settimeout(TIMEOUT)
    return bytes(echoed)


def test_round_trip_all_byte_values(server: EchoServer) -> None:
    payload = bytes(range(256))
    with connect(server) as sock:
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload


def test_one_mib_payload_echoed_intact(server: EchoServer) -> None:
    payload = os.urandom(1 << 20)
    with connect(server) as sock:
        assert pump_echo(sock, payload) == payload


def test_back_pressure_resumes_after_reader_catches_up(server: EchoServer) -> None:
    # The client stops reading long enough for the server's pending output to pass the
    # high-water mark, then the server must resume reading once the echo drains.
    payload = os.urandom(16 << 20)
    with connect(server) as sock:
        assert pump_echo(sock, payload, stall_first=True) == payload


def test_200_concurrent_connections(server: EchoServer) -> None:
    socks = [connect(server) for _ in range(200)]
    try:
        messages = [f"connection {i} says hello".encode() * (i % 7 + 1) for i in range(len(socks))]
        for sock, message in zip(socks, messages, strict=True):
            sock.sendall(message)
        for sock, message in zip(socks, messages, strict=True):
            assert recv_exactly(sock, len(message)) == message
    finally:
        for sock in socks:
            sock.close()


def test_half_close_flushes_then_closes(server: EchoServer) -> None:
    payload = os.urandom(300_000)
    with connect(server) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        assert recv_to_eof(sock) == payload


def test_reset_connection_does_not_disturb_others(server: EchoServer) -> None:
    with connect(server) as rude:
        rude.sendall(b"x" * 1000)
        rude.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
    with connect(server) as sock:
        sock.sendall(b"still here")
        assert recv_exactly(sock, 10) == b"still here"


@pytest.fixture
def ca() -> TestCA:
    return TestCA()


def tls_client(srv: EchoServer, context: ssl.SSLContext) -> ssl.SSLSocket:
    return context.wrap_socket(connect(srv), server_hostname="localhost")


def test_tls_echo_and_untrusted_client(ca: TestCA, tmp_path: Path) -> None:
    trusting = ssl.create_default_context(cafile=str(ca.write_ca_pem(tmp_path)))
    with EchoServer(ssl_context=ca.server_context()) as srv:
        with pytest.raises(ssl.SSLCertVerificationError):
            tls_client(srv, ssl.create_default_context()).close()
        payload = os.urandom(8 << 20)
        with tls_client(srv, trusting) as sock:
            assert pump_echo(sock, payload, stall_first=True) == payload
        with tls_client(srv, trusting) as sock:
            sock.sendall(b"after")
            assert recv_exactly(sock, 5) == b"after"


def test_plaintext_client_on_tls_server_is_dropped(ca: TestCA, tmp_path: Path) -> None:
    trusting = ssl.create_default_context(cafile=str(ca.write_ca_pem(tmp_path)))
    with EchoServer(ssl_context=ca.server_context()) as srv:
        with connect(srv) as plain:
            plain.sendall(b"GET / HTTP/1.0\r\n\r\n")
            try:
                reply = recv_to_eof(plain)
            except ConnectionResetError:
                reply = b""
            assert b"GET" not in reply
        with tls_client(srv, trusting) as sock:
            sock.sendall(b"ok")
            assert recv_exactly(sock, 2) == b"ok"


def test_mutual_tls(ca: TestCA, tmp_path: Path) -> None:
    cert, key = ca.write_client_cert(tmp_path)
    with_cert = ssl.create_default_context(cafile=str(ca.write_ca_pem(tmp_path)))
    with_cert.load_cert_chain(cert, key)
    without_cert = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    with EchoServer(ssl_context=ca.server_context(require_client_cert=True)) as srv:
        with tls_client(srv, with_cert) as sock:
            sock.sendall(b"mtls")
            assert recv_exactly(sock, 4) == b"mtls"
        # Under TLS 1.3 the client learns of the rejection only when it next reads.
        with pytest.raises((ssl.SSLError, ConnectionError, EOFError)):
            with tls_client(srv, without_cert) as sock:
                sock.sendall(b"nope")
                recv_exactly(sock, 4)


def test_stop_is_idempotent_and_releases_port() -> None:
    srv = EchoServer()
    srv.start()
    port = srv.port
    with connect(srv) as sock:
        sock.sendall(b"hi")
        assert recv_exactly(sock, 2) == b"hi"
        srv.stop()
        srv.stop()
        assert sock.recv(10) == b""  # the server closed its side
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    with EchoServer(port=port) as again:
        assert again.port == port


def test_serve_port_in_use_returns_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        out = io.StringIO()
        status: list[int] = []
        # In a thread so that, were the port wrongly bound, the test fails instead of serving forever.
        runner = threading.Thread(target=lambda: status.append(serve(port, False, out)), daemon=True)
        runner.start()
        runner.join(TIMEOUT)
        assert status == [2]
    err = capsys.readouterr().err
    assert err.strip() == f"k6host echo: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert "Traceback" not in err and out.getvalue() == ""


def start_serve(tls: bool) -> tuple[subprocess.Popen[str], list[str]]:
    """Run serve() as the CLI would, in a child process; return it with its banner lines."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    code = f"import sys; from k6host.testing.echo import serve; sys.exit(serve(0, {tls}, sys.stdout))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stdout = proc.stdout
    assert stdout is not None
    lines: list[str] = []
    # readline() has no timeout of its own, so read in a thread we can stop waiting for.
    reader = threading.Thread(
        target=lambda: lines.extend(stdout.readline() for _ in range(3 if tls else 2)), daemon=True
    )
    reader.start()
    reader.join(TIMEOUT)
    return proc, lines


@pytest.mark.parametrize(("tls", "signum"), [(False, signal.SIGINT), (True, signal.SIGINT), (False, signal.SIGTERM)])
def test_serve_runs_until_signalled(tls: bool, signum: signal.Signals) -> None:
    proc, lines = start_serve(tls)
    try:
        assert len(lines) == (3 if tls else 2), lines
        port = int(lines[0].strip().rsplit(":", 1)[1])
        assert lines[0] == f"echo server listening on 127.0.0.1:{port}\n"
        assert lines[-1] == f"export TCP_ECHO_HOST=127.0.0.1 TCP_ECHO_PORT={port}\n"
        ca_path = Path(lines[1].removeprefix("tls: CA certificate at ").strip()) if tls else None
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        if ca_path is not None:
            sock = ssl.create_default_context(cafile=str(ca_path)).wrap_socket(sock, server_hostname="127.0.0.1")
        with sock:
            sock.sendall(b"ping")
            assert recv_exactly(sock, 4) == b"ping"
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=TIMEOUT)
        assert (proc.returncode, err) == (0, "")
        assert ca_path is None or not ca_path.exists()  # the temporary directory is removed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=TIMEOUT)
