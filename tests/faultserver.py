"""A TCP server on 127.0.0.1 that misbehaves on purpose, one mode per instance.

Each accepted connection is served by its own daemon thread with plain
blocking sockets: the point is to be obviously right, not fast.
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import Callable

# SO_LINGER with a zero timeout makes close() send RST instead of FIN.
_RESET = struct.pack("ii", 1, 0)


def _reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
    conn.close()


def _reset_after_bytes(n: int) -> Callable[[socket.socket], None]:
    def serve(conn: socket.socket) -> None:
        got = 0
        while got < n:
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += len(chunk)
        _reset(conn)

    return serve


def _close_after_message(conn: socket.socket) -> None:
    """Read one message, answer it, and close first (a FIN, not an error)."""
    data = conn.recv(65536)
    if data:
        conn.sendall(data)
    conn.close()


def _close_at_once(conn: socket.socket) -> None:
    conn.close()


def _never_read(conn: socket.socket, stop: threading.Event) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stop.wait(60)
    conn.close()


def _silent(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(60)
    conn.close()


def _drip(conn: socket.socket, stop: threading.Event) -> None:
    for i in range(600):
        if stop.wait(0.1):
            break
        try:
            conn.sendall(bytes([i % 256]))
        except OSError:
            break
    conn.close()


def _garbage(conn: socket.socket, stop: threading.Event) -> None:
    """Plain text where a TLS server would answer: send it at once, then wait
    for the peer to give up (or the server to stop)."""
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" + b"not tls at all\r\n" * 64)
    conn.settimeout(0.1)
    while not stop.is_set():
        try:
            if not conn.recv(65536):
                break
        except socket.timeout:
            continue
    conn.close()


def _flood(size: int) -> Callable[[socket.socket], None]:
    def serve(conn: socket.socket) -> None:
        block = bytes(range(256)) * 256
        sent = 0
        try:
            while sent < size:
                piece = block[: min(len(block), size - sent)]
                conn.sendall(piece)
                sent += len(piece)
        except OSError:
            pass
        conn.close()

    return serve


class FaultServer:
    """Listens on 127.0.0.1:<free port>; ``mode`` says how each peer is treated.

    Modes: reset, reset_after:N, close_after_message, close_at_once,
    never_read, silent, drip, flood:N, tls_stall (accepts, never handshakes),
    garbage (sends plain bytes at once, where a client expects a TLS handshake).
    """

    def __init__(self, mode: str):
        self.mode = mode
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self._listener.getsockname()[1]
        self.host = "127.0.0.1"
        self.accepted = 0
        self._threads: list[threading.Thread] = []
        self._serve = self._pick(mode)
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def _pick(self, mode: str) -> Callable[[socket.socket], None]:
        name, _, arg = mode.partition(":")
        stop = self._stop
        table: dict[str, Callable[[socket.socket], None]] = {
            "reset": _reset,
            "close_after_message": _close_after_message,
            "close_at_once": _close_at_once,
            "never_read": lambda c: _never_read(c, stop),
            "silent": lambda c: _silent(c, stop),
            "tls_stall": lambda c: _silent(c, stop),
            "drip": lambda c: _drip(c, stop),
            "garbage": lambda c: _garbage(c, stop),
        }
        if name == "reset_after":
            return _reset_after_bytes(int(arg))
        if name == "flood":
            return _flood(int(arg))
        if name not in table:
            raise ValueError(f"unknown fault mode {mode!r}")
        return table[name]

    def __enter__(self) -> "FaultServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._listener.close()
        for t in self._threads:
            t.join(timeout=5)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            t = threading.Thread(target=self._guarded, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _guarded(self, conn: socket.socket) -> None:
        try:
            self._serve(conn)
        except OSError:
            conn.close()


def free_port() -> int:
    """A loopback port with nothing listening on it (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

