"""Columns on a script's first line, as the script's author counts them.

QuickJS-NG 0.11 counts columns on a source's first line from 0 and on every
other line from 1; and a CommonJS file is compiled behind a wrapper that
shares its first line (see Engine.compile_function). Stack traces are
corrected here, in the one place every error text passes (console.clean_stack).
"""

from __future__ import annotations

import re

# file:// name -> characters of the host's own text before the file's first character.
_PREFIXES: dict[str, int] = {}
_FIRST_LINE = re.compile(r"((?:file|https?)://[^\s()]+?):1:(\d+)(?=[)\s(]|$)", re.MULTILINE)


def note_prefix(filename: str, length: int) -> None:
    """``filename`` is compiled with ``length`` characters of the host's before it on line 1."""
    _PREFIXES[filename] = length


def script_positions(text: str) -> str:
    def fix(match: re.Match) -> str:
        name, column = match.group(1), int(match.group(2))
        return f"{name}:1:{max(column + 1 - _PREFIXES.get(name, 0), 1)}"

    return _FIRST_LINE.sub(fix, text)
