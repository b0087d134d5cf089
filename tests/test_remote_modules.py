"""Modules imported by https:// URL: fetched from a local HTTPS server (a test CA), cached on disk
under K6HOST_CACHE_DIR, run offline from the cache; CommonJS bundles' named exports found."""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from k6host.testing.certs import TestCA

TIMEOUT = 60

# The shapes of jslib's modules: an ES module with a relative import, and a
# webpack-style CommonJS bundle (exports defined through Object.defineProperty).
FILES = {
    "/k6-summary/0.0.2/index.js": (
        'import { pad } from "./lib/pad.js"\n'
        "export function textSummary(data, opts) { return pad('summary of ' + Object.keys(data).length) }\n"
    ),
    "/k6-summary/0.0.2/lib/pad.js": "export const pad = (s) => '[' + s + ']'\n",
    "/k6-utils/1.4.0/index.js": (
        "!function(e,t){'object'==typeof exports&&'object'==typeof module?module.exports=t():"
        "'function'==typeof define&&define.amd?define([],t):'object'==typeof exports?exports.k6utils=t():"
        "e.k6utils=t()}(this,(()=>(()=>{var e={};(()=>{e.d=(t,r)=>{for(var n in r)Object.defineProperty(t,n,"
        "{enumerable:!0,get:r[n]})}})();var t={};e.d(t,{randomIntBetween:()=>r,uuidv4:()=>n});"
        "function r(a,b){return Math.floor(Math.random()*(b-a+1)+a)}"
        "function n(){return '10000000-1000-4000-8000-100000000000'}return t})()));\n"
    ),
}


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.hits.append(self.path)
        body = FILES.get(self.path)
        if body is None:
            self.send_response(404, "Not Found")
            self.end_headers()
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/javascript")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def https_server(ca: TestCA) -> Iterator[tuple[int, list[str]]]:
    hits: list[str] = []
    handler = type("Handler", (_Handler,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = ca.server_context().wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def ca(tmp_path) -> tuple[TestCA, Path]:
    authority = TestCA()
    return authority, authority.write_ca_pem(tmp_path)


def run(script: Path, tmp_path: Path, ca_pem: Path | None) -> subprocess.CompletedProcess:
    env = {"K6HOST_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    if ca_pem is not None:
        env["SSL_CERT_FILE"] = str(ca_pem)
    return subprocess.run([sys.executable, "-m", "k6host", "run", "-q", "--no-summary", str(script)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def messages(stderr: str, level: str = "info") -> list[str]:
    found = re.findall(rf'level={level} msg=("(?:[^"\\]|\\.)*"|\S+)', stderr)
    return [json.loads(m) if m.startswith('"') else m for m in found]


def test_https_modules_are_fetched_cached_and_run_offline(tmp_path, ca):
    authority, ca_pem = ca
    with https_server(authority) as (port, hits):
        base = f"https://localhost:{port}"
        script = tmp_path / "s.js"
        script.write_text(
            f'import {{ textSummary }} from "{base}/k6-summary/0.0.2/index.js"\n'
            f'import {{ uuidv4, randomIntBetween }} from "{base}/k6-utils/1.4.0/index.js"\n'
            f'const utils = require("{base}/k6-utils/1.4.0/index.js")\n'
            "export const options = { vus: 2, iterations: 2 }\n"
            "export default function () {\n"
            "  const n = randomIntBetween(3, 3)\n"
            "  console.log([textSummary({ a: 1, b: 2 }), uuidv4(), n, typeof utils.uuidv4].join(' '))\n"
            "}\n")
        first = run(script, tmp_path, ca_pem)
        assert first.returncode == 0, first.stderr
        assert messages(first.stderr) == ["[summary of 2] 10000000-1000-4000-8000-100000000000 3 function"] * 2
        # Each URL once, whatever the number of VUs.
        assert sorted(hits) == sorted(FILES)
    cached = sorted(p.suffix for p in (tmp_path / "cache").iterdir())
    assert cached == [".js"] * 3
    offline = run(script, tmp_path, ca_pem)  # the server is gone
    assert offline.returncode == 0, offline.stderr
    assert messages(offline.stderr) == messages(first.stderr)


@pytest.mark.parametrize("problem", ["404", "refused", "untrusted"])
def test_a_module_that_cannot_be_fetched_names_the_url_and_the_cause(tmp_path, ca, problem):
    authority, ca_pem = ca
    with https_server(authority) as (port, _):
        path = "/nope.js" if problem == "404" else "/k6-summary/0.0.2/lib/pad.js"
        url = f"https://localhost:{port if problem != 'refused' else 1}{path}"
        script = tmp_path / "s.js"
        script.write_text(f'import {{ pad }} from "{url}"\nexport default function () {{}}\n')
        done = run(script, tmp_path, None if problem == "untrusted" else ca_pem)
    assert done.returncode == 107, done.stderr
    (error,) = messages(done.stderr, "error")
    assert error.startswith(f"GoError: cannot load {url}: "), error
    cause = {"404": "the server answered 404 Not Found", "refused": "connection refused",
             "untrusted": "TLS certificate not trusted"}[problem]
    assert cause in error
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_a_local_commonjs_bundle_has_its_named_exports(tmp_path):
    (tmp_path / "bundle.js").write_text(FILES["/k6-utils/1.4.0/index.js"])
    script = tmp_path / "s.js"
    script.write_text('import { uuidv4 } from "./bundle.js"\nimport utils from "./bundle.js"\n'
                      "export default function () { console.log(uuidv4() === utils.uuidv4()) }\n")
    done = run(script, tmp_path, None)
    assert done.returncode == 0, done.stderr
    assert messages(done.stderr) == ["true"]
