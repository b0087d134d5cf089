"""A VU's event loop: one selector, one timer heap, one queue for JavaScript.

I/O callbacks and timers never call into JavaScript themselves; they append
events to :attr:`EventLoop.events`, and the VU delivers the whole queue in one
entry into the interpreter per wake-up (each entry costs a full GC). An event
is a list of JSON values whose last item may be bytes (see VU._take_events).
"""

from __future__ import annotations

import heapq
import itertools
import selectors
import time
from typing import Any, Callable, TypeVar

IoCallback = Callable[[int], None]
T = TypeVar("T")


class Timer:
    """A scheduled callback; :meth:`cancel` makes it never run."""

    __slots__ = ("deadline", "callback", "cancelled")

    def __init__(self, deadline: float, callback: Callable[[], None]):
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class EventLoop:
    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.events: list[list[Any]] = []
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._live_timers = 0
        self._watched: dict[int, Any] = {}  # fd -> the object watched
        self._idle: set[int] = set()  # watched fds that do not keep the VU busy (see idle())
        # A VU on a hub waits through it, so that other VUs run meanwhile:
        # park(fd, seconds) returns when fd is readable or the time is up;
        # call_blocking(fn) runs fn on a helper thread.
        self.park: Callable[[int, float | None], None] | None = None
        self.call_blocking: Callable[[Callable[[], T]], T] = lambda fn: fn()

    # -- timers -----------------------------------------------------------------
    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(time.monotonic() + max(delay, 0.0), callback)
        heapq.heappush(self._heap, (timer.deadline, next(self._seq), timer))
        self._live_timers += 1
        return timer

    def cancel(self, timer: Timer) -> None:
        if not timer.cancelled:
            timer.cancel()
            self._live_timers -= 1

    # -- I/O --------------------------------------------------------------------
    def watch(self, fileobj: Any, mask: int, callback: IoCallback) -> None:
        """Call ``callback(mask)`` when ``fileobj`` is ready; replaces a watch."""
        # Known fds, not try/except KeyError: the selector formats the
        # socket's repr into that error, once per connection.
        fd = fileobj.fileno()
        if fd in self._watched:
            self.selector.modify(fileobj, mask, callback)
        else:
            self.selector.register(fileobj, mask, callback)
        self._watched[fd] = fileobj

    def idle(self, fileobj: Any, idle: bool = True) -> None:
        """Whether a watched ``fileobj`` is idle: a connection kept open between
        iterations with nothing asked of it must not keep an iteration going
        (as Node's ``unref()``). Watching it again keeps the setting."""
        fd = fileobj.fileno()
        if idle:
            self._idle.add(fd)
        else:
            self._idle.discard(fd)

    def unwatch(self, fileobj: Any) -> None:
        fd = fileobj.fileno()
        if fd < 0:  # closed already: find it by what was watched
            fd = next((n for n, watched in self._watched.items() if watched is fileobj), -1)
        self._idle.discard(fd)
        if self._watched.pop(fd, None) is not None:
            try:
                self.selector.unregister(fileobj)
            except (KeyError, ValueError):
                pass

    # -- running ----------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """Whether anything (a timer, a watched socket, a queued event) is pending."""
        return bool(self.events) or self._live_timers > 0 or len(self._watched) > len(self._idle)

    def run_once(self, max_wait: float | None) -> None:
        """Wait for I/O or the next timer (at most ``max_wait`` s), run what is due."""
        wait = max_wait
        if self.events:
            wait = 0.0
        elif self._heap:
            until_timer = max(self._heap[0][0] - time.monotonic(), 0.0)
            wait = until_timer if wait is None else min(wait, until_timer)
        if wait != 0.0 and self.park is not None:
            self.park(self.selector.fileno(), wait)
            wait = 0.0
        for key, mask in self.selector.select(wait):
            key.data(mask)
        now = time.monotonic()
        heap = self._heap
        while heap and heap[0][0] <= now:
            timer = heapq.heappop(heap)[2]
            if not timer.cancelled:
                timer.cancelled = True
                self._live_timers -= 1
                timer.callback()

    def clear(self) -> None:
        """Forget every timer and queued event (the iteration was abandoned)."""
        for _, _, timer in self._heap:
            timer.cancelled = True
        self._heap.clear()
        self._live_timers = 0
        self.events.clear()

    def close(self) -> None:
        self.selector.close()
