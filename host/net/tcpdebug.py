"""``--tcp-debug`` (``K6_TCP_DEBUG``): one line per socket step, as ``--http-debug`` does for HTTP.

Lines go to the log's stream (stderr) and look like::

    TCP 2026-12-02T05:50:01.123456Z vu=1 iter=0 socket=1 connect 127.0.0.1:40312 -> 127.0.0.1:9000

for connect, TLS handshake, write, read, timeout, error and close. ``full``
adds the bytes of each write and read as ``hexdump -C`` shows them, cut
after :data:`DUMP_LIMIT` bytes with a line saying how many were left out.

Off (the default) costs nothing: sockets are then plain
:class:`~k6host.tcp.Connection` objects; only with the flag on does the
binding make :class:`DebugConnection`, which watches the same steps by
overriding the methods that take them.
"""

from __future__ import annotations

import ssl
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, TextIO

from k6host.net.connection import Connection

MODES = ("basic", "full")
# Bytes of one write or read that a full dump shows; the rest is counted.
DUMP_LIMIT = 1024
_TRUE = ("1", "t", "true", "TRUE", "True")
_FALSE = ("0", "f", "false", "FALSE", "False")


class TcpDebugError(ValueError):
    """A --tcp-debug or K6_TCP_DEBUG value that is neither basic nor full."""


def parse_mode(flag: str | bool | None, env: dict[str, str] | Any) -> str | None:
    """The mode from the flag (wins) or ``K6_TCP_DEBUG``; None when off."""
    if flag is True:  # the bare flag
        return "basic"
    if flag is not None:
        source, text = "--tcp-debug", flag
    else:
        source, text = "K6_TCP_DEBUG", env.get("K6_TCP_DEBUG", "")
        if text in ("",) + _FALSE:
            return None
        if text in _TRUE:
            return "basic"
    if text not in MODES:
        raise TcpDebugError(f"invalid {source} value {text!r}: expected basic or full")
    return text


def hexdump(data: bytes, limit: int = DUMP_LIMIT) -> str:
    """``hexdump -C`` of the first ``limit`` bytes, then a line for what was left out."""
    if not data:
        return ""  # as hexdump prints nothing for nothing
    shown = data[:limit]
    lines = []
    previous = None
    for offset in range(0, len(shown), 16):
        row = shown[offset:offset + 16]
        if row == previous and len(row) == 16:  # hexdump squeezes repeated rows into one "*"
            if lines[-1] != "*":
                lines.append("*")
            continue
        previous = row
        hexes = " ".join(f"{b:02x}" for b in row[:8]) + "  " + " ".join(f"{b:02x}" for b in row[8:])
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in row)
        lines.append(f"{offset:08x}  {hexes:<48}  |{text}|")
    lines.append(f"{len(shown):08x}")
    if len(data) > limit:
        lines.append(f"... {len(data) - limit} more bytes not shown (the dump stops at {limit} bytes)")
    return "\n".join(lines)


class TcpDebug:
    """The run's tracer: formats the lines and writes them whole, one at a time."""

    def __init__(self, mode: str, stream: TextIO, writer: Callable[[], Any] = lambda: None):
        self.full = mode == "full"
        self._stream = stream
        # While a progress display owns the terminal, lines go through it (Log.writer).
        self._writer = writer
        self._lock = threading.Lock()

    def line(self, who: tuple[int, int], sid: int, text: str, data: bytes | None = None) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out = f"TCP {stamp} vu={who[0]} iter={who[1]} socket={sid} {text}\n"
        if data and self.full:
            out += hexdump(data) + "\n"
        with self._lock:
            writer = self._writer()
            if writer is not None:
                writer(out, self._stream)
            else:
                self._stream.write(out)
                self._stream.flush()

    def connection_class(self, sid: int, who: Callable[[], tuple[int, int]]) -> Callable[..., Connection]:
        """What a module makes instead of a Connection for its socket ``sid``;
        ``who()`` tells the VU id and its iteration when a line is written."""

        def make(*args: Any, **kwargs: Any) -> Connection:
            return DebugConnection(self, sid, who, *args, **kwargs)

        return make


def _address(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class DebugConnection(Connection):
    """A Connection that reports each step to a :class:`TcpDebug`."""

    def __init__(self, debug: TcpDebug, sid: int, who: Callable[[], tuple[int, int]], *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._debug = debug
        self._sid = sid
        self._who = who
        self._handshake_started: float | None = None

    def _say(self, text: str, data: bytes | None = None) -> None:
        self._debug.line(self._who(), self._sid, text, data)

    def open(self, host: str, port: int, tls: bool, timeout_ms: float) -> None:
        self._say(f"connecting to {_address(host, port)}{' with TLS' if tls else ''}")
        super().open(host, port, tls, timeout_ms)

    def _handshake(self, mask: int) -> None:
        if self._handshake_started is None:
            self._handshake_started = time.perf_counter()
            self._say(f"tls handshake with {self._host}")
        super()._handshake(mask)

    def _established(self) -> None:
        if isinstance(self._sock, ssl.SSLSocket) and self._handshake_started is not None:
            took = (time.perf_counter() - self._handshake_started) * 1000
            self._say(f"tls handshake done: {self._sock.version()} {self._sock.cipher()[0]} in {took:.3f}ms")
        super()._established()

    def write(self, data: bytes, write_id: int, tags: dict[str, str]) -> bool:
        self._say(f"write {len(data)} bytes", data)
        return super().write(data, write_id, tags)

    # Every event passes here on its way to the sink the module set.
    @property
    def sink(self) -> Callable[..., None]:
        return self._report

    @sink.setter
    def sink(self, sink: Callable[..., None]) -> None:
        self._sink = sink

    def _report(self, event: str, *args: Any) -> None:
        if event == "connect":
            self._say(f"connect {_address(args[0], args[1])} -> {_address(args[2], args[3])}")
        elif event == "connect_error":
            self._say(f"connect error: {args[0]}")
        elif event == "data":
            self._say(f"read {len(args[0])} bytes", args[0])
        elif event == "error":
            self._say(f"{args[0]} error: {args[1]}")
        elif event == "timeout":
            self._say(f"timeout: no data for {self._timeout * 1000:g}ms")
        elif event == "close":
            self._say("closed by the peer or an error")
        elif event == "written" and args[2] is not None:
            self._say(f"write {args[0]} failed after {args[1]} bytes: {args[2]}")
        self._sink(event, *args)

    def close(self) -> int:
        if not self.closed and not self._finishing:
            self._say("close (destroy)")
        return super().close()

    _finishing = False

    def _finish(self) -> None:
        self._finishing = True
        super()._finish()
