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
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from .console import Log, stack_for_log
from .echo import EchoServer
from .metrics import Metrics
from .runner import parse_env, UsageError
from .vu import IterationAborted, TestState
from .workers import VUWorker, start_workers
from .engine import ScriptError

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

    def env(self) -> dict[str, str]:
        try:
            extra = parse_env(list(self.config.getini("k6host_env")) + list(self.config.getoption("k6host_env")))
        except UsageError as exc:
            raise pytest.UsageError(f"k6host: {exc}") from None
        echo = self.echo
        return {**os.environ, "TCP_ECHO_HOST": echo.host, "TCP_ECHO_PORT": str(echo.port), **extra}

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
    config.stash[_SESSION_KEY] = _Session(config)


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


def _fresh_vu(script: Path, env: dict[str, str]) -> tuple[TestState, VUWorker, io.StringIO]:
    stream = io.StringIO()
    test = TestState(script=str(script), env=env, log=Log(stream), metrics=Metrics())
    (worker,) = start_workers(test, range(1, 2))
    return test, worker, stream


class JSFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        session: _Session = self.config.stash[_SESSION_KEY]
        try:
            test, worker, _ = _fresh_vu(self.path, session.env())
        except ScriptError as exc:
            raise self.CollectError(stack_for_log(exc.text)) from None
        try:
            names = worker.call(lambda vu: vu.exported_functions())
        finally:
            worker.shutdown()
        for name in names:
            if name == "default" or name.startswith("test"):
                yield JSItem.from_parent(self, name=self.path.name if name == "default" else name, function=name)


class JSItem(pytest.Item):
    def __init__(self, *, function: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.function = function

    def runtest(self) -> None:
        session: _Session = self.config.stash[_SESSION_KEY]
        timeout = session.timeout()
        try:
            test, worker, stream = _fresh_vu(self.path, session.env())
        except ScriptError as exc:
            raise JSTestFailure(stack_for_log(exc.text)) from None
        deadline = time.monotonic() + timeout

        def run(vu: Any) -> str | None:
            try:
                error, _ = vu.run(self.function, 0, deadline=lambda: deadline)
                return error
            except IterationAborted:
                return f"timed out after {timeout:g} s (k6host_timeout)"

        try:
            error = worker.call(run)
        finally:
            worker.shutdown()
            self.add_report_section("call", "console", stream.getvalue())
        problems = [stack_for_log(error).rstrip()] if error else []
        if test.failed:
            problems.append("the test was marked as failed (test.fail())")
        if self.config.getini("k6host_fail_on_check"):
            failed = [c for c in test.groups.checks_by_name() if c["fails"]]
            if failed:
                problems.append("failed checks: " + ", ".join(f"{c['name']} ({c['fails']} failed)" for c in failed))
        if problems:
            raise JSTestFailure("\n".join(problems))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, JSTestFailure):
            return excinfo.value.text
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.path.name}::{self.function}"

