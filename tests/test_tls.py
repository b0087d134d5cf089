"""TLS connections: a real handshake against a throw-away CA (trustme)."""

from __future__ import annotations

import json

import pytest

from k6host.testing.certs import TestCA
from k6host.testing.echo import EchoServer


@pytest.fixture(scope="module")
def ca():
    return TestCA()


@pytest.fixture
def trusted(ca, tmp_path, monkeypatch):
    """Make the test CA trusted the way OpenSSL programs take it: SSL_CERT_FILE."""
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.write_ca_pem(tmp_path)))


def tls_script(port: int, host: str = "localhost", options: str = "{}") -> str:
    return f"""
    import {{ Socket }} from "k6/x/tcp"
    export const options = {options}
    export default async function () {{
      const s = new Socket()
      let listener = null
      s.on("error", (e) => {{ listener = e.method }})
      const got = new Promise((resolve) => {{
        s.on("data", (d) => resolve(String.fromCharCode.apply(null, d)))
        s.on("close", () => resolve(null))
      }})
      try {{
        await s.connect({{ port: {port}, host: "{host}", tls: true }})
      }} catch (e) {{
        report(["rejected", e.name, listener, e.message])
        return
      }}
      // A server that refuses the client certificate may close before this.
      await s.write("secret").catch(() => {{}})
      const text = await got
      report(text === null ? ["closed", listener] : ["echo", text])
      s.destroy()
    }}
    """


def test_tls_echo_with_trusted_ca(run_js, ca, trusted):
    with EchoServer(ssl_context=ca.server_context()) as server:
        r = run_js(tls_script(server.port))
    assert r.report() == ["echo", "secret"]
    assert r.metrics.total("tcp_sockets") == 1


def test_tls_by_ip_address_verifies_the_ip(run_js, ca, trusted):
    with EchoServer(ssl_context=ca.server_context()) as server:
        r = run_js(tls_script(server.port, host="127.0.0.1"))
    assert r.report() == ["echo", "secret"]


def test_untrusted_ca_fails_verification(run_js, ca, monkeypatch, tmp_path):
    other = TestCA()  # trust a different CA than the one that signed the server
    monkeypatch.setenv("SSL_CERT_FILE", str(other.write_ca_pem(tmp_path)))
    with EchoServer(ssl_context=ca.server_context()) as server:
        r = run_js(tls_script(server.port))
    kind, name, listener, message = r.report()
    assert (kind, name, listener) == ("rejected", "TCPError", "connect")
    assert "certificate" in message
    assert r.metrics.total("tcp_errors") == 1


def test_insecure_skip_verify_accepts_untrusted(run_js, ca, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with EchoServer(ssl_context=ca.server_context()) as server:
        r = run_js(tls_script(server.port, options='{ insecureSkipTLSVerify: true }'))
    assert r.report() == ["echo", "secret"]


def test_plain_server_fails_the_handshake(run_js, echo, trusted):
    r = run_js(tls_script(echo.port))
    kind, name, listener, _ = r.report()
    assert (kind, name, listener) == ("rejected", "TCPError", "connect")


def test_client_certificate_from_tls_auth(run_js, ca, trusted, tmp_path):
    cert, key = ca.write_client_cert(tmp_path)
    auth = json.dumps([{"domains": ["localhost"], "cert": cert.read_text(), "key": key.read_text()}])
    with EchoServer(ssl_context=ca.server_context(require_client_cert=True)) as server:
        without = run_js(tls_script(server.port))
        with_cert = run_js(tls_script(server.port, options=f"{{ tlsAuth: {auth} }}"))
    assert with_cert.report() == ["echo", "secret"]
    # Without a client certificate the server refuses; TLS 1.3 says so only
    # after the handshake, so the refusal reaches the script as an error of
    # the read or of the write, whichever meets the closed connection first.
    refused = without.report()
    assert refused[0] in ("rejected", "closed") and refused[-1] != "echo", refused
    assert refused[0] == "rejected" or refused[1] in ("read", "write")


def test_bad_tls_option_is_a_config_error(run_js):
    r = run_js(tls_script(1, options='{ insecureSkipTLSVerify: "yes" }'))
    assert r.exit_code == 104
    assert "insecureSkipTLSVerify" in r.output
