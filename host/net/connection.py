"""One TCP (optionally TLS) connection, driven by a VU's event loop.

A :class:`Connection` announces what happens to it as events, and records
k6's ``tcp_*`` metrics itself, so no metric costs a crossing into JavaScript.
Each event goes to ``sink(event, *args)``: by default pyee listeners added
with :meth:`Connection.on`; the tcp module sets a sink of its own, one call
per event on the hot path.

- ``connect(local_ip, local_port, remote_ip, remote_port)``
- ``connect_error(reason)``: the connection could not be opened
- ``data(bytes)``
- ``error(method, reason)``: a read or write failed; ``close`` follows
- ``close()``: the connection is gone (peer EOF or after an error)
- ``timeout()``: no data for the idle period (it re-arms)
- ``written(write_id, nbytes, reason_or_None)``: a queued write finished
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from typing import Any, Callable

from pyee import EventEmitter

from k6host.net.dnsconfig import ip_literal
from k6host.net.netconfig import BlockedError, host_problem
from k6host.vu.loop import EventLoop, Timer

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
RECV_SIZE = 256 * 1024
# One receive buffer per thread: recv(n) would allocate (and for large n,
# mmap) n bytes on every call however little arrives.
_buffers = threading.local()


def _recv_buffer() -> memoryview:
    buffer = getattr(_buffers, "view", None)
    if buffer is None:
        buffer = _buffers.view = memoryview(bytearray(RECV_SIZE))
    return buffer


def is_address(host: str) -> bool:
    """Whether ``host`` is an IP address (no lookup needed), an IPv6 one
    also in brackets or with a zone."""
    return ip_literal(host) or (":" in host and ip_literal(host.strip("[]").split("%", 1)[0]))


def os_reason(exc: BaseException) -> str:
    """The operating system's reason, worded as Go (and so k6) words it."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"tls: failed to verify certificate: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"tls: {exc.reason or exc}".lower()
    if isinstance(exc, socket.gaierror):
        return f"lookup failed: {exc.strerror or exc}".lower()
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__


def _alert_behind(sock: socket.socket, exc: BaseException) -> BaseException:
    """The TLS alert that explains a failed write, if one waits unread.

    A TLS 1.3 server that refuses the client's certificate does so after the
    handshake: it sends an alert (certificate_required) and closes. A write
    right after connect then fails with EOF while the alert sits in the
    receive buffer; the alert is the reason to report.
    """
    if not isinstance(sock, ssl.SSLSocket):
        return exc
    try:
        sock.recv(1)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
        return exc
    except ssl.SSLError as alert:
        return alert
    except OSError:
        return exc
    return exc


class Connection:
    def __init__(
        self,
        loop: EventLoop,
        record: Callable[[str, float, dict[str, str]], None],
        tags: dict[str, str],
        resolve: Callable[[str, int], list[tuple[str, int]]],
        tls_context: Callable[[], ssl.SSLContext],
    ):
        self._emitter: EventEmitter | None = None  # made by the first on()
        self.sink: Callable[..., None] = self._to_listeners
        self._loop = loop
        self._record = record  # (metric, value, tags): a sample with the VU's tags
        self.tags = tags
        self._resolve = resolve
        self._tls_context = tls_context
        self._sock: socket.socket | None = None
        self._addresses: list[tuple[str, int]] = []
        self._host = ""
        self._tls = False
        self._started = 0.0
        self._opened_at: float | None = None
        self._out: deque[list] = deque()  # [write_id, memoryview, sent, tags]
        self._mask = 0
        self._watching: Callable[[int], None] | None = None
        self._timeout = 0.0
        self._timer: Timer | None = None
        self._last_read = 0.0
        self._idle = False
        self.closed = False

    # -- opening ----------------------------------------------------------------
    def open(self, host: str, port: int, tls: bool, timeout_ms: float) -> None:
        self.tags = {**self.tags, "proto": "TCP", "host": host, "port": str(port)}
        self._host, self._tls, self._timeout = host, tls, timeout_ms / 1000.0
        if not 0 < port < 65536:
            return self._fail(f"invalid port {port}: must be between 1 and 65535")
        problem = host_problem(host)
        if problem is not None:
            return self._fail(problem)
        started = time.perf_counter()
        # A lookup of a name may take long: other VUs run meanwhile. (An
        # address needs none, and a helper thread would cost two switches.)
        try:
            if is_address(host):
                self._addresses = self._resolve(host, port)
            else:
                self._addresses = self._loop.call_blocking(lambda: self._resolve(host, port))
        except BlockedError as exc:
            return self._fail(str(exc))
        except (OSError, UnicodeError, ValueError) as exc:
            return self._fail(f"lookup {host}: {os_reason(exc)}")
        self._metric("tcp_socket_resolving", (time.perf_counter() - started) * 1000)
        self._started = time.perf_counter()
        self._next_address(None)

    def _next_address(self, last_error: BaseException | None) -> None:
        """Try the resolved addresses in turn, as Go's dialer does."""
        self._drop_socket()
        if not self._addresses:
            return self._fail(self._dial_reason(last_error))
        ip, port = self._addresses.pop(0)
        self._remote = (ip, port)
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        try:
            # Made non-blocking: setblocking() after would cost an ioctl.
            sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        except OSError as exc:
            return self._fail(self._dial_reason(exc))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        err = sock.connect_ex((ip, port))
        if err in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self._watch(WRITE, self._on_connected)
        else:
            self._next_address(OSError(err, os.strerror(err)))

    def _dial_reason(self, exc: BaseException | None) -> str:
        ip, port = getattr(self, "_remote", (self._host, 0))
        where = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        return f"dial tcp {where}: connect: {os_reason(exc) if exc else 'no address'}"

    def _on_connected(self, _mask: int) -> None:
        assert self._sock is not None
        err = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            return self._next_address(OSError(err, os.strerror(err)))
        if not self._tls:
            return self._established()
        try:
            self._sock = self._tls_context().wrap_socket(
                self._sock, server_hostname=self._host, do_handshake_on_connect=False
            )
        except (ssl.SSLError, ValueError, OSError) as exc:
            return self._fail(f"tls: {os_reason(exc)}")
        self._handshake(0)

    def _handshake(self, _mask: int) -> None:
        assert isinstance(self._sock, ssl.SSLSocket)
        try:
            self._sock.do_handshake()
        except ssl.SSLWantReadError:
            return self._watch(READ, self._handshake)
        except ssl.SSLWantWriteError:
            return self._watch(WRITE, self._handshake)
        except (ssl.SSLError, OSError) as exc:
            return self._fail(os_reason(exc) if isinstance(exc, ssl.SSLError) else f"tls handshake: {os_reason(exc)}")
        self._established()

    def _established(self) -> None:
        assert self._sock is not None
        self._metric("tcp_socket_connecting", (time.perf_counter() - self._started) * 1000)
        self.tags["remote_ip"] = self._remote[0]
        self._metric("tcp_sockets", 1)
        self._opened_at = time.perf_counter()
        self._last_read = time.monotonic()
        local = self._sock.getsockname()
        self._watch(READ, self._on_ready)
        self._arm_timeout()
        self.sink("connect", local[0], local[1], self._remote[0], self._remote[1])

    def _fail(self, reason: str) -> None:
        self._drop_socket()
        self._metric("tcp_errors", 1)
        self.sink("connect_error", reason)

    # -- reading and writing ----------------------------------------------------
    def _on_ready(self, mask: int) -> None:
        if mask & READ:
            self._read()
        if mask & WRITE and not self.closed:
            self._flush()

    def _read(self) -> None:
        sock = self._sock
        assert sock is not None
        buffer = _recv_buffer()
        while True:
            try:
                n = sock.recv_into(buffer)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError, InterruptedError):
                return
            except (OSError, ssl.SSLError) as exc:
                return self._broken("read", exc)
            if not n:
                return self._finish()
            chunk = bytes(buffer[:n])
            self._last_read = time.monotonic()
            self._metric("tcp_reads", 1)
            self._metric("data_received", len(chunk))
            self.sink("data", chunk)
            # A TLS record may hold more than one recv() returned; plain
            # sockets wait for the selector again.
            if self.closed or not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                return

    def write(self, data: bytes, write_id: int, tags: dict[str, str]) -> bool:
        """Send ``data``; True if every byte left now.

        Otherwise the rest is queued behind earlier writes and ``written``
        reports it; bytes leave in the order of the calls.
        """
        write_tags = {**self.tags, **tags} if tags else self.tags
        self._metric("tcp_writes", 1, write_tags)
        if not data:
            return True
        entry = [write_id, memoryview(data), 0, write_tags]
        self._out.append(entry)
        if len(self._out) == 1:
            self._flush()
        return entry[2] == len(data)

    def count_write_error(self, tags: dict[str, str]) -> None:
        """A write refused before any byte was sent (say, bad base64)."""
        write_tags = {**self.tags, **tags} if tags else self.tags
        self._metric("tcp_writes", 1, write_tags)
        self._metric("tcp_errors", 1, write_tags)

    def _flush(self) -> None:
        sock = self._sock
        while self._out and sock is not None:
            entry = self._out[0]
            view = entry[1]
            try:
                n = sock.send(view[entry[2]:])
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError, InterruptedError):
                break
            except (OSError, ssl.SSLError) as exc:
                return self._broken("write", _alert_behind(sock, exc))
            entry[2] += n
            self._metric("data_sent", n, entry[3])
            if entry[2] < len(view):
                continue
            self._out.popleft()
            if self._mask & WRITE:  # it was queued: JavaScript is waiting for it
                self.sink("written", entry[0], entry[2], None)
        self._watch(READ | WRITE if self._out else READ, self._on_ready)

    # -- timeouts ---------------------------------------------------------------
    def set_timeout(self, ms: float) -> None:
        self._timeout = ms / 1000.0
        self._arm_timeout()

    def _arm_timeout(self) -> None:
        if self._timer is not None:
            self._loop.cancel(self._timer)
            self._timer = None
        if self._timeout > 0 and not self.closed and self._opened_at is not None:
            due = self._last_read + self._timeout - time.monotonic()
            self._timer = self._loop.call_later(due, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        idle = time.monotonic() - self._last_read
        if idle + 1e-4 >= self._timeout:
            self._metric("tcp_timeouts", 1)
            self._last_read = time.monotonic()
            self.sink("timeout")
        self._arm_timeout()

    # -- closing ----------------------------------------------------------------
    def _broken(self, method: str, exc: BaseException) -> None:
        self._metric("tcp_errors", 1)
        reason = os_reason(exc)
        for entry in self._out:
            if entry[2]:
                self._metric("tcp_partial_writes", 1, entry[3])
            self.sink("written", entry[0], entry[2], reason)
        self._out.clear()
        self.sink("error", method, reason)
        self._finish()

    def _finish(self) -> None:
        """The connection ended by itself (EOF or error)."""
        if self.closed:
            return
        self.close()
        self.sink("close")

    def close(self) -> int:
        """Close now, quietly (the script called destroy()); returns the bytes
        of unfinished writes that had gone out."""
        if self.closed:
            return 0
        self.closed = True
        if self._timer is not None:
            self._loop.cancel(self._timer)
            self._timer = None
        partial = 0
        for entry in self._out:
            if entry[2]:
                partial += entry[2]
                self._metric("tcp_partial_writes", 1, entry[3])
        self._out.clear()
        self._drop_socket()
        if self._opened_at is not None:
            self._metric("tcp_socket_duration", (time.perf_counter() - self._opened_at) * 1000)
        return partial

    def _drop_socket(self) -> None:
        if self._sock is not None:
            self._loop.unwatch(self._sock, closing=True)
            self._mask, self._watching = 0, None
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    def peer_closed(self) -> bool:
        """Whether the peer has closed the connection while it sat idle (a
        connection kept between iterations is checked before it is used again).
        Plain TCP only; a TLS connection answers False."""
        if self.closed or self._sock is None:
            return True
        if isinstance(self._sock, ssl.SSLSocket):
            return False
        try:
            return self._sock.recv(1, socket.MSG_PEEK) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    def set_idle(self, idle: bool) -> None:
        """An idle connection stays open without keeping the VU's iteration
        going (EventLoop.idle); a module marks its connection idle while
        nothing waits on it."""
        self._idle = idle
        if self._sock is not None and self._mask:
            self._loop.idle(self._sock, idle)

    # -- events -----------------------------------------------------------------
    def on(self, event: str, f: Callable[..., None] | None = None) -> Any:
        """Add a listener for ``event`` (pyee's ``on``, usable as a decorator)."""
        if self._emitter is None:
            self._emitter = EventEmitter()
        return self._emitter.on(event, f) if f is not None else self._emitter.on(event)

    def _to_listeners(self, event: str, *args: Any) -> None:
        if self._emitter is not None:
            self._emitter.emit(event, *args)

    # -- helpers ----------------------------------------------------------------
    def _watch(self, mask: int, callback: Callable[[int], None]) -> None:
        assert self._sock is not None
        if mask == self._mask and callback == self._watching:
            return  # as it is: every write of a ping-pong came here (a syscall each)
        first = not self._mask
        self._mask, self._watching = mask, callback
        self._loop.watch(self._sock, mask, callback)
        if first and self._idle:
            self._loop.idle(self._sock)

    def _metric(self, name: str, value: float, tags: dict[str, str] | None = None) -> None:
        self._record(name, value, tags or self.tags)
