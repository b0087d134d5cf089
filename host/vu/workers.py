"""VU workers: each VU is a greenlet on the run's hub thread for the whole test.

k6's ``sleep()`` blocks only the VU that calls it; here a VU that waits (for
its sockets, a timer, sleep(), its next job) lets the hub run another
(hub.py). A VU's interpreter is only ever touched from the hub's thread.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Callable

import greenlet

from k6host.engine.interpreter import ScriptError
from k6host.vu.hub import Hub
from k6host.run.state import TestState
from k6host.vu.vu import VU

Job = Callable[[VU], None]


class VUWorker:
    def __init__(self, test: TestState, vu_id: int):
        self.id = vu_id
        self.test = test
        self.vu: VU | None = None
        self.options: dict[str, Any] = {}
        self.init_error: Exception | None = None
        self.ready = threading.Event()
        self._hub: Hub = test.hub
        self._jobs: collections.deque[Job | None] = collections.deque()  # touched on the hub's thread only
        self._greenlet: greenlet.greenlet | None = None
        self._finished = threading.Event()

    def start(self) -> VUWorker:
        self._hub.spawn(self._main)
        return self

    def _main(self) -> None:
        self._greenlet = greenlet.getcurrent()
        try:
            try:
                if self.id > 0 and self.test.stop.is_set():
                    # The test is stopping (a signal): its init code would be interrupted at once.
                    raise ScriptError("InternalError: interrupted")
                vu = VU(self.test, self.id, self._hub)
                self.options = vu.init()
                self.vu = vu
                if self.id > 0:  # VU 0 runs setup/teardown and is not one of the test's VUs
                    self.test.count("vus_initialized")
            except Exception as exc:  # ScriptError; OSError (out of file descriptors, say); or a bug of
                self.init_error = exc  # ours: whoever waits reports it, and never waits for good
            finally:
                self.ready.set()
            if self.vu is None:
                return
            while True:
                while not self._jobs:
                    self._hub.wait(None, reason=self)  # until submit() wakes it
                job = self._jobs.popleft()
                if job is None:
                    break
                job(self.vu)
            self.vu.close()
        finally:
            self._finished.set()

    def submit(self, job: Job | None) -> None:
        """Run ``job(vu)`` on this VU, after the jobs before it (None: end)."""

        def deliver() -> None:
            self._jobs.append(job)
            if self._greenlet is not None:
                self._hub.wake(self._greenlet, self)

        self._hub.post(deliver)

    def call(self, job: Callable[[VU], Any]) -> Any:
        """Run ``job(vu)`` on this VU and wait for its result (from another thread)."""
        if self._hub.on_hub():
            raise RuntimeError("VUWorker.call() from a VU would stop every VU: submit() instead")
        done = threading.Event()
        box: list[Any] = []

        def wrapped(vu: VU) -> None:
            try:
                box.append((True, job(vu)))
            except BaseException as exc:  # handed back to the caller's thread
                box.append((False, exc))
            finally:
                done.set()

        self.submit(wrapped)
        while not done.wait(0.25):
            if self._finished.is_set():  # the VU ended (a bug of ours): the job will never run
                raise RuntimeError(f"VU {self.id} has ended")
        ok, value = box[0]
        if not ok:
            raise value
        return value

    def shutdown(self, timeout: float = 5.0) -> None:
        self.submit(None)
        self._finished.wait(timeout)


def start_workers(test: TestState, ids: range) -> list[VUWorker]:
    """Start VUs ``ids`` (their init code runs one after another on the hub) and wait for them.

    Raises the first init error (ScriptError, or OSError when the machine
    refuses the VU its resources), as k6 stops at the first VU that fails.
    """
    workers = [VUWorker(test, i).start() for i in ids]
    for worker in workers:
        worker.ready.wait()
    for worker in workers:
        if worker.init_error is not None:
            for w in workers:
                w.shutdown(0.1)
            raise worker.init_error
    return workers
