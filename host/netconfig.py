"""What k6's options say about reaching hosts: TLS verification, client
certificates (``tlsAuth``) and name overrides (``hosts``)."""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import tempfile
import threading
from typing import Any


class OptionError(ValueError):
    """An option has a value k6 would refuse; the message names it."""


class BlockedError(OSError):
    """The options forbid connecting to this host or address."""


def _string_list(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise OptionError(f"option {name} must be a list of strings")
    return value


class NetConfig:
    """Shared by every VU of a run; TLS contexts are built once and reused."""

    def __init__(self, options: dict[str, Any] | None = None):
        options = options or {}
        skip = options.get("insecureSkipTLSVerify") or False
        if not isinstance(skip, bool):
            raise OptionError("option insecureSkipTLSVerify must be true or false")
        self.insecure = skip
        self._auth = []
        auth = options.get("tlsAuth") or []
        if not isinstance(auth, list):
            raise OptionError("option tlsAuth must be a list of {domains, cert, key} objects")
        for i, entry in enumerate(auth):
            if not isinstance(entry, dict) or not isinstance(entry.get("cert"), str) or not isinstance(entry.get("key"), str):
                raise OptionError(f"option tlsAuth[{i}] needs cert and key as PEM strings")
            domains = _string_list(entry.get("domains", []), f"tlsAuth[{i}].domains")
            self._auth.append((domains, entry["cert"], entry["key"]))
        hosts = options.get("hosts") or {}
        if not isinstance(hosts, dict) or not all(isinstance(v, str) for v in hosts.values()):
            raise OptionError("option hosts must be an object of host name to address")
        self.hosts = {k.lower(): v for k, v in hosts.items()}
        self.blocked_hostnames = [p.lower() for p in _string_list(options.get("blockHostnames") or [], "blockHostnames")]
        try:
            self.blocked_ips = [
                ipaddress.ip_network(c, strict=False) for c in _string_list(options.get("blacklistIPs") or [], "blacklistIPs")
            ]
        except ValueError as exc:
            raise OptionError(f"option blacklistIPs: {exc}") from None
        self._contexts: dict[int, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        # A tcpdebug.TcpDebug when --tcp-debug is on (the runner sets it).
        self.tcp_debug: Any = None

    def resolve(self, host: str, port: int) -> list[tuple[str, int]]:
        """Addresses to try for ``host``, after ``hosts``, ``blockHostnames`` and ``blacklistIPs``.

        A refusal raises BlockedError with k6's wording.
        """
        name = host.lower()
        for pattern in self.blocked_hostnames:
            if name == pattern or (pattern.startswith("*") and name.endswith(pattern[1:])):
                raise BlockedError(f"hostname ({host}) is in a blocked pattern ({pattern})")
        target = self.hosts.get(name, host)
        if ":" in target and not target.startswith("[") and target.count(":") == 1:
            target, _, port_text = target.partition(":")
            port = int(port_text)
        infos = socket.getaddrinfo(target.strip("[]"), port, type=socket.SOCK_STREAM)
        seen: list[tuple[str, int]] = []
        refused = None
        for info in infos:
            address = (info[4][0], info[4][1])
            network = self._blocked(address[0])
            if network is not None:
                refused = refused or f"IP ({address[0]}) is in a blacklisted range ({network})"
            elif address not in seen:
                seen.append(address)
        if not seen and refused:
            raise BlockedError(refused)
        return seen

    def _blocked(self, ip: str) -> ipaddress._BaseNetwork | None:
        if not self.blocked_ips:  # parsing the address was ~4 % of a churn iteration
            return None
        address = ipaddress.ip_address(ip.split("%", 1)[0])
        return next((n for n in self.blocked_ips if address.version == n.version and address in n), None)

    def tls_context(self, host: str) -> ssl.SSLContext:
        """The client context for ``host``: system roots, ALPN http/1.1."""
        index = next((i for i, (domains, _, _) in enumerate(self._auth) if _matches(host, domains)), -1)
        with self._lock:
            context = self._contexts.get(index)
            if context is None:
                context = self._build(index)
                self._contexts[index] = context
        return context

    def _build(self, auth_index: int) -> ssl.SSLContext:
        context = ssl.create_default_context()
        context.set_alpn_protocols(["http/1.1"])
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if auth_index >= 0:
            _, cert, key = self._auth[auth_index]
            # ssl only loads chains from files: write them where only we can read.
            with tempfile.TemporaryDirectory() as folder:
                cert_path = os.path.join(folder, "cert.pem")
                key_path = os.path.join(folder, "key.pem")
                for path, text in ((cert_path, cert), (key_path, key)):
                    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                        f.write(text)
                try:
                    context.load_cert_chain(cert_path, key_path)
                except (ssl.SSLError, OSError) as exc:
                    raise OptionError(f"option tlsAuth[{auth_index}]: cannot load the certificate: {exc}") from None
        return context


def _matches(host: str, domains: list[str]) -> bool:
    if not domains:
        return True
    host = host.lower()
    for domain in domains:
        domain = domain.lower()
        if host == domain or (domain.startswith("*.") and host.endswith(domain[1:])):
            return True
    return False
