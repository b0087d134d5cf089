"""k6's log lines (logrus' text format), for console output and run errors.

On a terminal: ``INFO[0001] message    source=console``; elsewhere:
``time="..." level=info msg=message source=console``, exactly as k6 prints.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Callable, TextIO

from k6host.engine.loader import jsmodules_dir
from k6host.engine.positions import script_positions

# Stack frames of the host's own glue, which mean nothing to a script's author.
_HOST_FRAME = re.compile(r"^\s+at .*\((<dukpy>|<k6host>|native)[:)]")
_COLORS = {"debug": 37, "info": 36, "warning": 33, "error": 31}
_PLAIN = re.compile(r"^[A-Za-z0-9\-._/@^+]+$")


def _quote(value: str) -> str:
    if _PLAIN.fullmatch(value):  # match() would let a final "\n" through ($ matches before it)
        return value
    return '"' + _ESCAPE.sub(_escape, value) + '"'


# What Go's %q (logrus' quoting) escapes: quotes, backslashes, control and
# other unprintable characters.
_ESCAPE = re.compile(r'["\\]|[^\w !#-\[\]-~]')
_NAMED = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
          '"': '\\"', "\\": "\\\\"}


def _escape(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    if char.isprintable():
        return char
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:  # a lone surrogate: Go's string holds U+FFFD for it
        return "\ufffd"
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class Log:
    """Writes log lines to ``stream`` (stderr, as k6 does); thread-safe."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        color: bool | None = None,
        verbose: bool = False,
        plain: bool = False,
        fmt: str = "text",
        console: TextIO | None = None,
    ):
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)()
        self.terminal = isatty
        self.color = isatty if color is None else color
        self.verbose = verbose
        self.plain = plain  # just the message (the REPL), warnings and errors marked
        self.fmt = fmt  # k6's --log-format: "json", "raw", or its text lines
        self.console = console  # --console-output: console.log() lines go there instead
        self._start = time.monotonic()
        self._lock = threading.Lock()
        # (level, message, source) of every line, for the Python API and tests.
        self.lines: list[tuple[str, str, str]] = []
        # While a live progress display owns the terminal, lines go through it.
        self.writer: Callable[[str, TextIO], None] | None = None

    def __call__(self, level: str, message: str, **fields: str) -> None:
        if level == "debug" and not self.verbose:
            return
        self.lines.append((level, message, fields.get("source", "")))
        if self.console is not None and fields.get("source") == "console":
            # k6 writes them as plain text lines, without the source field.
            with self._lock:
                self.console.write(_text_line(level, message, {}) + "\n")
                self.console.flush()
            return
        if self.fmt == "json":
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            text = json.dumps({"level": level, "msg": message, **fields, "time": stamp}, sort_keys=True,
                              ensure_ascii=False, separators=(",", ":"))
        elif self.fmt == "raw":
            text = message
        elif self.plain:
            text = message if level in ("info", "debug") else f"{level.upper()}: {message}"
        elif self.terminal:
            text = self._terminal_line(level, message, fields)
        else:
            text = _text_line(level, message, fields)
        with self._lock:
            if self.writer is not None:
                self.writer(text + "\n", self.stream)
                return
            self.stream.write(text + "\n")
            self.stream.flush()

    def _terminal_line(self, level: str, message: str, fields: dict[str, str]) -> str:
        seconds = int(time.monotonic() - self._start)
        tag = f"{level.upper()[:4]}"
        if self.color:
            tag = f"\x1b[{_COLORS.get(level, 37)}m{tag}\x1b[0m"
        line = f"{tag}[{seconds:04d}] {message}"
        if fields:
            line = f"{tag}[{seconds:04d}] {message:<44} " + " ".join(
                f"{k}={_quote(v)}" for k, v in fields.items()
            )
        return line


def _text_line(level: str, message: str, fields: dict[str, str]) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = [f'time="{stamp}"', f"level={level}", f"msg={_quote(message)}"]
    parts += [f"{k}={_quote(v)}" for k, v in fields.items()]
    return " ".join(parts)


def clean_stack(text: str) -> str:
    """A JavaScript error text without the host's own frames."""
    own = str(jsmodules_dir())
    text = script_positions(text)
    return "\n".join(line for line in text.split("\n") if not _HOST_FRAME.search(line) and own not in line)


def stack_for_log(text: str) -> str:
    """A JavaScript error as k6 logs it: tab-indented frames, none of the host's."""
    return re.sub(r"(?m)^    at ", "\tat ", clean_stack(text)) + "\n"
