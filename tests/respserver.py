"""A small Redis-speaking server on 127.0.0.1 for the example extension's
tests: PING, SET, GET, INCR, DEL, HANG (read, never answer) and CLOSEAFTER
(answer, then close the connection). A thread
per connection with blocking sockets: obviously right, not fast. Its
protocol code is its own, not the extension's, so one cannot hide the
other's mistakes."""

from __future__ import annotations

import socket
import threading

_NO_REPLY = object()


def _encode(reply) -> bytes:
    if reply is None:
        return b"$-1\r\n"
    if isinstance(reply, int):
        return b":%d\r\n" % reply
    if reply.startswith(("+", "-")):
        return reply.encode() + b"\r\n"
    data = reply.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _commands(stream):
    """Commands (lists of strings) read from a file made from the socket."""
    while True:
        line = stream.readline()
        if not line:
            return
        assert line.startswith(b"*"), line
        args = []
        for _ in range(int(line[1:])):
            size = int(stream.readline()[1:])
            args.append(stream.read(size + 2)[:-2].decode())
        yield args


class RespServer:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = self._listener.getsockname()[:2]
        self.data: dict[str, str] = {}
        self.connections = 0  # accepted so far
        self.open_connections = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self.open_connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            with conn, conn.makefile("rb") as stream:
                for command in _commands(stream):
                    reply = self._answer(command)
                    if reply is not _NO_REPLY:
                        conn.sendall(_encode(reply))
                    if command[0].upper() == "CLOSEAFTER":
                        return
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self.open_connections -= 1

    def _answer(self, command: list[str]):
        name, args = command[0].upper(), command[1:]
        with self._lock:
            if name == "PING":
                return "+PONG"
            if name == "SET":
                self.data[args[0]] = args[1]
                return "+OK"
            if name == "GET":
                return self.data.get(args[0])
            if name == "INCR":
                value = int(self.data.get(args[0], "0")) + 1
                self.data[args[0]] = str(value)
                return value
            if name == "DEL":
                return sum(1 for key in args if self.data.pop(key, None) is not None)
            if name == "HANG":
                return _NO_REPLY
            if name == "CLOSEAFTER":
                return "+OK"
        return f"-ERR unknown command '{name}'"

    def close(self) -> None:
        self._listener.close()
