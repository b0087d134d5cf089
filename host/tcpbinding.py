"""The native side of ``k6/x/tcp`` for one VU: socket ids to connections.

JavaScript calls ``tcp.*`` functions; each :class:`~k6host.tcp.Connection`'s
pyee events become entries in the VU's event queue, which the VU hands to
JavaScript in one batch.
"""

from __future__ import annotations

from typing import Any

from .encoding import EncodingError, to_bytes
from .engine import Engine
from .loop import EventLoop
from .metrics import Metrics
from .netconfig import NetConfig
from .tcp import Connection


class TcpBinding:
    def __init__(self, engine: Engine, loop: EventLoop, metrics: Metrics, net: NetConfig):
        self._engine = engine
        self._loop = loop
        self._metrics = metrics
        self.net = net
        self._conns: dict[int, Connection] = {}
        self._partial: dict[int, bytearray] = {}  # slices of a large write, until its last
        self._next_write = 1
        engine.export("tcp.connect", self.connect)
        engine.export("tcp.write", self.write)
        engine.export("tcp.timeout", self.set_timeout)
        engine.export("tcp.destroy", self.destroy)
        engine.export("tcp.refused", self.refused)

    def connect(self, sid: int, host: str, port: int, tls: bool, tags: dict[str, str], timeout_ms: float) -> None:
        events = self._loop.events
        debug = self.net.tcp_debug
        make = Connection if debug is None else debug.connection_class(sid, self._metrics)
        conn = make(
            self._loop, self._metrics, tags, self.net.resolve, lambda: self.net.tls_context(host)
        )
        conn.on("connect", lambda *addr: events.append(["c", sid, *addr]))
        conn.on("connect_error", lambda reason: self._forget(sid, ["f", sid, reason]))
        conn.on("data", lambda chunk: events.append(["d", sid, chunk]))
        conn.on("error", lambda method, reason: events.append(["e", sid, method, reason]))
        conn.on("close", lambda: self._forget(sid, ["x", sid]))
        conn.on("timeout", lambda: events.append(["t", sid]))
        conn.on("written", lambda wid, n, reason: events.append(["w", sid, wid, n, reason]))
        self._conns[sid] = conn
        conn.open(host, int(port), bool(tls), float(timeout_ms))

    def _forget(self, sid: int, event: list[Any]) -> None:
        self._conns.pop(sid, None)
        self._loop.events.append(event)

    def write(
        self, sid: int, payload: str | None, encoding: str, tags: dict[str, str], more: bool = False
    ) -> list[Any]:
        """``[bytes, None, True]`` sent now, ``[write_id, None, False]`` queued,
        ``[0, reason, False]`` refused; with ``more``, a slice of a larger
        string is kept until its last slice comes (``[0, None, False]``).
        Binary payloads do not come as text: they are read from the script's
        side (Engine.take_bytes)."""
        conn = self._conns.get(sid)
        if conn is None or conn.closed:
            self._partial.pop(sid, None)
            return [0, "no active connection", False]
        try:
            if encoding == "binary":
                data = self._engine.take_bytes()
                if data is None:
                    raise EncodingError("the bytes to write were not a Uint8Array")
            else:
                data = to_bytes(payload, encoding)
        except EncodingError as exc:
            self._partial.pop(sid, None)
            conn.count_write_error(tags)
            return [0, str(exc), False]
        if more:
            self._partial.setdefault(sid, bytearray()).extend(data)
            return [0, None, False]
        earlier = self._partial.pop(sid, None)
        if earlier is not None:
            earlier.extend(data)
            data = bytes(earlier)
        write_id = self._next_write
        self._next_write += 1
        if conn.write(data, write_id, tags):
            return [len(data), None, True]
        return [write_id, None, False]

    def refused(self, sid: int, tags: dict[str, str]) -> None:
        conn = self._conns.get(sid)
        if conn is not None:
            conn.count_write_error(tags)

    def set_timeout(self, sid: int, ms: float) -> None:
        conn = self._conns.get(sid)
        if conn is not None:
            conn.set_timeout(float(ms))

    def destroy(self, sid: int) -> int:
        """Close ``sid``; the bytes of its unfinished writes that went out."""
        self._partial.pop(sid, None)
        conn = self._conns.pop(sid, None)
        return conn.close() if conn is not None else 0

    def close_all(self) -> None:
        """Close every connection quietly (the iteration was abandoned)."""
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()
