"""A VU's event loop: its sockets, a timer heap, one queue for JavaScript.

I/O callbacks and timers never call into JavaScript themselves; they append
events to :attr:`EventLoop.events`, and the VU delivers the whole queue in one
entry into the interpreter per wake-up. An event is a list of JSON values
whose last item may be bytes (see VU._deliver).

On a hub, every VU's sockets are in the hub's one epoll: the hub hands each
readiness to the loop that owns the fd and wakes its VU, which runs the
callbacks itself. (A VU's own epoll, nested in the hub's, cost a re-arm and
two epoll_wait calls per wait.) Without a hub (the REPL) the loop has an
epoll of its own. Either way the fds are level-triggered, registered once,
and modified only when the wanted events change; a socket about to be closed
is not unregistered first (closing it removes it from the epoll).
"""

from __future__ import annotations

import heapq
import itertools
import select
import selectors
import time
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import greenlet

if TYPE_CHECKING:
    from k6host.vu.hub import Hub

IoCallback = Callable[[int], None]
T = TypeVar("T")

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


def epoll_mask(mask: int) -> int:
    """selectors' EVENT_READ/EVENT_WRITE as epoll's flags."""
    return (select.EPOLLIN if mask & READ else 0) | (select.EPOLLOUT if mask & WRITE else 0)


def selector_mask(events: int) -> int:
    """What epoll reported, as selectors' mask: an error or hang-up wakes
    both directions (the callback's next call tells which failed)."""
    mask = 0
    if events & ~select.EPOLLOUT:
        mask |= READ
    if events & ~select.EPOLLIN:
        mask |= WRITE
    return mask


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
    def __init__(self, hub: Hub | None = None) -> None:
        self.events: list[list[Any]] = []
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._live_timers = 0
        self._hub = hub
        # Whose epoll the fds go in (the hub's may be remade between runs of its thread).
        self._owner: Any = hub if hub is not None else self
        self.epoll = None if hub is not None else select.epoll()
        self._watched: dict[int, tuple[Any, int, IoCallback]] = {}  # fd -> (file object, mask, callback)
        self._idle: set[int] = set()  # watched fds that do not keep the VU busy (see idle())
        self._ready: dict[int, int] = {}  # fd -> selectors mask, reported and not yet handled
        self._muted: set[int] = set()  # ready fds taken out of the hub's epoll until the VU's next turn
        self._parked: greenlet.greenlet | None = None  # the VU, while it waits through the hub
        # call_blocking(fn) runs fn where it may block (a helper thread, on a hub).
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
        fd = fileobj.fileno()
        known = self._watched.get(fd)
        if known is None:
            self._owner.epoll.register(fd, epoll_mask(mask))
            if self._hub is not None:
                self._hub.owners[fd] = self
        elif known[1] != mask and fd not in self._muted:
            self._owner.epoll.modify(fd, epoll_mask(mask))
        self._watched[fd] = (fileobj, mask, callback)

    def idle(self, fileobj: Any, idle: bool = True) -> None:
        """Whether a watched ``fileobj`` is idle: a connection kept open between
        iterations with nothing asked of it must not keep an iteration going
        (as Node's ``unref()``). Watching it again keeps the setting."""
        fd = fileobj.fileno()
        if idle:
            self._idle.add(fd)
        else:
            self._idle.discard(fd)

    def unwatch(self, fileobj: Any, closing: bool = False) -> None:
        """Stop watching ``fileobj``; ``closing``: it is about to be closed,
        which takes it out of the epoll without a call of its own."""
        fd = fileobj.fileno()
        if fd < 0:  # closed already: find it by what was watched
            fd = next((n for n, known in self._watched.items() if known[0] is fileobj), -1)
            closing = True
        self._idle.discard(fd)
        self._ready.pop(fd, None)
        if self._watched.pop(fd, None) is None:
            return
        if fd in self._muted:  # out of the epoll already
            self._muted.discard(fd)
            closing = True
        if self._hub is not None and self._hub.owners.get(fd) is self:
            del self._hub.owners[fd]
        if not closing:
            try:
                self._owner.epoll.unregister(fd)
            except OSError:
                pass

    def ready(self, fd: int, events: int) -> None:
        """The hub saw ``fd`` ready (``events`` as epoll reports them).

        A VU waiting on its loop is woken. One that waits for something else
        (sleep(), a name lookup, its next job) handles it at its next turn;
        meanwhile the fd leaves the epoll, which reports a ready fd at every
        poll (level-triggered) and would keep the hub spinning."""
        self._ready[fd] = self._ready.get(fd, 0) | selector_mask(events)
        parked = self._parked
        if parked is not None:
            assert self._hub is not None
            self._hub.wake(parked, self)
        elif fd not in self._muted:
            self._muted.add(fd)
            self._owner.epoll.unregister(fd)

    # -- running ----------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """Whether anything (a timer, a watched socket, a queued event) is pending."""
        return bool(self.events) or self._live_timers > 0 or len(self._watched) > len(self._idle)

    def run_once(self, max_wait: float | None) -> None:
        """Wait for I/O or the next timer (at most ``max_wait`` s), run what is due."""
        wait = max_wait
        if self.events or self._ready:
            wait = 0.0
        elif self._heap:
            until_timer = max(self._heap[0][0] - time.monotonic(), 0.0)
            wait = until_timer if wait is None else min(wait, until_timer)
        if self._hub is not None:
            if wait != 0.0:
                self._parked = greenlet.getcurrent()
                try:
                    self._hub.wait(wait, None, self)
                finally:
                    self._parked = None
        elif self._watched or wait != 0.0:
            for fd, events in self.epoll.poll(-1 if wait is None else wait):
                self._ready[fd] = self._ready.get(fd, 0) | selector_mask(events)
        if self._muted:
            epoll, watched = self._owner.epoll, self._watched
            for fd in self._muted:
                if fd in watched:
                    epoll.register(fd, epoll_mask(watched[fd][1]))
            self._muted.clear()
        if self._ready:
            ready, self._ready = self._ready, {}
            watched = self._watched
            for fd, mask in ready.items():
                known = watched.get(fd)
                if known is not None and mask & known[1]:
                    known[2](mask & known[1])
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
        for fileobj, _, _ in list(self._watched.values()):
            self.unwatch(fileobj)
        if self.epoll is not None:
            self.epoll.close()
