"""RESP, Redis' wire protocol: commands out, replies in (parsed incrementally)."""

from __future__ import annotations

from typing import Any


class ProtocolError(Exception):
    """The server sent something that is not RESP."""


class ReplyError(str):
    """An error reply (``-ERR ...``): a value, not a broken connection."""


def encode_command(args: list[str]) -> bytes:
    """A command as an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Reader:
    """Bytes in, whole replies out; a reply split across reads waits for the rest."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self._buffer += data
        replies = []
        while True:
            parsed = self._parse(0)
            if parsed is None:
                return replies
            reply, end = parsed
            del self._buffer[:end]
            replies.append(reply)

    def _line(self, start: int) -> tuple[bytes, int] | None:
        end = self._buffer.find(b"\r\n", start)
        return None if end < 0 else (bytes(self._buffer[start:end]), end + 2)

    def _parse(self, start: int) -> tuple[Any, int] | None:
        line = self._line(start)
        if line is None:
            return None
        head, after = line
        if not head:
            raise ProtocolError("empty line")
        kind, body = head[:1], head[1:]
        if kind == b"+":
            return body.decode("utf-8", "replace"), after
        if kind == b"-":
            return ReplyError(body.decode("utf-8", "replace")), after
        if kind == b":":
            return _integer(body), after
        if kind == b"$":
            size = _integer(body)
            if size < 0:
                return None, after
            if len(self._buffer) < after + size + 2:
                return None
            return bytes(self._buffer[after:after + size]).decode("utf-8", "replace"), after + size + 2
        if kind == b"*":
            count = _integer(body)
            if count < 0:
                return None, after
            items = []
            for _ in range(count):
                parsed = self._parse(after)
                if parsed is None:
                    return None
                item, after = parsed
                items.append(item)
            return items, after
        raise ProtocolError(f"unknown reply type {kind!r}")


def _integer(body: bytes) -> int:
    try:
        return int(body)
    except ValueError:
        raise ProtocolError(f"not a number: {body!r}") from None
