"""TCP (optionally TLS) echo server: a local peer for socket tests, in-process or from the CLI.

One selectors loop in one daemon thread serves every connection, so a test can open
thousands of sockets without thousands of threads, and the server never blocks on a
slow peer.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import ssl
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import TextIO

from k6host.testing.certs import TestCA

# Stop reading from a peer once this much echo is queued for it: a client that writes
# without reading must be slowed down by TCP, not buffered without bound in our memory.
_HIGH_WATER = 1 << 20
# Bytes per recv/send call; at least one TLS record (16 KiB) so a read drains a record.
_CHUNK = 1 << 16
_BACKLOG = 1024
# Connections accepted per wake-up, so a connection storm cannot starve established peers.
_ACCEPT_BURST = 64
# Both mean "this TLS socket cannot make progress now"; the selector tells us when it can.
_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class _Conn:
    """Per-connection state: the bytes still to echo back, and where the protocol stands."""

    __slots__ = ("sock", "out", "handshaking", "eof", "events")

    def __init__(self, sock: socket.socket, handshaking: bool) -> None:
        self.sock = sock
        self.out = bytearray()
        self.handshaking = handshaking
        self.eof = False
        self.events = selectors.EVENT_READ


class EchoServer:
    """Echo every byte back, in order, on each accepted connection until stop()."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        self._host = host
        self._port = port
        self._ssl_context = ssl_context
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port (the kernel's choice when constructed with port 0), once started."""
        return self._port

    def start(self) -> None:
        """Bind and listen now (so bind errors surface here), then serve from a daemon thread."""
        if self._thread is not None:
            raise RuntimeError("echo server already started")
        listener = socket.create_server((self._host, self._port), backlog=_BACKLOG)
        listener.setblocking(False)
        self._port = listener.getsockname()[1]
        self._listener = listener
        # stop() writes to this pair to wake the loop out of select().
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"k6host-echo-{self._port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the listener and every connection and wait for the loop to end; safe to call twice."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        self._wake_w.send(b"\0")
        thread.join()
        self._wake_w.close()

    def __enter__(self) -> EchoServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            while not self._stopping:
                for key, _mask in self._selector.select():
                    if key.fileobj is self._listener:
                        self._accept()
                    elif isinstance(key.data, _Conn):
                        self._service(key.data)
        finally:
            for key in list(self._selector.get_map().values()):
                key.fileobj.close()  # type: ignore[union-attr]
            self._selector.close()

    def _accept(self) -> None:
        for _ in range(_ACCEPT_BURST):
            try:
                sock, _addr = self._listener.accept()
            except OSError:  # nothing pending, or the peer gave up (ECONNABORTED): try next wake-up
                return
            try:
                sock.setblocking(False)
                # Echo is request/response shaped; Nagle would hold back small replies.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self._ssl_context is not None:
                    sock = self._ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                conn = _Conn(sock, handshaking=self._ssl_context is not None)
                self._selector.register(sock, conn.events, conn)
            except OSError:  # reset before we got to it
                sock.close()

    def _service(self, conn: _Conn) -> None:
        """Advance one connection as far as it goes without blocking, then re-arm the selector."""
        try:
            if conn.handshaking:
                try:
                    conn.sock.do_handshake()  # type: ignore[attr-defined]
                except ssl.SSLWantReadError:
                    self._arm(conn, selectors.EVENT_READ)
                    return
                except ssl.SSLWantWriteError:
                    self._arm(conn, selectors.EVENT_WRITE)
                    return
                conn.handshaking = False
            self._read(conn)
            self._write(conn)
        except OSError:  # resets, broken pipes, failed handshakes: drop this peer only
            self._close(conn)
            return
        events = (selectors.EVENT_READ if self._may_read(conn) else 0) | (selectors.EVENT_WRITE if conn.out else 0)
        if events:
            self._arm(conn, events)
        else:  # peer half-closed and everything is echoed
            self._close(conn)

    @staticmethod
    def _may_read(conn: _Conn) -> bool:
        return not conn.eof and len(conn.out) < _HIGH_WATER

    def _read(self, conn: _Conn) -> None:
        sock = conn.sock
        # Decrypted bytes buffered inside the TLS layer never wake the selector, so they are
        # taken even past the high-water mark (at most one record) rather than stranded.
        while self._may_read(conn) or (not conn.eof and isinstance(sock, ssl.SSLSocket) and sock.pending()):
            try:
                data = sock.recv(_CHUNK)
            except _WOULD_BLOCK:
                return
            conn.eof = not data
            conn.out += data

    @staticmethod
    def _write(conn: _Conn) -> None:
        while conn.out:
            try:
                # Never shorter than a previous attempt on the same bytes, as a TLS retry requires.
                sent = conn.sock.send(conn.out[:_CHUNK])
            except _WOULD_BLOCK:
                return
            del conn.out[:sent]

    def _arm(self, conn: _Conn, events: int) -> None:
        if events != conn.events:
            self._selector.modify(conn.sock, events, conn)
            conn.events = events

    def _close(self, conn: _Conn) -> None:
        self._selector.unregister(conn.sock)
        conn.sock.close()


def serve(port: int, tls: bool, out: TextIO) -> int:
    """Run an echo server on 127.0.0.1 in the foreground until SIGINT/SIGTERM; return the exit status.

    Prints a shell `export` line so a user can point k6 scripts at the server by pasting it.
    """
    with contextlib.ExitStack() as stack:
        context: ssl.SSLContext | None = None
        ca_path: Path | None = None
        if tls:
            ca = TestCA()
            ca_path = ca.write_ca_pem(Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="k6host-echo-"))))
            context = ca.server_context()
        server = EchoServer("127.0.0.1", port, context)
        try:
            server.start()
        except OSError as exc:
            # os.strerror: socket.create_server appends the address to exc.strerror, which we already print.
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            print(f"k6host echo: cannot listen on 127.0.0.1:{port}: {reason}", file=sys.stderr)
            return 2
        stack.callback(server.stop)
        stopped = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.signal(signum, lambda _signum, _frame: stopped.set())
            stack.callback(signal.signal, signum, previous)
        print(f"echo server listening on 127.0.0.1:{server.port}", file=out)
        if ca_path is not None:
            print(f"tls: CA certificate at {ca_path}", file=out)
        print(f"export TCP_ECHO_HOST=127.0.0.1 TCP_ECHO_PORT={server.port}", file=out)
        out.flush()
        stopped.wait()
    return 0
