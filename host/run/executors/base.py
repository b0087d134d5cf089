"""What every executor shares: the pool of VUs, a VU's slot in a scenario,
starting and counting iterations, stopping on time, the progress bar."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from k6host.report.log import clean_stack, stack_for_log
from k6host.report.progress import (
    DONE,
    INTERRUPTED,
    RUNNING,
    STOPPING,
    WAITING,
    Bar,
    fixed_duration,
)
from k6host.run.durations import format_duration
from k6host.run.options import parse_duration
from k6host.run.segments import SegmentedIndex
from k6host.run.state import TestState
from k6host.vu.vu import VU, IterationAborted, IterationContext
from k6host.vu.workers import VUWorker

_TICK = 0.05


class VUPool:
    """Initialized VUs not in use by any scenario; grows on demand (arrival rates)."""

    def __init__(self, test: TestState, workers: list[VUWorker], setup_json: Callable[[], str | None],
                 next_id: Callable[[], int] | None = None):
        self.test = test
        self.all = list(workers)
        self._idle = deque(workers)
        self._lock = threading.Lock()
        self._next_id = max((w.id for w in workers), default=0) + 1
        # A worker process numbers its VUs as its execution segment says (processes.py).
        self._next_id_from = next_id
        self._setup_json = setup_json

    def acquire(self) -> VUWorker | None:
        with self._lock:
            return self._idle.popleft() if self._idle else None

    def release(self, worker: VUWorker) -> None:
        with self._lock:
            self._idle.append(worker)

    def grow(self) -> VUWorker:
        """Initialize one more VU (its init code runs now, on the hub)."""
        with self._lock:
            if self._next_id_from is not None:
                vu_id = self._next_id_from()
            else:
                vu_id = self._next_id
                self._next_id += 1
        worker = VUWorker(self.test, vu_id).start()
        worker.ready.wait()
        if worker.init_error is not None:
            raise worker.init_error
        data = self._setup_json()
        worker.submit(lambda vu: vu.set_setup_data(data))
        with self._lock:
            self.all.append(worker)
        return worker


@dataclass
class Slot:
    """One VU's place in a scenario."""

    worker: VUWorker
    iterations: int = 0
    deadline: float | None = None  # when its in-flight iteration is interrupted


class Executor:
    """What every executor shares: iteration bookkeeping and stopping."""

    kind: str = ""

    def __init__(self, scenario: Any, test: TestState, pool: VUPool):
        self.scenario = scenario
        self.test = test
        self.pool = pool
        self.started_at = 0.0  # monotonic
        self.start_ms = 0  # unix ms, what exec.scenario.startTime says
        self.iterations_started = 0
        self.iterations_completed = 0
        self.iterations_interrupted = 0
        self.active: list[Slot] = []
        self._lock = threading.Lock()
        self._running_jobs = 0
        self._jobs_done = threading.Condition(self._lock)
        self.finished = threading.Event()
        shortest = test.options.get("minIterationDuration")
        self.min_iteration = parse_duration(shortest, "minIterationDuration") if shortest else 0.0
        # Which of the test's iterations this instance's are (execution segments).
        self._iteration_index = SegmentedIndex(scenario.iteration_tuple() or scenario.et)

    # -- to be provided by each executor ---------------------------------------
    def run(self) -> None:
        raise NotImplementedError

    def progress(self) -> float:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def max_vus(self) -> int:
        return int(self.scenario.max_vus_needed())

    def _common(self) -> str:
        """The end of k6's description: exec, startTime, gracefulStop."""
        s = self.scenario
        exec_part = f"exec: {s.exec}, " if s.exec != "default" else ""
        start = f"startTime: {format_duration(s.start_time)}, " if s.start_time else ""
        return f"{exec_part}{start}gracefulStop: {format_duration(s.graceful_stop)}"

    def _length(self) -> float:
        """The scheduled length (maxDuration, duration, or the stages' sum)."""
        raise NotImplementedError

    def _columns(self) -> list[str]:
        """The columns k6 shows after the bar, but for the time column."""
        raise NotImplementedError

    def bar(self, since_test_start: float) -> Bar:
        """This scenario's line in the live progress display, as k6 draws it."""
        s = self.scenario
        if not self.started_at:
            if self.finished.is_set():
                return Bar(s.name, 0.0, ["interrupted"], INTERRUPTED)
            left = max(0.0, s.start_time - since_test_start)
            return Bar(s.name, 0.0, ["waiting", fixed_duration(left, s.start_time)], WAITING)
        length = self._length()
        elapsed = self.elapsed
        progress = self.progress()
        if self.finished.is_set():
            status = DONE if progress >= 1.0 else INTERRUPTED
        elif elapsed > length:
            status = STOPPING
        else:
            status = RUNNING
        if elapsed >= length:
            clock = format_duration(length)
        else:
            clock = f"{fixed_duration(elapsed, length)}/{format_duration(length)}"
        columns = self._columns()
        return Bar(s.name, progress, columns[:1] + [clock] + columns[1:], status)

    # -- helpers ------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started_at if self.started_at else 0.0

    def _stopped(self) -> bool:
        return self.test.stop.is_set()

    def _context(self) -> IterationContext:
        return IterationContext(
            scenario=self.scenario.name,
            executor=self.kind,
            scenario_start=self.start_ms,
            tags=dict(self.scenario.tags),
            env=dict(self.scenario.env),
            progress=self.progress,
        )

    def _take(self, count: int) -> list[Slot]:
        slots = []
        for _ in range(count):
            worker = self.pool.acquire()
            if worker is None:
                break
            slots.append(Slot(worker))
        return slots

    def _give_back(self, slot: Slot) -> None:
        self.pool.release(slot.worker)

    def _iterate(self, vu: VU, slot: Slot) -> bool:
        """One iteration on ``vu``; False when it was interrupted."""
        with self._lock:
            in_instance = self.iterations_started
            self.iterations_started += 1
            in_test = self._iteration_index.next()[1] - 1
        vu.state.context.iteration_in_scenario = slot.iterations
        vu.state.context.iteration_in_test = in_test
        vu.state.context.scenario_iteration_in_instance = in_test if self.test.split_run else in_instance
        started = time.perf_counter()
        try:
            error, _ = vu.run(self.scenario.exec, deadline=lambda: slot.deadline)
        except IterationAborted:
            with self._lock:
                self.iterations_interrupted += 1
            self.test.count("iterations_interrupted")
            return False
        slot.iterations += 1
        vu.state.iteration_in_instance += 1
        vu.metrics.add("iteration_duration", (time.perf_counter() - started) * 1000.0, {})
        vu.metrics.add("iterations", 1, {})
        vu.metrics.flush_soon()
        with self._lock:
            self.iterations_completed += 1
        self.test.count("iterations_completed")
        if error is not None and not error.startswith("AbortTest"):  # test.abort() said it already
            self.test.errors.append(clean_stack(error))
            self.test.log(
                "error", stack_for_log(error), executor=self.kind, scenario=self.scenario.name, source="stacktrace"
            )
        # k6's minIterationDuration: a complete iteration sleeps for the rest, outside iteration_duration.
        rest = self.min_iteration - (time.perf_counter() - started)
        if rest > 0:
            with contextlib.suppress(IterationAborted):
                vu.sleep(rest)
        return True

    def _start_job(self, slot: Slot, body: Callable[[VU], None]) -> None:
        """Run ``body`` on the slot's VU, entering this scenario first."""
        context = self._context()
        with self._lock:
            self._running_jobs += 1

        def job(vu: VU) -> None:
            # k6's vus metric: VUs busy with this scenario right now.
            self.test.count("vus_active")
            try:
                vu.enter_scenario(context)
                body(vu)
            finally:
                vu.metrics.flush()
                self.test.count("vus_active", -1)
                with self._lock:
                    self._running_jobs -= 1
                    self._jobs_done.notify_all()

        slot.worker.submit(job)

    def _wait_jobs(self) -> None:
        with self._lock:
            while self._running_jobs:
                self._jobs_done.wait(_TICK)

    def _sleep_until(self, moment: float) -> bool:
        """Wait until ``moment`` (monotonic); False if the test stopped first."""
        while not self._stopped():
            left = moment - time.monotonic()
            if left <= 0:
                return True
            self.test.stop.wait(min(left, _TICK))
        return False


class Looping(Executor):
    """VUs loop over iterations while ``_may_start`` says so."""

    def _end(self) -> float:
        raise NotImplementedError

    def _may_start(self, slot: Slot) -> bool:
        raise NotImplementedError

    def run(self) -> None:
        self.started_at = time.monotonic()
        self.start_ms = int(time.time() * 1000)
        end = self._end()
        slots = self._take(int(self.scenario.vus))
        self.active = slots
        for slot in slots:
            slot.deadline = end + self.scenario.graceful_stop
            self._start_job(slot, lambda vu, slot=slot: self._loop(vu, slot))
        self._wait_jobs()
        for slot in slots:
            self._give_back(slot)
        self.finished.set()

    def _loop(self, vu: VU, slot: Slot) -> None:
        while not self._stopped() and time.monotonic() < self._end() and self._may_start(slot):
            if not self._iterate(vu, slot):
                return
