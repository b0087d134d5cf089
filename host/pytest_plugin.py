"""pytest plugin: JavaScript test files (``*.test.js``, ``.mjs``, ``.cjs``) as tests.

A file's default export is one item and every other exported function whose
name starts with ``test`` is its own; each item runs in a fresh VU (init code,
then that function once), with the built-in echo server's address in
``__ENV`` as TCP_ECHO_HOST and TCP_ECHO_PORT.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from k6host.api import execute
from k6host.report.log import Log, stack_for_log
from k6host.testing.echo import EchoServer
from k6host.engine.interpreter import ScriptError
from k6host.run.exitcodes import ExitCode
from k6host.run.metrics import Metrics
from k6host.run.runner import UsageError, parse_env
from k6host.modules.registry import module_path_from
from k6host.run.state import TestState
from k6host.vu.workers import start_workers

_TEST_FILE = re.compile(r".+\.test\.(js|mjs|cjs)$")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("k6host", "JavaScript tests run by k6host")
    group.addoption("--k6host-env", action="append", default=[], metavar="KEY=VALUE",
                    help="add a variable to __ENV of JavaScript tests (repeatable)")
    parser.addini("k6host_fail_on_check", "a failed check() fails the JavaScript test", type="bool", default=True)
    parser.addini("k6host_timeout", "seconds a JavaScript test may run", default="60")
    parser.addini("k6host_env", "KEY=VALUE lines added to __ENV of JavaScript tests", type="linelist", default=[])


class _Session:
    """What the JavaScript tests of one pytest session share: the echo server."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self._echo: EchoServer | None = None

    @property
    def echo(self) -> EchoServer:
        if self._echo is None:
            self._echo = EchoServer().__enter__()
            self.config.add_cleanup(self._echo.stop)
        return self._echo

    def extra_env(self) -> dict[str, str]:
        """``k6host_env`` (ini) then ``--k6host-env``; a malformed pair is a usage error."""
        extra: dict[str, str] = {}
        for source, pairs in (
            ("k6host_env", self.config.getini("k6host_env")),
            ("--k6host-env", self.config.getoption("k6host_env")),
        ):
            try:
                extra.update(parse_env(list(pairs), source))
            except UsageError as exc:
                raise pytest.UsageError(f"k6host: {exc}") from None
        return extra

    def env(self) -> dict[str, str]:
        echo = self.echo
        return {**os.environ, "TCP_ECHO_HOST": echo.host, "TCP_ECHO_PORT": str(echo.port), **self.extra_env()}

    def timeout(self) -> float:
        text = self.config.getini("k6host_timeout")
        try:
            value = float(text)
        except ValueError:
            raise pytest.UsageError(f"k6host_timeout: {text!r} is not a number of seconds") from None
        if value <= 0:
            raise pytest.UsageError("k6host_timeout must be more than 0 seconds")
        return value


_SESSION_KEY = pytest.StashKey[_Session]()


def pytest_configure(config: pytest.Config) -> None:
    session = _Session(config)
    config.stash[_SESSION_KEY] = session
    session.extra_env()  # a malformed value stops the run here, before collection
    session.timeout()


@pytest.fixture(scope="session")
def k6host_echo(request: pytest.FixtureRequest) -> EchoServer:
    """The built-in echo server the JavaScript tests use, for Python tests too."""
    return request.config.stash[_SESSION_KEY].echo


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if _TEST_FILE.match(file_path.name):
        return JSFile.from_parent(parent, path=file_path)
    return None


class JSTestFailure(Exception):
    """A JavaScript test failed; ``text`` is what to show (message and stack)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


def _last_errors(output: str) -> str:
    """The error lines of a run's log, for a test that failed before any iteration."""
    return "\n".join(line for line in output.splitlines() if "level=error" in line)


class JSFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        session: _Session = self.config.stash[_SESSION_KEY]
        test = TestState(
            script=str(self.path),
            env=session.env(),
            log=Log(io.StringIO()),
            metrics=Metrics(),
            module_path=module_path_from(os.environ),
        )
        try:
            (worker,) = start_workers(test, range(1, 2))
        except (ScriptError, OSError) as exc:
            test.hub.join(1.0)
            text = exc.text if isinstance(exc, ScriptError) else f"cannot start a VU: {exc}"
            raise self.CollectError(stack_for_log(text)) from None
        try:
            names = worker.call(lambda vu: vu.exported_functions())
        finally:
            worker.shutdown()
            test.hub.join(1.0)
        for name in names:
            if name == "default" or name.startswith("test"):
                yield JSItem.from_parent(self, name=name, export=name)


class JSItem(pytest.Item):
    # Not ``function``: pytest's -k matching takes that for a Python function.
    def __init__(self, *, export: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.export = export

    def runtest(self) -> None:
        session: _Session = self.config.stash[_SESSION_KEY]
        timeout = session.timeout()
        # One VU, one iteration of this function: a scenario of its own,
        # ranked above whatever the file's options say.
        scenario = {
            "executor": "per-vu-iterations", "vus": 1, "iterations": 1, "exec": self.export,
            "maxDuration": f"{timeout}s", "gracefulStop": "0s",
        }
        result = execute(
            str(self.path), cli={"no_summary": True}, env=session.env(), overrides={"scenarios": {"test": scenario}}
        )
        self.add_report_section("call", "console", result.output)
        problems = [stack_for_log(error).rstrip() for error in result.errors]
        if result.iterations_interrupted:
            problems.append(f"timed out after {timeout:g} s (k6host_timeout)")
        if result.exit_code == ExitCode.MARKED_AS_FAILED:
            # As a thrown error reads: the message, then where test.fail() was called.
            problems += [stack_for_log(f"test.fail(): {reason}\n    {where}".rstrip()).rstrip()
                         for reason, where in result.fail_calls] or ["the test was marked as failed (test.fail())"]
        elif result.exit_code not in (ExitCode.OK, ExitCode.THRESHOLDS_FAILED) or (
            result.exit_code == ExitCode.THRESHOLDS_FAILED and not problems
        ):
            problems.append(_last_errors(result.output) or f"k6host exited with code {result.exit_code}")
        if self.config.getini("k6host_fail_on_check"):
            failed = [c for c in result.checks if c["fails"]]
            if failed:
                problems.append("failed checks: " + ", ".join(f"{c['name']} ({c['fails']} failed)" for c in failed))
        if problems:
            raise JSTestFailure("\n".join(problems))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, JSTestFailure):
            return excinfo.value.text
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, self.export

