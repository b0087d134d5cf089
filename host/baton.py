"""One VU thread at a time runs Python and JavaScript; the others wait here.

Every VU lives on its own thread, but the GIL lets one run at a time anyway.
Left to the GIL, that goes badly: each socket call releases it, another VU
thread takes it, and the first waits to get it back, so ten busy VUs did fewer
iterations in total than one. With the baton, VU threads that have work queue
for it (sleeping, not contending for the GIL), and it changes hands only where
the holder would wait anyway (for I/O, a sleep, its next job), or after a few
milliseconds of running when others are waiting (see :meth:`Baton.share`).
"""

from __future__ import annotations

import collections
import threading
import time
from contextlib import contextmanager
from typing import Iterator

# How long a holder may keep the baton while others wait (Python's own GIL
# switch interval is 5 ms).
SHARE_AFTER = 0.005


class Baton:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: int | None = None
        self._since = 0.0
        # Threads waiting, first come first served: each blocks on its own
        # locked gate until the one before hands the baton over.
        self._waiters: collections.deque[tuple[int, threading.Lock]] = collections.deque()

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._lock:
            if self._holder is None:
                self._holder, self._since = me, time.monotonic()
                return
            gate = threading.Lock()
            gate.acquire()
            self._waiters.append((me, gate))
        gate.acquire()  # released by release(), which made us the holder

    def release(self) -> None:
        with self._lock:
            if self._waiters:
                self._holder, gate = self._waiters.popleft()
                self._since = time.monotonic()
                gate.release()
            else:
                self._holder = None

    def held(self) -> bool:
        """Whether the calling thread holds the baton."""
        return self._holder == threading.get_ident()

    @contextmanager
    def holding(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Let the others run while this thread waits (a no-op for a thread
        that does not hold the baton, as the REPL's)."""
        if not self.held():
            yield
            return
        self.release()
        try:
            yield
        finally:
            self.acquire()

    def share(self) -> None:
        """Hand over to the next waiter if the caller held the baton long enough."""
        if self._waiters and self.held() and time.monotonic() - self._since >= SHARE_AFTER:
            self.release()
            self.acquire()
