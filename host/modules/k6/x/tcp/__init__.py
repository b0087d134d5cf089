"""k6/x/tcp: the Python side of the Socket (and of the older blocking API).

Each VU's instance maps socket ids to connections (k6host.net), whose
events become the module's events for tcp.js ("connect", "data", ...),
handed over in batches.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

from k6host.engine.loader import jsmodules_dir
from k6host.modules.api import Instance, Module, ModuleVU
from k6host.modules.k6.encoding import EncodingError, to_bytes
from k6host.modules.k6.x.tcp.classic import ClassicTcp
from k6host.net.connection import Connection


# A connection's events (k6host.net.connection) by the names tcp.js knows;
# after the last two the connection is gone.
_KINDS = {
    "connect": "connect",
    "connect_error": "connectFailed",
    "data": "data",
    "error": "error",
    "close": "closed",
    "timeout": "timeout",
    "written": "written",
}
_ENDS = ("connect_error", "close")


class TcpInstance(Instance):
    root: Tcp

    def __init__(self, root: Tcp, vu: ModuleVU):
        super().__init__(root, vu)
        self._conns: dict[int, Connection] = {}
        self._partial: dict[int, bytearray] = {}  # slices of a large write, until its last
        self._next_write = 1
        # The older extension's blocking API (tcp.connect/read/write/close): its
        # connections outlive iterations, so abandon() leaves them alone.
        self.classic = ClassicTcp(vu)

    def functions(self) -> Mapping[str, Callable[..., Any]]:
        return {
            "connect": self.connect,
            "write": self.write,
            "timeout": self.set_timeout,
            "destroy": self.destroy,
            "refused": self.refused,
            **self.classic.functions(),
        }

    def connect(self, sid: int, host: str, port: int, tls: bool, tags: dict[str, str], timeout_ms: float) -> None:
        conn = self.vu.connection(host, tags, debug_id=sid)
        conn.sink = functools.partial(self._event, sid)
        self._conns[sid] = conn
        conn.open(host, int(port), bool(tls), float(timeout_ms))

    def _event(self, sid: int, event: str, *args: Any) -> None:
        """A connection's event, as tcp.js's event [module, kind, sid, ...]."""
        if event in _ENDS:
            self._conns.pop(sid, None)
        self.vu.emit(_KINDS[event], sid, *args)

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
                data = self.vu.take_bytes()
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

    def abandon(self) -> None:
        """Close every connection quietly (the iteration was abandoned)."""
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()
        self._partial.clear()

    def close(self) -> None:
        self.abandon()
        self.classic.close_all()


class Tcp(Module):
    name = "k6/x/tcp"
    javascript = jsmodules_dir() / "k6" / "x" / "tcp.js"
    exports = ("Socket", "TCPError", "connect", "write", "writeLn", "read", "close")

    def instance(self, vu: ModuleVU) -> Instance:
        return TcpInstance(self, vu)
