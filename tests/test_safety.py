"""What keeps a load test from doing what its author did not mean: TLS that
verifies by default, blocked host names and addresses, name overrides, and
open() confined to the init context.

Loopback only: blocked and blacklisted names are mapped onto 127.0.0.x with
the ``hosts`` option, so no name is ever looked up outside the machine.
"""

from __future__ import annotations

import json
import socket

import pytest
from faultserver import FaultServer
from k6host.testing.certs import TestCA
from k6host.testing.echo import EchoServer

INSECURE_WARNING = "insecureSkipTLSVerify is on"


@pytest.fixture(scope="module")
def ca():
    return TestCA()


@pytest.fixture
def tls_echo(ca):
    with EchoServer(ssl_context=ca.server_context()) as server:
        yield server


@pytest.fixture
def untrusted(monkeypatch):
    """Only the system roots are trusted (none of them signed the test CA)."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture
def trusted(ca, tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.write_ca_pem(tmp_path)))


TLS_SCRIPT = """
import { Socket } from "k6/x/tcp"
export const options = %(options)s
export default async function () {
  const s = new Socket()
  let heard = null
  s.on("error", (e) => { heard = e.message })
  const got = new Promise((resolve) => s.on("data", (d) => resolve(String.fromCharCode.apply(null, d))))
  try {
    await s.connect({ port: %(port)d, host: %(host)s, tls: true })
  } catch (e) {
    report({ outcome: "rejected", name: e.name, message: e.message, listener: heard === e.message })
    s.destroy()
    return
  }
  await s.write("secret")
  report({ outcome: "echo", text: await got })
  s.destroy()
}
"""


def tls_script(port: int, host: str = "localhost", options: dict | None = None) -> str:
    return TLS_SCRIPT % {"options": json.dumps(options or {}), "port": port, "host": json.dumps(host)}


def warnings_about_insecure(run) -> list[str]:
    return [m for m in run.messages if INSECURE_WARNING in m]


# -- TLS ---------------------------------------------------------------------------------------


def test_tls_verifies_by_default(run_js, tls_echo, untrusted):
    r = run_js(tls_script(tls_echo.port))
    report = r.report()
    assert report["outcome"] == "rejected" and report["name"] == "TCPError", report
    assert report["message"].startswith("TCP error during connect: "), report
    assert "certificate" in report["message"], report
    assert report["listener"], "the error listener should hear the same error"
    assert r.metrics.total("tcp_errors") == 1
    assert r.metrics.total("tcp_sockets") == 0
    assert warnings_about_insecure(r) == []


def test_tls_checks_the_host_name_against_the_certificate(run_js, tls_echo, trusted):
    # The CA is trusted, but the certificate is for localhost/127.0.0.1 only.
    options = {"hosts": {"not-on-the-cert.test": "127.0.0.1"}}
    r = run_js(tls_script(tls_echo.port, host="not-on-the-cert.test", options=options))
    report = r.report()
    assert report["outcome"] == "rejected", report
    assert "not-on-the-cert.test" in report["message"] or "hostname" in report["message"].lower(), report


def test_explicit_false_still_verifies(run_js, tls_echo, untrusted):
    r = run_js(tls_script(tls_echo.port, options={"insecureSkipTLSVerify": False}))
    assert r.report()["outcome"] == "rejected"
    assert warnings_about_insecure(r) == []


def test_insecure_skip_tls_verify_turns_verification_off_and_says_so_once(run_js, tls_echo, untrusted):
    options = {"insecureSkipTLSVerify": True, "vus": 3, "iterations": 6}
    r = run_js(tls_script(tls_echo.port, options=options))
    assert [v["outcome"] for v in r.reported()] == ["echo"] * 6, r.output
    assert len(warnings_about_insecure(r)) == 1  # once per run, not once per VU or connection
    lines = [line for line in r.output.splitlines() if INSECURE_WARNING in line]
    assert len(lines) == 1 and "level=warning" in lines[0], lines


@pytest.mark.parametrize("value", ['"true"', "1", '"yes"', "[true]"])
def test_only_the_boolean_true_turns_verification_off(run_js, tls_echo, untrusted, value):
    r = run_js(tls_script(tls_echo.port).replace("export const options = {}", f"export const options = {{ insecureSkipTLSVerify: {value} }}"))
    assert r.exit_code == 104, r.output  # an invalid option, as k6 says
    assert "insecureSkipTLSVerify" in r.output
    assert r.reported() == []  # nothing ran
    assert warnings_about_insecure(r) == []


# -- blockHostnames and blacklistIPs -----------------------------------------------------------------

ATTEMPTS = """
import { Socket } from "k6/x/tcp"
export const options = %(options)s
async function attempt(port, host) {
  const s = new Socket()
  let heard = null
  s.on("error", (e) => { heard = e.message })
  try {
    await s.connect(port, host)
    const r = { outcome: "open", remote: s.remote_ip }
    s.destroy()
    return r
  } catch (e) {
    return { outcome: "rejected", name: e.name, message: e.message, listener: heard === e.message }
  }
}
export default async function () {
  const out = {}
  for (const [port, host] of %(targets)s) out[host + ":" + port] = await attempt(port, host)
  report(out)
}
"""


def attempts(run_js, options: dict, targets: list[tuple[int, str]]):
    r = run_js(ATTEMPTS % {"options": json.dumps(options), "targets": json.dumps(targets)})
    assert r.exit_code == 0, r.output
    return r, r.report()


def test_block_hostnames_exact_and_wildcard(run_js):
    with FaultServer("close_at_once") as server:
        port = server.port
        names = ["blocked.test", "Blocked.TEST", "api.internal.test", "deep.api.internal.test", "allowed.test"]
        options = {
            "hosts": {name.lower(): "127.0.0.1" for name in names},
            "blockHostnames": ["blocked.test", "*.internal.test"],
        }
        r, out = attempts(run_js, options, [(port, name) for name in names])
        accepted = server.accepted
    for name, pattern in [("blocked.test", "blocked.test"), ("Blocked.TEST", "blocked.test"),
                          ("api.internal.test", "*.internal.test"), ("deep.api.internal.test", "*.internal.test")]:
        got = out[f"{name}:{port}"]
        assert got["outcome"] == "rejected" and got["name"] == "TCPError", got
        assert got["message"] == f"TCP error during connect: hostname ({name}) is in a blocked pattern ({pattern})", got
        assert got["listener"], got
    assert out[f"allowed.test:{port}"] == {"outcome": "open", "remote": "127.0.0.1"}
    assert accepted == 1, "a blocked name reached the server"
    assert r.metrics.total("tcp_errors") == 4
    assert r.metrics.total("tcp_sockets") == 1


@pytest.fixture
def second_loopback():
    """A listener on 127.0.0.2 (still loopback), to prove a refusal is the blacklist's."""
    try:
        listener = socket.create_server(("127.0.0.2", 0), backlog=16)
    except OSError as exc:
        pytest.skip(f"cannot listen on 127.0.0.2: {exc}")
    listener.setblocking(False)
    with listener:
        yield listener


def _connections_waiting(listener: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def test_blacklist_ips_refuses_addresses_in_the_range(run_js, second_loopback, echo):
    port = second_loopback.getsockname()[1]
    # Without the blacklist the address is reachable...
    _, control = attempts(run_js, {}, [(port, "127.0.0.2")])
    assert control[f"127.0.0.2:{port}"] == {"outcome": "open", "remote": "127.0.0.2"}
    assert _connections_waiting(second_loopback) == 1
    # ...with it, neither the address nor a name that maps onto it gets through.
    options = {"blacklistIPs": ["127.0.0.2/31"], "hosts": {"evil.test": "127.0.0.2"}}
    targets = [(port, "127.0.0.2"), (port, "evil.test"), (port, "127.0.0.3"), (echo.port, "127.0.0.1")]
    r, out = attempts(run_js, options, targets)
    for host, ip in [("127.0.0.2", "127.0.0.2"), ("evil.test", "127.0.0.2"), ("127.0.0.3", "127.0.0.3")]:
        got = out[f"{host}:{port}"]
        assert got["outcome"] == "rejected" and got["name"] == "TCPError", got
        assert got["message"] == f"TCP error during connect: IP ({ip}) is in a blacklisted range (127.0.0.2/31)", got
        assert got["listener"], got
    assert out[f"127.0.0.1:{echo.port}"] == {"outcome": "open", "remote": "127.0.0.1"}
    assert _connections_waiting(second_loopback) == 0, "a blacklisted address was connected to"
    assert r.metrics.total("tcp_errors") == 3


@pytest.mark.parametrize("options, name", [
    ({"blacklistIPs": ["127.0.0.2/33"]}, "blacklistIPs"),
    ({"blacklistIPs": ["not-an-ip"]}, "blacklistIPs"),
    ({"blacklistIPs": "127.0.0.2/32"}, "blacklistIPs"),
    ({"blockHostnames": "blocked.test"}, "blockHostnames"),
    ({"blockHostnames": [5]}, "blockHostnames"),
    ({"hosts": {"a.test": 5}}, "hosts"),
    ({"hosts": ["a.test"]}, "hosts"),
], ids=["cidr-33", "not-an-ip", "cidr-not-a-list", "block-not-a-list", "block-not-strings", "hosts-value", "hosts-list"])
def test_bad_network_options_are_config_errors(run_js, options, name):
    r = run_js(ATTEMPTS % {"options": json.dumps(options), "targets": "[]"})
    assert r.exit_code == 104, r.output
    assert name in r.output
    assert "Traceback" not in r.output
    assert r.reported() == []


# -- hosts ----------------------------------------------------------------------------------------


def test_hosts_overrides_name_resolution(run_js, echo):
    options = {"hosts": {"made-up.test": "127.0.0.1", "with-port.test": f"127.0.0.1:{echo.port}"}}
    r = run_js(ATTEMPTS.replace("const r = { outcome", "await s.write('hi'); const r = { port: s.remote_port, outcome")
               % {"options": json.dumps(options),
                  "targets": json.dumps([[echo.port, "made-up.test"], [echo.port, "MADE-UP.test"], [1, "with-port.test"]])})
    out = r.report()
    assert out[f"made-up.test:{echo.port}"] == {"port": echo.port, "outcome": "open", "remote": "127.0.0.1"}
    assert out[f"MADE-UP.test:{echo.port}"] == {"port": echo.port, "outcome": "open", "remote": "127.0.0.1"}
    # A "host:port" value also replaces the port, as in k6.
    assert out["with-port.test:1"] == {"port": echo.port, "outcome": "open", "remote": "127.0.0.1"}
    tags = [s.tags for s in r.metrics.of("tcp_sockets")]
    assert {t["host"] for t in tags} == {"made-up.test", "MADE-UP.test", "with-port.test"}
    assert {t["remote_ip"] for t in tags} == {"127.0.0.1"}


# -- open() ---------------------------------------------------------------------------------------------


def test_open_works_in_the_init_context(run_js, tmp_path):
    (tmp_path / "payload.txt").write_text("from a file")
    r = run_js("""
    const text = open("payload.txt")
    const bytes = open("./payload.txt", "b")
    export default function () { report([text, bytes.byteLength]) }
    """)
    assert r.report() == ["from a file", len("from a file")]


def test_open_outside_the_init_context_is_refused(run_js, tmp_path):
    (tmp_path / "payload.txt").write_text("from a file")
    r = run_js("""
    export const options = { iterations: 2 }
    export default function () {
      if (__ITER === 1) { report("second iteration"); return }
      open("payload.txt")
      report("open() worked in the default function")
    }
    """)
    assert r.reported() == ["second iteration"], r.output
    assert len(r.errors) == 1 and "only available in the init stage" in r.errors[0], r.errors
    assert "Traceback" not in r.output


def test_a_missing_file_is_reported_with_its_path(run_js, tmp_path):
    r = run_js("""
    const data = open("no/such/file.txt")
    export default function () { report("ran") }
    """)
    assert r.exit_code == 107, r.output  # an exception in the init context
    assert r.reported() == []
    assert str(tmp_path / "no" / "such" / "file.txt") in r.output, r.output
    assert "Traceback" not in r.output
