"""k6/x/redis: a Redis client for k6 scripts, as a k6host module.

Commands go out in RESP (Redis' own protocol) over k6host's TCP connection,
so every socket shows in the tcp_* metrics; each reply settles the promise of
the command it answers (Redis answers in order). The module adds its own
metrics: redis_commands, redis_errors and redis_command_duration.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any, Callable, Mapping

from k6host.modules.api import HostError, Instance, Module, ModuleVU

from k6host_redis.resp import ProtocolError, Reader, ReplyError, encode_command


class Client:
    """One connection to a server and the commands waiting for replies."""

    def __init__(self, instance: RedisInstance, cid: int, host: str, port: int, tags: dict[str, str]):
        self.instance = instance
        self.cid = cid
        self.waiting: deque[tuple[int, str, float]] = deque()  # (request id, command, sent at)
        self.reader = Reader()
        self.tags = tags
        vu = instance.vu
        self.conn = vu.connection(host, tags)  # k6host's TCP connection: the run's options, tcp_* metrics
        self.conn.on("connect", lambda *_addr: self.connected())
        self.conn.on("connect_error", lambda reason: self.end("connectFailed", reason))
        self.conn.on("data", self.received)
        self.conn.on("error", lambda _method, reason: self.end("closed", reason))
        self.conn.on("close", lambda: self.end("closed", "connection closed by the server"))
        self.conn.open(host, port, False, 0)

    def connected(self) -> None:
        # Kept open across iterations: it keeps one going only while a reply is due.
        self.conn.set_idle(not self.waiting)
        self.instance.vu.emit("connected", self.cid)

    def send(self, rid: int, args: list[str]) -> None:
        self.waiting.append((rid, args[0].upper(), time.perf_counter()))
        self.conn.set_idle(False)
        self.conn.write(encode_command(args), rid, {})

    def received(self, chunk: bytes) -> None:
        vu = self.instance.vu
        try:
            replies = self.reader.feed(chunk)
        except ProtocolError as exc:
            self.conn.close()
            return self.end("closed", f"protocol error: {exc}")
        for reply in replies:
            if not self.waiting:
                self.conn.close()
                return self.end("closed", "protocol error: a reply nobody asked for")
            rid, command, sent = self.waiting.popleft()
            tags = {**self.tags, "command": command}
            vu.add_sample("redis_commands", 1, tags)
            vu.add_sample("redis_command_duration", (time.perf_counter() - sent) * 1000.0, tags)
            if isinstance(reply, ReplyError):
                vu.add_sample("redis_errors", 1, tags)
                vu.emit("reply", rid, False, str(reply))
            else:
                vu.emit("reply", rid, True, reply)
        self.conn.set_idle(not self.waiting)

    def end(self, event: str, reason: str) -> None:
        """The connection is gone: every waiting command fails with ``reason``."""
        if self.instance.clients.pop(self.cid, None) is None:
            return
        for rid, command, _ in self.waiting:
            self.instance.vu.add_sample("redis_errors", 1, {**self.tags, "command": command})
            self.instance.vu.emit("reply", rid, False, reason)
        self.waiting.clear()
        self.instance.vu.emit(event, self.cid, reason)


class RedisInstance(Instance):
    root: Redis

    def __init__(self, root: Redis, vu: ModuleVU):
        super().__init__(root, vu)
        self.clients: dict[int, Client] = {}

    def functions(self) -> Mapping[str, Callable[..., Any]]:
        return {"connect": self.connect, "alive": self.alive, "command": self.command, "close": self.close_client}

    def alive(self, cid: int) -> bool:
        """Whether the client's connection is still there: the server may have
        closed it while it sat idle between iterations."""
        client = self.clients.get(cid)
        if client is not None and client.conn.peer_closed():
            # Idle, so nothing waits on it; and no event: the script connects anew under this id.
            client.conn.close()
            del self.clients[cid]
        return cid in self.clients

    def connect(self, cid: int, host: str, port: int, tags: dict[str, str]) -> None:
        if not isinstance(port, int) or not 0 < port < 65536:
            raise HostError(f"invalid port {port!r}: expected a number between 1 and 65535")
        self.clients[cid] = Client(self, cid, host, port, tags)

    def command(self, cid: int, rid: int, args: list[Any]) -> None:
        client = self.clients.get(cid)
        if client is None:
            raise HostError("the client is not connected")
        if not args or not all(isinstance(a, (str, int, float)) for a in args):
            raise HostError("a command is a name and arguments that are strings or numbers")
        client.send(rid, [a if isinstance(a, str) else repr(a) for a in args])

    def close_client(self, cid: int) -> None:
        client = self.clients.pop(cid, None)
        if client is not None:
            client.conn.close()

    def abandon(self) -> None:
        for client in self.clients.values():
            client.conn.close()
        self.clients.clear()

    close = abandon


class Redis(Module):
    name = "k6/x/redis"
    javascript = Path(__file__).with_name("redis.js")
    exports = ("Client", "RedisError")

    metrics = {
        "redis_commands": "counter",
        "redis_errors": "counter",
        "redis_command_duration": ("trend", "time"),
    }

    def instance(self, vu: ModuleVU) -> Instance:
        return RedisInstance(self, vu)
