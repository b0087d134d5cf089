"""Room for data as deeply nested as JavaScript can make it.

Python's JSON decoder and the summary's encoder recurse once per level, and
Python stops at 1,000 levels; QuickJS's JSON.stringify goes to ~9,000 within
its 1 MB stack (setup() may return data nested 3,000 deep, and k6 runs it).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

# Above QuickJS's deepest JSON; a level of the C decoder takes well under
# 200 bytes of the thread's (8 MB) stack.
DEPTH = 20_000


@contextlib.contextmanager
def deep_enough() -> Iterator[None]:
    """Raise Python's recursion limit to DEPTH for the block."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, DEPTH))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)
