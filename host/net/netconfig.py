"""What k6's options say about reaching hosts: TLS verification, client
certificates (``tlsAuth``) and name overrides (``hosts``)."""

from __future__ import annotations

import ipaddress
import json
import os
import ssl
import tempfile
import threading
from typing import Any

from k6host.net.dnsconfig import Resolver
from k6host.run.options import OptionsError


class OptionError(OptionsError):
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
        for name, target in hosts.items():
            _, colon, port = target.rpartition(":") if target.count(":") == 1 else ("", "", "")
            if colon and not (port.isdigit() and 0 < int(port) < 65536):
                raise OptionError(f"option hosts: invalid address {target!r} for {name!r}: the port must be between 1 and 65535")
        self.hosts = {k.lower(): v for k, v in hosts.items()}
        self.blocked_hostnames = [p.lower() for p in _string_list(options.get("blockHostnames") or [], "blockHostnames")]
        try:
            self.blocked_ips = [
                ipaddress.ip_network(c, strict=False) for c in _string_list(options.get("blacklistIPs") or [], "blacklistIPs")
            ]
        except ValueError as exc:
            raise OptionError(f"option blacklistIPs: {exc}") from None
        self.dns = Resolver(options.get("dns"))
        self._versions = _tls_versions(options.get("tlsVersion"))
        self._ciphers = _cipher_string(options.get("tlsCipherSuites"))
        _restrict(ssl.create_default_context(), self._versions, self._ciphers)  # refused now, not at a connect
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
        target = self.hosts.get(name)
        if target is None:
            target = host
        elif ":" in target and not target.startswith("[") and target.count(":") == 1:
            target, _, port_text = target.partition(":")  # a hosts entry may name a port
            port = int(port_text)  # checked in __init__
        seen: list[tuple[str, int]] = []
        refused = None
        for address in self.dns.lookup(target.strip("[]"), port):
            network = self._blocked(address[0])
            if network is not None:
                refused = refused or f"IP ({address[0]}) is in a blacklisted range ({network})"
            elif address not in seen:
                seen.append(address)
        if not seen and refused:
            raise BlockedError(refused)
        return self.dns.pick(target, port, seen)

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
        _restrict(context, self._versions, self._ciphers)
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


# k6's tlsVersion values (string form: one version; object form: min and max).
_TLS_VERSIONS = {
    "tls1.0": ssl.TLSVersion.TLSv1, "tls1.1": ssl.TLSVersion.TLSv1_1,
    "tls1.2": ssl.TLSVersion.TLSv1_2, "tls1.3": ssl.TLSVersion.TLSv1_3,
}
# k6's tlsCipherSuites names (Go's) and OpenSSL's for them. Go does not let a
# program choose among the TLS 1.3 suites (they are always on), nor does
# Python's ssl: those names are accepted and change nothing, as in k6.
_CIPHER_SUITES = {
    "TLS_RSA_WITH_RC4_128_SHA": "RC4-SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA": "ECDHE-ECDSA-RC4-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA": "ECDHE-RSA-RC4-SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_AES_128_GCM_SHA256": "",
    "TLS_AES_256_GCM_SHA384": "",
    "TLS_CHACHA20_POLY1305_SHA256": "",
}


def _tls_versions(value: Any) -> tuple[ssl.TLSVersion | None, ssl.TLSVersion | None]:
    """(min, max) from tlsVersion, refused in k6's words."""
    if value is None:
        return None, None
    if isinstance(value, str):
        if value not in _TLS_VERSIONS:
            raise OptionError(f"option tlsVersion: unknown TLS version {value!r}; use one of {', '.join(_TLS_VERSIONS)}")
        return _TLS_VERSIONS[value], _TLS_VERSIONS[value]
    if not isinstance(value, dict) or not set(value) <= {"min", "max"}:
        raise OptionError("option tlsVersion must be a version string or an object of min and max")
    versions = []
    for key in ("min", "max"):
        version = value.get(key)
        if version in (None, ""):
            versions.append(None)
        elif not isinstance(version, str) or version not in _TLS_VERSIONS:
            raise OptionError(f"unknown TLS version {version!r} (option tlsVersion.{key}); use one of {', '.join(_TLS_VERSIONS)}")
        else:
            versions.append(_TLS_VERSIONS[version])
    return versions[0], versions[1]


def _cipher_string(value: Any) -> str | None:
    """OpenSSL's cipher string for tlsCipherSuites (None: the defaults)."""
    if value is None:
        return None
    names = _string_list(value, "tlsCipherSuites")
    for name in names:
        if name not in _CIPHER_SUITES:
            raise OptionError(f"unknown cipher suite {name!r} (option tlsCipherSuites)")
    chosen = [_CIPHER_SUITES[name] for name in names if _CIPHER_SUITES[name]]
    if not chosen:  # none, or TLS 1.3 suites only: TLS 1.2 and below keep their defaults
        return None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).set_ciphers(":".join(chosen))
    except ssl.SSLError:
        raise OptionError(f"option tlsCipherSuites: none of {', '.join(names)} is available in this Python's OpenSSL") from None
    return ":".join(chosen)


def _restrict(context: ssl.SSLContext, versions: tuple[Any, Any], ciphers: str | None) -> None:
    low, high = versions
    try:
        if low is not None:
            context.minimum_version = low
        if high is not None:
            context.maximum_version = high
    except (ValueError, ssl.SSLError) as exc:  # this OpenSSL refuses the version
        raise OptionError(f"option tlsVersion: {exc}") from None
    if ciphers is not None:
        context.set_ciphers(ciphers)


def host_problem(host: str) -> str | None:
    """What is wrong with ``host`` as a connect() host (a name or an IP
    address, no port), or None."""
    if not host or len(host) > 253:
        return f"invalid host {json.dumps(host, ensure_ascii=False)}"
    if host.count(":") == 1 or (host.startswith("[") and "]:" in host):
        return (f"invalid host {json.dumps(host, ensure_ascii=False)}: "
                "a host must not contain a port (the port is connect()'s first argument)")
    if not host.isascii():
        try:
            host.encode("idna")
        except UnicodeError as exc:
            reason = str(exc.__cause__ or exc).split(": ")[-1]
            return f"invalid host {json.dumps(host, ensure_ascii=False)}: not a valid host name ({reason})"
    return None


def _matches(host: str, domains: list[str]) -> bool:
    if not domains:
        return True
    host = host.lower()
    for domain in domains:
        domain = domain.lower()
        if host == domain or (domain.startswith("*.") and host.endswith(domain[1:])):
            return True
    return False
