"""Where ``k6host run`` reads the script from: a path, a ``file://`` URL, or ``-`` (stdin), as k6 does."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Iterator
from urllib.parse import unquote, urlparse

from k6host.run.runner import UsageError


@contextlib.contextmanager
def script_source(argument: str) -> Iterator[str]:
    """A path to run. Stdin is written to a hidden file in the current folder, so that
    the script's relative imports and open() calls resolve from there, as k6's do."""
    if argument.startswith("file://"):
        url = urlparse(argument)
        if url.netloc not in ("", "localhost"):
            raise UsageError(f"cannot run {argument}: only local file:// URLs are supported")
        yield unquote(url.path)
        return
    if argument != "-":
        yield argument
        return
    source = sys.stdin.buffer.read() if sys.stdin is not None else b""
    if not source.strip():
        raise UsageError("the script read from stdin (-) is empty")
    fd, path = tempfile.mkstemp(prefix=".k6host-stdin-", suffix=".js", dir=os.getcwd())
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(source)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
