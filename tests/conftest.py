"""Shared fixtures: the built-in echo server, and running scripts in-process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from k6host.report.log import Log
from k6host.testing.echo import EchoServer
from k6host.run.metrics import Metrics
from k6host.run.runner import run_script

REPO = Path(__file__).resolve().parent.parent

# `k6host run` serves the REST API on localhost:6565 unless told otherwise; in
# the suite many k6host (and k6) processes run, so the API is off for every
# k6host started from here (K6_ADDRESS, as k6 after 1.1.0 reads it) unless a
# test passes --address (tests/test_restapi.py).
os.environ["K6_ADDRESS"] = ""


@pytest.fixture(scope="session")
def echo():
    with EchoServer() as server:
        yield server


@dataclass
class ScriptRun:
    exit_code: int
    metrics: Metrics
    output: str
    messages: list[str]
    errors: list[str]

    def reported(self) -> list:
        """Values the script printed with report(); see `run_js`."""
        return [json.loads(m[len("REPORT "):]) for m in self.messages if m.startswith("REPORT ")]

    def report(self):
        values = self.reported()
        assert len(values) == 1, f"expected one report, got {values}; output:\n{self.output}"
        return values[0]


REPORT_HELPER = 'function report(v) { console.log("REPORT " + JSON.stringify(v)) }\n'


@pytest.fixture
def run_js(tmp_path, echo):
    """Write a script to a file and run it as `k6host run --with-echo` would.

    Scripts get a `report(value)` function whose values the test reads back.
    """

    def run(source: str, name: str = "script.js", env: dict[str, str] | None = None, helper: bool = True) -> ScriptRun:
        path = tmp_path / name
        body = textwrap.dedent(source)
        path.write_text((REPORT_HELPER + body) if helper else body)
        stream = io.StringIO()
        log = Log(stream)
        script_env = {"TCP_ECHO_HOST": echo.host, "TCP_ECHO_PORT": str(echo.port), **(env or {})}
        result = run_script(str(path), script_env, log, record_samples=True)
        return ScriptRun(result.exit_code, result.metrics, stream.getvalue(), [m for _, m, _ in log.lines], result.errors)

    return run


def k6host(*args: str, cwd: str | Path | None = None, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the real `k6host` command line in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "k6host", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
