"""Throw-away TLS material for local tests, so no real CA or key ever touches a test run."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme


class TestCA:
    """A fresh in-memory CA with a server cert for localhost/127.0.0.1 and one client cert.

    Everything lives in memory; only what a separate process (k6, curl) must read is
    written to disk, and only into a directory the caller owns and cleans up.
    """

    # The name starts with "Test"; keep pytest from trying to collect it as a test class.
    __test__ = False

    def __init__(self) -> None:
        self._ca = trustme.CA()
        self._server = self._ca.issue_cert("localhost", "127.0.0.1")
        self._client = self._ca.issue_cert("client.k6host.test")

    def server_context(self, require_client_cert: bool = False) -> ssl.SSLContext:
        """Server-side context; with require_client_cert, peers must present a cert from this CA (mutual TLS)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._server.configure_cert(context)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            self._ca.configure_trust(context)
        return context

    def write_ca_pem(self, directory: Path) -> Path:
        """Write the CA certificate as PEM so out-of-process clients can trust it; returns its path."""
        path = Path(directory) / "ca.pem"
        self._ca.cert_pem.write_to_path(str(path))
        return path

    def write_client_cert(self, directory: Path) -> tuple[Path, Path]:
        """Write the client certificate chain and its private key as PEM; returns (cert path, key path)."""
        cert_path = Path(directory) / "client.pem"
        key_path = Path(directory) / "client-key.pem"
        cert_path.write_bytes(b"".join(blob.bytes() for blob in self._client.cert_chain_pems))
        self._client.private_key_pem.write_to_path(str(key_path))
        return cert_path, key_path
