"""The classic ``k6/x/tcp`` API of the older community extension (github.com/NAlexandrov/xk6-tcp
and its forks): ``tcp.connect``, ``write``, ``writeLn``, ``read``, ``close``.

Rules of this API, from the Go extension:

- Every call blocks the script until it is done, as Go's ``net.Conn`` does;
  here the VU waits on its event loop, so other VUs run meanwhile.
- A connection outlives iterations (it is often made in the init context,
  one per VU) until ``tcp.close``; it is only watched during a call, so a
  connection left open never keeps an iteration from ending.
- Errors are Go's ``net`` errors, thrown as k6 throws a Go error
  (``GoError: dial tcp 127.0.0.1:1: connect: connection refused``, ``EOF``,
  ``read tcp A->B: i/o timeout``...).
- ``read`` returns what one ``Read`` returns: up to ``size`` bytes, at least
  one, as a Uint8Array (``String.fromCharCode(...bytes)`` works).

It records the same ``tcp_*`` metrics as ``Socket`` and obeys the same
``hosts``, ``blockHostnames``, ``blacklistIPs`` and ``dns`` options.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time
from typing import Any, Callable, Mapping

from k6host.modules.api import HostError, ModuleVU
from k6host.net.connection import is_address
from k6host.net.netconfig import BlockedError

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class GoNetError(HostError):
    """A Go ``net`` error, as the script sees it: ``GoError: <Go's text>``."""


def _go_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__


def _hostport(address: str) -> tuple[str, int]:
    """Go's net.SplitHostPort, with Go's messages."""
    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            raise GoNetError(f"dial tcp: address {address}: missing ']' in address")
        host, rest = address[1:end], address[end + 1:]
        if not rest.startswith(":"):
            raise GoNetError(f"dial tcp: address {address}: missing port in address")
        port_text = rest[1:]
    else:
        host, sep, port_text = address.rpartition(":")
        if not sep:
            raise GoNetError(f"dial tcp: address {address}: missing port in address")
        if ":" in host:
            raise GoNetError(f"dial tcp: address {address}: too many colons in address")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise GoNetError(f"dial tcp: address {port_text}: invalid port")
    return host or "127.0.0.1", int(port_text)


class _Conn:
    def __init__(self, sock: socket.socket, tags: dict[str, str]):
        self.sock = sock
        self.tags = tags
        self.opened = time.perf_counter()
        local, remote = sock.getsockname(), sock.getpeername()
        self.name = f"{_joined(local)}->{_joined(remote)}"  # as Go names a connection in errors


def _joined(address: tuple) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ClassicTcp:
    """One VU's classic connections (by id) and the functions behind them, part
    of the k6/x/tcp module's instance (its ``classic.*`` functions)."""

    def __init__(self, vu: ModuleVU):
        self._vu = vu
        self._conns: dict[int, _Conn] = {}
        self._next_id = 1

    def functions(self) -> Mapping[str, Callable[..., Any]]:
        return {"classic.connect": self.connect, "classic.write": self.write, "classic.read": self.read,
                "classic.close": self.close}

    # -- waiting -------------------------------------------------------------------
    def _until(self, timeout_ms: float) -> float | None:
        return time.monotonic() + timeout_ms / 1000.0 if timeout_ms > 0 else None

    def _wait(self, sock: socket.socket, mask: int, until: float | None) -> bool:
        """Let other VUs run until ``sock`` is ready for ``mask``; False when ``until`` passes.
        A test that stops ends the wait (and the iteration), as a stopping k6 cancels a call."""
        return self._vu.wait_io(sock, mask, until)

    def _metric(self, name: str, value: float, tags: dict[str, str]) -> None:
        self._vu.add_sample(name, value, tags)

    def _conn(self, conn_id: int, method: str) -> _Conn:
        conn = self._conns.get(conn_id)
        if conn is None:
            raise HostError(f"tcp.{method}: not a connection from tcp.connect()")
        return conn

    # -- the API -------------------------------------------------------------------
    def connect(self, address: str, timeout_ms: float = 0) -> list[Any]:
        """[id, "local->remote"]: the script side keeps the name for Go's errors after a close."""
        host, port = _hostport(address)
        tags = {"proto": "TCP", "host": host, "port": str(port)}
        net = self._vu.net
        started = time.perf_counter()
        try:
            if is_address(host):
                addresses = net.resolve(host, port)
            else:
                addresses = self._vu.loop.call_blocking(lambda: net.resolve(host, port))
        except BlockedError as exc:
            self._metric("tcp_errors", 1, tags)
            raise GoNetError(f"dial tcp {address}: {exc}") from None
        except (OSError, UnicodeError, ValueError) as exc:
            self._metric("tcp_errors", 1, tags)
            if isinstance(exc, socket.gaierror):
                raise GoNetError(f"dial tcp: lookup {host}: no such host") from None
            raise GoNetError(f"dial tcp: lookup {host}: {_go_reason(exc)}") from None
        self._metric("tcp_socket_resolving", (time.perf_counter() - started) * 1000, tags)
        until = self._until(float(timeout_ms or 0))
        started = time.perf_counter()
        reason = "no address"
        for ip, ip_port in addresses:
            where = _joined((ip, ip_port))
            sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            err = sock.connect_ex((ip, ip_port))
            if err in (errno.EINPROGRESS, errno.EWOULDBLOCK):
                if not self._wait(sock, WRITE, until):
                    sock.close()
                    self._metric("tcp_errors", 1, tags)
                    raise GoNetError(f"dial tcp {where}: i/o timeout")
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                sock.close()
                reason = f"dial tcp {where}: connect: {os.strerror(err).lower()}"
                continue
            tags = {**tags, "remote_ip": ip}
            self._metric("tcp_socket_connecting", (time.perf_counter() - started) * 1000, tags)
            self._metric("tcp_sockets", 1, tags)
            conn_id = self._next_id
            self._next_id += 1
            conn = self._conns[conn_id] = _Conn(sock, tags)
            return [conn_id, conn.name]
        self._metric("tcp_errors", 1, tags)
        raise GoNetError(reason)

    def write(self, conn_id: int, text: str | None, newline: bool, timeout_ms: float = 0) -> None:
        """``text`` is written as UTF-8; None: the bytes are on the script's side (native.callWithBytes)."""
        conn = self._conn(conn_id, "writeLn" if newline else "write")
        data = self._vu.take_bytes() if text is None else text.encode("utf-8", "surrogatepass")
        if data is None:
            raise HostError("tcp.write: the data must be a string, an ArrayBuffer, a typed array or an array of bytes")
        if newline:
            data += b"\n"
        self._metric("tcp_writes", 1, conn.tags)
        until = self._until(float(timeout_ms or 0))
        view, sent = memoryview(data), 0
        while sent < len(view):
            try:
                n = conn.sock.send(view[sent:])
            except (BlockingIOError, InterruptedError):
                if not self._wait(conn.sock, WRITE, until):
                    self._metric("tcp_errors", 1, conn.tags)
                    raise GoNetError(f"write tcp {conn.name}: i/o timeout") from None
                continue
            except OSError as exc:
                self._metric("tcp_errors", 1, conn.tags)
                if sent:
                    self._metric("tcp_partial_writes", 1, conn.tags)
                raise GoNetError(f"write tcp {conn.name}: write: {_go_reason(exc)}") from None
            sent += n
            self._metric("data_sent", n, conn.tags)

    def read(self, conn_id: int, size: Any, timeout_ms: float = 0) -> None:
        """One Read of at most ``size`` bytes, left for the script (native.takeReturned)."""
        conn = self._conn(conn_id, "read")
        if isinstance(size, bool) or not isinstance(size, (int, float)) or size != size:
            raise HostError(f"tcp.read: size must be a number, got {size!r}")
        size = int(size)
        if size < 0:
            raise GoNetError("runtime error: makeslice: len out of range")
        until = self._until(float(timeout_ms or 0))
        while True:
            try:
                data = conn.sock.recv(size) if size else b""
                break
            except (BlockingIOError, InterruptedError):
                if not self._wait(conn.sock, READ, until):
                    self._metric("tcp_timeouts", 1, conn.tags)
                    raise GoNetError(f"read tcp {conn.name}: i/o timeout") from None
            except OSError as exc:
                self._metric("tcp_errors", 1, conn.tags)
                raise GoNetError(f"read tcp {conn.name}: read: {_go_reason(exc)}") from None
        if size and not data:
            raise GoNetError("EOF")
        if data:
            self._metric("tcp_reads", 1, conn.tags)
            self._metric("data_received", len(data), conn.tags)
        self._vu.put_bytes(data)

    def close(self, conn_id: int) -> None:
        self._finish(self._conn(conn_id, "close"))
        del self._conns[conn_id]  # later calls are answered on the script's side

    def _finish(self, conn: _Conn) -> None:
        conn.sock.close()
        self._metric("tcp_socket_duration", (time.perf_counter() - conn.opened) * 1000, conn.tags)

    def close_all(self) -> None:
        """The VU is going: close what the script left open."""
        for conn in self._conns.values():
            self._finish(conn)
        self._conns.clear()

