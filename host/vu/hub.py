"""The VUs of a run, as greenlets on one thread, switching where they would wait.

The GIL lets one thread run Python (and so JavaScript) at a time anyway; with
a thread per VU, every socket call handed it to another VU thread and every
hand-back cost a trip through the OS scheduler (10 VUs did a third fewer
iterations than the same 10 run one after another). Here a VU runs until it
would wait (for its sockets, a timer, sleep(), its next job), then the hub
runs the next ready VU, and waits on one epoll for all of them when none is.

The hub's one epoll holds every VU's sockets; their readiness goes to the
VU's EventLoop (loop.py), which wakes the VU.

A VU's JavaScript is suspended mid-call when it waits: greenlet saves that
part of the C stack (QuickJS's frames included) and puts it back when the VU
resumes. A VU that runs long without waiting (a busy script) gives way every
few milliseconds (see :meth:`Hub.share`), as Python's GIL would.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import os
import select
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import greenlet

if TYPE_CHECKING:
    from k6host.vu.loop import EventLoop

T = TypeVar("T")

# How long a VU may run while others are ready (Python's GIL switch interval).
SLICE = 0.005
# How long the hub sleeps, once a slice, while VUs keep it busy.
_BREATHE = 0.0002
# How often parked VUs look at their stop flags (set from other threads).
_STOP_SCAN = 0.05
# How often a VU waiting for a helper thread asks whether to stop.
_STOP_POLL = 0.25


def _report(exc: BaseException) -> None:
    """Hand an exception that escaped a VU or a callback to threading.excepthook,
    where an exception escaping a thread would go."""
    threading.excepthook(threading.ExceptHookArgs((type(exc), exc, exc.__traceback__, threading.current_thread())))


class _Park:
    """One wait of one VU: for a deadline, a stop flag, or a wake() with its reason."""

    __slots__ = ("glet", "stop", "reason", "done")

    def __init__(self, glet: greenlet.greenlet, stop: threading.Event | None, reason: object):
        self.glet, self.stop, self.reason, self.done = glet, stop, reason, False


class Hub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._posts: collections.deque[Callable[[], None]] = collections.deque()
        # One epoll for the whole run: every VU's sockets (each VU's EventLoop
        # registers them, and is told of their readiness: ``owners``) and the
        # pipe that wakes the hub; both live as long as the hub's thread does
        # (the epoll longer if a socket is still in it).
        self.epoll = select.epoll()
        self.owners: dict[int, EventLoop] = {}
        self._wake_r = self._wake_w = -1
        self._ready: collections.deque[greenlet.greenlet] = collections.deque()
        self._timers: list[tuple[float, int, _Park]] = []
        self._stoppable: set[_Park] = set()
        self._seq = itertools.count()
        self._live = 0
        self._thread: threading.Thread | None = None
        self._ended: threading.Thread | None = None  # the last thread, until join() sees it end
        self._root: greenlet.greenlet | None = None  # the hub thread's own greenlet
        self._since = self._last_poll = self._last_scan = 0.0
        self._current_park: dict[greenlet.greenlet, _Park] = {}

    # -- from any thread --------------------------------------------------------------
    def spawn(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` as a new greenlet on the hub's thread."""
        with self._lock:
            self._live += 1
        self.post(lambda: self._ready.append(greenlet.greenlet(self._guard(fn), parent=self._root)))

    def post(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the hub's thread, soon."""
        self._posts.append(callback)
        with self._lock:
            if self._thread is None:
                self._wake_r, self._wake_w = os.pipe()
                os.set_blocking(self._wake_r, False)
                os.set_blocking(self._wake_w, False)
                if self.epoll.closed:
                    self.epoll = select.epoll()
                self.epoll.register(self._wake_r, select.EPOLLIN)
                self._thread = threading.Thread(target=self._main, name="vus", daemon=True)
                self._thread.start()
            try:
                os.write(self._wake_w, b"!")
            except BlockingIOError:  # the pipe is full: the hub has wake-ups enough
                pass

    def join(self, timeout: float) -> None:
        """Wait for the hub's thread to end (its VUs were shut down). A thread
        still switching greenlets while the interpreter exits can crash it."""
        with self._lock:
            threads = [t for t in (self._thread, self._ended) if t is not None]
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    # -- from a VU's greenlet ---------------------------------------------------------
    def on_hub(self) -> bool:
        """Whether the caller is one of the hub's VUs (and so may wait through it)."""
        current = greenlet.getcurrent()
        return self._root is not None and current is not self._root and current.parent is self._root

    def wait(self, timeout: float | None, stop: threading.Event | None = None, reason: object = None) -> None:
        """Let other VUs run until ``timeout`` seconds pass, ``stop`` is set,
        or :meth:`wake` is called with this ``reason`` (a VU's EventLoop
        waits so for its sockets)."""
        if stop is not None and stop.is_set():
            return
        park = _Park(greenlet.getcurrent(), stop, reason)
        if timeout is not None:
            heapq.heappush(self._timers, (time.monotonic() + max(timeout, 0.0), next(self._seq), park))
        if stop is not None:
            self._stoppable.add(park)
        self._current_park[park.glet] = park
        assert self._root is not None
        self._root.switch()

    def share(self) -> None:
        """Give way to the other VUs once this one has run a slice."""
        if time.monotonic() - self._since >= SLICE and self.on_hub():
            # VUs whose sockets or timers are ready go first: a VU that keeps
            # the CPU busy must not add a slice of its own to each of their steps.
            self._gather(0.0)
            self._ready.append(greenlet.getcurrent())
            assert self._root is not None
            self._root.switch()

    def call_blocking(self, fn: Callable[[], T], should_stop: Callable[[], bool] = lambda: False) -> T:
        """``fn()`` on a helper thread (a name lookup, say) while other VUs run.

        Once ``should_stop()`` (asked at least every 0.25 s) the VU stops
        waiting for it: InterruptedError, and the thread's result is dropped.
        """
        if not self.on_hub():
            return fn()
        me = greenlet.getcurrent()
        box: list[tuple[bool, Any]] = []
        reason = object()

        def work() -> None:
            try:
                box.append((True, fn()))
            except BaseException as exc:  # handed back to the VU
                box.append((False, exc))
            self.post(lambda: self.wake(me, reason))

        # A daemon thread: a lookup that hangs must not hold up the exit.
        threading.Thread(target=work, name="vus-blocking", daemon=True).start()
        while not box:
            if should_stop():
                raise InterruptedError("the test is stopping")
            self.wait(_STOP_POLL, None, reason)
        ok, value = box[0]
        if not ok:
            raise value
        return value

    # -- on the hub's thread ------------------------------------------------------------
    def wake(self, glet: greenlet.greenlet, reason: object) -> None:
        """End the wait ``glet`` is in, if it waits for this ``reason``."""
        park = self._current_park.get(glet)
        if park is not None and park.reason is reason:
            self._resume(park)

    def _resume(self, park: _Park) -> None:
        if park.done:
            return
        park.done = True
        self._current_park.pop(park.glet, None)
        self._stoppable.discard(park)
        self._ready.append(park.glet)

    def _guard(self, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # a bug: say so, as a dying thread would
                _report(exc)
            finally:
                with self._lock:
                    self._live -= 1

        return run

    def _main(self) -> None:
        self._root = greenlet.getcurrent()
        self._last_scan = self._last_poll = time.monotonic()
        try:
            self._loop()
        finally:
            with self._lock:
                if self._thread is threading.current_thread():  # it ended by an exception
                    self._close_locked()

    def _close_locked(self) -> None:
        """The thread ends: the next post starts a new one (holding the lock)."""
        os.close(self._wake_r)  # which takes it out of the epoll
        if not self.owners:  # no VU's socket is left in it
            self.epoll.close()
        os.close(self._wake_w)
        self._ended, self._thread, self._root = self._thread, None, None

    def _run_posts(self) -> None:
        while self._posts:
            callback = self._posts.popleft()
            try:
                callback()
            except Exception as exc:  # a bug in one callback must not end every VU's turn
                _report(exc)

    def _loop(self) -> None:
        while True:
            self._run_posts()
            if self._ready:
                glet = self._ready.popleft()
                self._since = time.monotonic()
                glet.switch()
                # While VUs keep running, still look at sockets and timers
                # every slice, or a VU waiting on them would starve; and let
                # other threads (executors, the main thread) run: a thread that
                # lets go of the GIL only for an instant at a time (each socket
                # call) can keep one that waits for it out for good.
                if time.monotonic() - self._last_poll >= SLICE:
                    self._gather(0.0)
                    time.sleep(_BREATHE)
                continue
            with self._lock:
                if self._live == 0 and not self._posts:  # no VU is left
                    self._close_locked()
                    return
            while self._timers and self._timers[0][2].done:
                heapq.heappop(self._timers)
            timeout = _STOP_SCAN
            if self._timers:
                timeout = min(timeout, max(0.0, self._timers[0][0] - time.monotonic()))
            self._gather(timeout)

    def _gather(self, timeout: float) -> None:
        """Make ready the VUs whose sockets are ready, whose time is up, or
        whose stop flag is set (waiting up to ``timeout`` for the first of them)."""
        owners = self.owners
        for fd, events in self.epoll.poll(timeout):
            loop = owners.get(fd)
            if loop is not None:
                loop.ready(fd, events)
            elif fd == self._wake_r:
                try:
                    while os.read(self._wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
        now = self._last_poll = time.monotonic()
        timers = self._timers
        while timers and timers[0][0] <= now:
            self._resume(heapq.heappop(timers)[2])
        if now - self._last_scan >= _STOP_SCAN:
            self._last_scan = now
            for park in [p for p in self._stoppable if p.stop is not None and p.stop.is_set()]:
                self._resume(park)
