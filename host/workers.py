"""VU workers: each VU lives on its own thread for the whole test.

k6's ``sleep()`` blocks only the VU that calls it; a thread per VU gives that
for free. A VU runs its jobs holding the run's baton (baton.py) and lets go of
it whenever it waits (select, sleep). A VU's interpreter is only ever touched
from its own thread.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable

from .engine import ScriptError
from .vu import VU, TestState

Job = Callable[[VU], None]


class VUWorker:
    def __init__(self, test: TestState, vu_id: int):
        self.id = vu_id
        self.test = test
        self.vu: VU | None = None
        self.options: dict[str, Any] = {}
        self.init_error: ScriptError | OSError | None = None
        self.ready = threading.Event()
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name=f"vu-{vu_id}", daemon=True)

    def start(self) -> VUWorker:
        self._thread.start()
        return self

    def _main(self) -> None:
        baton = self.test.baton
        try:
            with baton.holding():
                vu = VU(self.test, self.id)
                self.options = vu.init()
            self.vu = vu
            if self.id > 0:  # VU 0 runs setup/teardown and is not one of the test's VUs
                self.test.count("vus_initialized")
        except (ScriptError, OSError) as exc:  # OSError: out of file descriptors, say
            self.init_error = exc
        finally:
            self.ready.set()
        if self.vu is None:
            return
        while True:
            job = self._jobs.get()
            if job is None:
                break
            with baton.holding():
                job(self.vu)
        self.vu.close()

    def submit(self, job: Job) -> None:
        """Run ``job(vu)`` on this VU's thread, after the jobs before it."""
        self._jobs.put(job)

    def call(self, job: Callable[[VU], Any]) -> Any:
        """Run ``job(vu)`` on this VU's thread and wait for its result."""
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
        done.wait()
        ok, value = box[0]
        if not ok:
            raise value
        return value

    def shutdown(self, timeout: float = 5.0) -> None:
        self._jobs.put(None)
        self._thread.join(timeout)


def start_workers(test: TestState, ids: range) -> list[VUWorker]:
    """Start VUs ``ids`` (their init code runs in parallel threads) and wait for them.

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
