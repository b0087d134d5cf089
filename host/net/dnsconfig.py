"""k6's ``dns`` option: how long lookups are cached (``ttl``), which family is used
(``policy``) and which one address a connection gets (``select``).

k6's default is ``ttl=5m,select=random,policy=preferIPv4``. As in k6, a
connection is made to the one address selected, not to each in turn.
"""

from __future__ import annotations

import functools
import random
import socket
import threading
import time
from typing import Any, Mapping

from k6host.run.durations import SECOND, DurationError, parse_extended

SELECTS = ("first", "random", "roundRobin")
POLICIES = ("preferIPv4", "preferIPv6", "onlyIPv4", "onlyIPv6", "any")
DEFAULT = {"ttl": "5m", "select": "random", "policy": "preferIPv4"}



@functools.lru_cache(maxsize=1024)
def ip_literal(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address as written (a scoped IPv6
    address, with ``%zone``, is not: the lookup resolves its zone)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except (OSError, ValueError):
            pass
    return False


class DnsError(ValueError):
    """A dns option k6 refuses; ``bad_ttl`` marks the one k6 exits 255 for (104 otherwise)."""

    def __init__(self, message: str, bad_ttl: bool = False):
        super().__init__(message)
        self.bad_ttl = bad_ttl


def ttl_seconds(text: str) -> float:
    """``inf`` (forever), ``0`` (no cache), a duration, or milliseconds without a unit."""
    if text == "inf":
        return float("inf")
    if text.isdigit():
        return int(text) / 1000.0
    try:
        return parse_extended(text) / SECOND
    except DurationError:
        raise DnsError(f"invalid DNS TTL: {text}", bad_ttl=True) from None


def check(config: Mapping[str, Any]) -> dict[str, Any]:
    """The option's object, its values checked with k6's messages; unknown keys are ignored as k6 does."""
    out = {}
    for key, allowed, kind in (("ttl", None, ""), ("select", SELECTS, "DNSSelect"), ("policy", POLICIES, "DNSPolicy")):
        value = config.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            type_name = {bool: "bool", dict: "object", list: "array"}.get(type(value), "float64")
            raise DnsError(f"json: cannot unmarshal {type_name} into Go value of type null.String")
        if allowed is None:
            ttl_seconds(value)
        elif value not in allowed:
            raise DnsError(f"{value} does not belong to {kind} values")
        out[key] = value
    return out


def parse_flag(text: str) -> dict[str, Any]:
    """``--dns ttl=1m,select=first,policy=any`` / ``K6_DNS``."""
    config = {}
    for item in text.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise DnsError(f"no value for key {key}")
        if key not in ("ttl", "select", "policy"):
            raise DnsError(f"unknown DNS configuration field: {key}")
        config[key] = value
    return check(config)


class Resolver:
    """Lookups for every VU of a run, with k6's cache, family policy and selection."""

    def __init__(self, config: Mapping[str, Any] | None = None):
        config = {**DEFAULT, **{k: v for k, v in (config or {}).items() if v is not None}}
        self.ttl = ttl_seconds(config["ttl"])
        self.select = config["select"]
        self.policy = config["policy"]
        self._cache: dict[tuple[str, int], tuple[float, list[tuple[str, int]]]] = {}
        self._turn: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def lookup(self, host: str, port: int) -> list[tuple[str, int]]:
        """Every address of ``host`` the policy allows, cached for ``ttl``."""
        if ip_literal(host):  # nothing to look up, as in Go's dialer
            return [(host, port)]
        key = (host, port)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses: list[tuple[str, int]] = []
        for info in infos:
            address = (info[4][0], info[4][1])
            if address not in addresses:
                addresses.append(address)
        addresses = self._by_policy(addresses, host)
        if self.ttl > 0:
            with self._lock:
                self._cache[key] = (now + self.ttl, addresses)
        return addresses

    def _by_policy(self, addresses: list[tuple[str, int]], host: str) -> list[tuple[str, int]]:
        v4 = [a for a in addresses if ":" not in a[0]]
        v6 = [a for a in addresses if ":" in a[0]]
        chosen = {
            "preferIPv4": v4 or v6, "preferIPv6": v6 or v4, "onlyIPv4": v4, "onlyIPv6": v6, "any": addresses,
        }[self.policy]
        if not chosen:
            raise socket.gaierror(socket.EAI_NONAME, f"no {self.policy[-4:]} address for {host}")
        return chosen

    def pick(self, host: str, port: int, addresses: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """The one address a connection goes to."""
        if len(addresses) <= 1 or self.select == "first":
            return addresses[:1]
        if self.select == "random":
            return [random.choice(addresses)]
        with self._lock:
            turn = self._turn.get((host, port), 0)
            self._turn[(host, port)] = turn + 1
        return [addresses[turn % len(addresses)]]
