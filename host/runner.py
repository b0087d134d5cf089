"""Running a test: init, iterations, the outcome as k6's exit codes."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from .console import Log
from .engine import ScriptError
from .metrics import Metrics
from .netconfig import NetConfig, OptionError
from .vu import VU, IterationAborted, TestState

# k6's exit codes (errext/exitcodes).
OK = 0
THRESHOLDS_FAILED = 99
INVALID_CONFIG = 104
EXTERNAL_ABORT = 105
SCRIPT_EXCEPTION = 107
SCRIPT_ABORTED = 108
MARKED_AS_FAILED = 110
GENERIC_ERROR = 255

# Stack frames of the host's own glue, which mean nothing to a script's author.
_HOST_FRAME = re.compile(r"^\s+at .*\((<dukpy>|<k6host>|native)[:)]")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UsageError(Exception):
    """Bad input from the user (not the script); the message says what."""

    def __init__(self, message: str, exit_code: int = GENERIC_ERROR):
        super().__init__(message)
        self.exit_code = exit_code


def parse_env(pairs: list[str]) -> dict[str, str]:
    """``-e KEY=VALUE`` pairs as a dict; a malformed pair is a UsageError."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"invalid --env {pair!r}: expected KEY=VALUE")
        if not _ENV_NAME.match(key):
            raise UsageError(f"invalid environment variable name {key!r} in --env {pair!r}")
        env[key] = value
    return env


@dataclass
class Result:
    exit_code: int
    metrics: Metrics
    log: Log
    options: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def stack_for_log(text: str) -> str:
    """A JavaScript error as k6 logs it: tab-indented frames, none of the host's."""
    lines = [line for line in text.split("\n") if not _HOST_FRAME.search(line)]
    return re.sub(r"(?m)^    at ", "\tat ", "\n".join(lines)) + "\n"


def run_script(
    script: str, env: dict[str, str] | None = None, log: Log | None = None, record_samples: bool = False
) -> Result:
    """Run ``script`` as ``k6host run`` does: one VU, one iteration."""
    log = log if log is not None else Log()
    if not os.path.isfile(script):
        raise UsageError(f"script not found: {script}")
    test = TestState(
        script=script, env=dict(os.environ if env is None else env), log=log, metrics=Metrics(record=record_samples)
    )
    vu = VU(test, 1)
    result = Result(OK, test.metrics, log)
    try:
        try:
            result.options = vu.init()
        except ScriptError as exc:
            log("error", stack_for_log(exc.text), hint="script exception")
            result.exit_code = SCRIPT_EXCEPTION
            return result
        try:
            test.net = NetConfig(result.options)
            vu.tcp.net = test.net
        except OptionError as exc:
            log("error", str(exc))
            result.exit_code = INVALID_CONFIG
            return result
        if not vu.has_function("default"):
            log("error", "the script exports no default function to run", hint="script exception")
            result.exit_code = SCRIPT_EXCEPTION
            return result
        try:
            error = vu.run("default", 0)
        except IterationAborted:
            error = None
        if error is not None:
            result.errors.append(error)
            log("error", stack_for_log(error), executor="per-vu-iterations", scenario="default", source="stacktrace")
    finally:
        vu.close()
    if test.abort_reason is not None:
        log("error", f"test aborted: {test.abort_reason}")
        result.exit_code = SCRIPT_ABORTED
    elif test.failed:
        log("error", "test run was marked as failed")
        result.exit_code = MARKED_AS_FAILED
    return result
