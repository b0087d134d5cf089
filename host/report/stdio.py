"""The command's standard output and error, as k6's behave.

Python ignores SIGPIPE, so a write to a pipe whose reader went away
(``k6host run x.js 2>&1 | head -c 100``) raised BrokenPipeError wherever it
happened: in a VU (whose end the run then waited for), in the progress
thread, in the summary. k6 (Go) dies of SIGPIPE at once when its stdout or
stderr is such a pipe; so does the command, from the first write that finds
the pipe broken. SIGPIPE stays ignored for sockets: a peer that went away is
an error for the script, not the end of the test.

A write that fails for another reason (stdout on a full disk) is logged
once and dropped; the test goes on, as k6's does.

A lone surrogate (a JavaScript string may hold one) cannot be encoded; it is
written as U+FFFD, as k6 writes invalid UTF-16.
"""

from __future__ import annotations

import codecs
import ctypes
import io
import os
import signal
import sys
from typing import Callable, TextIO

REPLACE_SURROGATES = "k6host-replace"


def _replace(exc: UnicodeError) -> tuple[bytes, int]:
    # Bytes: the UTF-8 encoder takes only ASCII text back from a handler.
    if isinstance(exc, UnicodeEncodeError) and exc.encoding.replace("-", "").lower() == "utf8":
        return "\ufffd".encode("utf-8") * (exc.end - exc.start), exc.end
    raise exc


codecs.register_error(REPLACE_SURROGATES, _replace)


def well_formed(text: str) -> str:
    """``text`` with each lone surrogate as U+FFFD: what a Go string holds
    once k6 has taken a JavaScript string (check names, tags)."""
    if text.isascii():
        return text
    return text.encode("utf-8", REPLACE_SURROGATES).decode("utf-8")


def well_formed_tags(tags: dict[str, str]) -> dict[str, str]:
    for key, value in tags.items():
        if not (key.isascii() and value.isascii()):
            return {well_formed(k): well_formed(v) for k, v in tags.items()}
    return tags


# What must not outlive the process when it dies of SIGPIPE (a split run's workers).
_AT_DEATH: list[Callable[[], None]] = []


def at_death(fn: Callable[[], None]) -> None:
    """Call ``fn`` (quick, no output) before the process dies of SIGPIPE."""
    _AT_DEATH.append(fn)


def forget(fn: Callable[[], None]) -> None:
    """``fn`` is no longer needed at death (what it ends has ended)."""
    if fn in _AT_DEATH:
        _AT_DEATH.remove(fn)


def die_of_sigpipe() -> None:
    """End the process as a write to a broken pipe ends a program that does not ignore SIGPIPE."""
    for fn in list(_AT_DEATH):
        try:
            fn()
        except Exception:
            pass
    # signal.signal() works on the main thread only; the write may be a VU's.
    ctypes.CDLL(None).signal(signal.SIGPIPE, ctypes.c_void_p(0))  # SIG_DFL
    os.kill(os.getpid(), signal.SIGPIPE)
    os._exit(128 + signal.SIGPIPE)  # not reached: the signal ended the process


class _PipeEnd(io.FileIO):
    """fd 1 or 2: a write to a pipe whose reader has gone ends the process;
    one that fails otherwise (a full disk) is said once, on stderr, and the
    test goes on, as in k6."""

    _said: set[int] = set()

    def write(self, data) -> int | None:  # type: ignore[override]
        try:
            return super().write(data)
        except BrokenPipeError:
            die_of_sigpipe()
            raise
        except OSError as exc:
            if self.fileno() == 1 and exc.errno not in self._said:
                self._said.add(exc.errno)
                from k6host.report.log import Log  # here: the log needs the whole engine

                Log()("error", f"could not write to stdout: {(exc.strerror or str(exc)).lower()}")
            return len(data)


def _reopen(stream: TextIO, fd: int, write_through: bool) -> TextIO:
    return io.TextIOWrapper(
        io.BufferedWriter(_PipeEnd(fd, "w", closefd=False)),
        encoding="utf-8",
        errors=REPLACE_SURROGATES,
        line_buffering=getattr(stream, "line_buffering", False),
        write_through=write_through,
    )


def install() -> None:
    """Make sys.stdout and sys.stderr behave as k6's (once, from the command line)."""
    if isinstance(getattr(sys.stdout, "buffer", None), io.BufferedWriter) and isinstance(sys.stdout.buffer.raw, _PipeEnd):
        return
    for name, fd, write_through in (("stdout", 1, False), ("stderr", 2, True)):
        stream = getattr(sys, name)
        try:
            if stream is None or stream.fileno() != fd:
                continue
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed, or not a real file
            continue
        setattr(sys, name, _reopen(stream, fd, write_through))
