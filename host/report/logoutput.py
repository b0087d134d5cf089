"""k6's ``--log-output``, ``--log-format`` and ``--console-output`` (and their ``K6_*`` variables)."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from k6host.report.log import Log
from k6host.run.runner import UsageError

_FORMATS = ("json", "raw")


def _append(path: str, what: str) -> TextIO:
    try:
        # k6 appends to both files, creating them as needed.
        return open(path, "a", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot open the {what} file {path}: {exc.strerror}") from None


def open_log(
    output: str | None, fmt: str | None, console_output: str | None, *, color: bool | None, verbose: bool
) -> Log:
    """The run's Log, writing where k6 would. A bad value is a UsageError with k6's words."""
    warnings = []
    stream: TextIO = sys.stderr
    if output and output != "stderr":
        kind, sep, value = output.partition("=")
        if kind == "stdout":
            stream = sys.stdout
        elif kind == "none":
            stream = open(os.devnull, "w", encoding="utf-8")
        elif kind == "file":
            if not sep or not value:
                raise UsageError("error while parsing logfile configuration key `file` with no value")
            stream = _append(value, "log")
        elif kind == "loki":
            warnings.append(f"--log-output={output}: Loki is not supported by k6host; logging to stderr")
        else:
            raise UsageError(f"unsupported log output '{output}'")
    # k6 takes any other format as its default text, as here.
    log = Log(stream, color=color, verbose=verbose, fmt=fmt if fmt in _FORMATS else "text")
    if console_output:
        log.console = _append(console_output, "console output")
    for warning in warnings:
        log("warning", warning)
    return log
