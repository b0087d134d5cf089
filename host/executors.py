"""k6's executors: when each VU starts an iteration of a scenario.

Each scenario runs in its own thread (``Executor.run``), takes VUs from the
shared pool, and hands them jobs that run on the VUs (greenlets on the run's
hub thread: see hub.py and workers.py). Stopping
follows k6: when a scenario's time is up no iteration starts, and the ones
in flight get ``gracefulStop`` (``gracefulRampDown`` for VUs a ramp retires)
before they are interrupted.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from .console import clean_stack, stack_for_log
from .progress import DONE, INTERRUPTED, RUNNING, STOPPING, WAITING, Bar, fixed_duration, go_duration
from .engine import ScriptError
from .options import parse_duration
from .vu import VU, IterationAborted, IterationContext, TestState
from .workers import VUWorker

# How often controllers look at the clock and at the test's stop flag.
_TICK = 0.05


class VUPool:
    """Initialized VUs not in use by any scenario; grows on demand (arrival rates)."""

    def __init__(self, test: TestState, workers: list[VUWorker], setup_json: Callable[[], str | None]):
        self.test = test
        self.all = list(workers)
        self._idle = deque(workers)
        self._lock = threading.Lock()
        self._next_id = max((w.id for w in workers), default=0) + 1
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


def fmt_duration(seconds: float) -> str:
    """k6's way of printing a duration: 30s, 1m30s, 10m0s, 1h0m0s, 500ms."""
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    total = round(seconds, 3)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    secs_text = f"{secs:g}s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{secs_text}"
    if minutes:
        return f"{int(minutes)}m{secs_text}"
    return secs_text


@dataclass
class _Slot:
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
        self.active: list[_Slot] = []
        self._lock = threading.Lock()
        self._running_jobs = 0
        self._jobs_done = threading.Condition(self._lock)
        self.finished = threading.Event()
        shortest = test.options.get("minIterationDuration")
        self.min_iteration = parse_duration(shortest, "minIterationDuration") if shortest else 0.0

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
        start = f"startTime: {fmt_duration(s.start_time)}, " if s.start_time else ""
        return f"{exec_part}{start}gracefulStop: {fmt_duration(s.graceful_stop)}"

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
            clock = go_duration(length)
        else:
            clock = f"{fixed_duration(elapsed, length)}/{go_duration(length)}"
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

    def _take(self, count: int) -> list[_Slot]:
        slots = []
        for _ in range(count):
            worker = self.pool.acquire()
            if worker is None:
                break
            slots.append(_Slot(worker))
        return slots

    def _give_back(self, slot: _Slot) -> None:
        self.pool.release(slot.worker)

    def _iterate(self, vu: VU, slot: _Slot) -> bool:
        """One iteration on ``vu``; False when it was interrupted."""
        with self._lock:
            in_test = self.iterations_started
            self.iterations_started += 1
        vu.context.iteration_in_scenario = slot.iterations
        vu.context.iteration_in_test = in_test
        started = time.perf_counter()
        try:
            error, _ = vu.run(self.scenario.exec, slot.iterations, deadline=lambda: slot.deadline)
        except IterationAborted:
            with self._lock:
                self.iterations_interrupted += 1
            self.test.count("iterations_interrupted")
            return False
        slot.iterations += 1
        vu.iteration_in_instance += 1
        vu.metrics.add("iteration_duration", (time.perf_counter() - started) * 1000.0, {})
        vu.metrics.add("iterations", 1, {})
        vu.metrics.flush()
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
                vu.pause(rest)
        return True

    def _start_job(self, slot: _Slot, body: Callable[[VU], None]) -> None:
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


# -- VU-driven executors -----------------------------------------------------------


class _Looping(Executor):
    """VUs loop over iterations while ``_may_start`` says so."""

    def _end(self) -> float:
        raise NotImplementedError

    def _may_start(self, slot: _Slot) -> bool:
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

    def _loop(self, vu: VU, slot: _Slot) -> None:
        while not self._stopped() and time.monotonic() < self._end() and self._may_start(slot):
            if not self._iterate(vu, slot):
                return


class SharedIterations(_Looping):
    kind = "shared-iterations"

    def _end(self) -> float:
        return self.started_at + self.scenario.max_duration

    def _may_start(self, slot: _Slot) -> bool:
        with self._lock:
            if self._claimed >= self.scenario.iterations:
                return False
            self._claimed += 1
            return True

    def run(self) -> None:
        self._claimed = 0
        super().run()

    def progress(self) -> float:
        return min(1.0, self.iterations_completed / self.scenario.iterations) if self.scenario.iterations else 1.0

    def _length(self) -> float:
        return self.scenario.max_duration

    def _columns(self) -> list[str]:
        s = self.scenario
        return [f"{len(self.active):0{len(str(s.vus))}d} VUs", f"{self.iterations_completed}/{s.iterations} shared iters"]

    def describe(self) -> str:
        s = self.scenario
        return f"{s.iterations} iterations shared among {s.vus} VUs (maxDuration: {fmt_duration(s.max_duration)}, {self._common()})"


class PerVUIterations(SharedIterations):
    kind = "per-vu-iterations"

    def _may_start(self, slot: _Slot) -> bool:
        return slot.iterations < self.scenario.iterations

    def progress(self) -> float:
        total = self.scenario.iterations * self.scenario.vus
        return min(1.0, self.iterations_completed / total) if total else 1.0

    def _columns(self) -> list[str]:
        s = self.scenario
        total = s.iterations * s.vus
        return [
            f"{len(self.active):0{len(str(s.vus))}d} VUs",
            f"{self.iterations_completed}/{total} iters, {s.iterations} per VU",
        ]

    def describe(self) -> str:
        s = self.scenario
        return f"{s.iterations} iterations for each of {s.vus} VUs (maxDuration: {fmt_duration(s.max_duration)}, {self._common()})"


class ConstantVUs(_Looping):
    kind = "constant-vus"

    def _end(self) -> float:
        return self.started_at + self.scenario.duration

    def _may_start(self, slot: _Slot) -> bool:
        return True

    def progress(self) -> float:
        return min(1.0, self.elapsed / self.scenario.duration) if self.scenario.duration else 1.0

    def _length(self) -> float:
        return self.scenario.duration

    def _columns(self) -> list[str]:
        return [f"{self.scenario.vus} VUs"]

    def describe(self) -> str:
        s = self.scenario
        return f"{s.vus} looping VUs for {fmt_duration(s.duration)} ({self._common()})"


def _stage_points(start: float, stages: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(time offset, value) corners of a piecewise-linear ramp."""
    points = [(0.0, float(start))]
    for duration, target in stages:
        points.append((points[-1][0] + duration, float(target)))
    return points


def _value_at(points: list[tuple[float, float]], t: float) -> float:
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        if t < t1:
            if t1 == t0:
                return v1
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return points[-1][1]


class RampingVUs(Executor):
    kind = "ramping-vus"

    def run(self) -> None:
        s = self.scenario
        self.started_at = time.monotonic()
        self.start_ms = int(time.time() * 1000)
        steps = s.vu_steps()  # k6's own plan: how many VUs from each offset on
        total = self._length()
        slots = self._take(self.max_vus())
        self.active = []
        running: set[int] = set()
        while not self._stopped():
            t = time.monotonic() - self.started_at
            if t >= total:
                break
            target = min(len(slots), next(vus for offset, vus in reversed(steps) if offset <= t))
            for index, slot in enumerate(slots):
                if index < target and index not in running:
                    slot.deadline = None
                    running.add(index)
                    self._start_job(slot, lambda vu, i=index, slot=slot: self._loop(vu, slot, i, running))
                elif index >= target and index in running and slot.deadline is None:
                    slot.deadline = time.monotonic() + s.graceful_ramp_down
            self.active = [slots[i] for i in sorted(running)]
            self.test.stop.wait(_TICK)
        end = time.monotonic()
        for index in list(running):
            slot = slots[index]
            if slot.deadline is None or slot.deadline > end + s.graceful_stop:
                slot.deadline = end + s.graceful_stop
        self._retired_at = end
        self._wait_jobs()
        for slot in slots:
            self._give_back(slot)
        self.finished.set()

    def _loop(self, vu: VU, slot: _Slot, index: int, running: set[int]) -> None:
        try:
            while not self._stopped() and slot.deadline is None:
                if not self._iterate(vu, slot):
                    return
        finally:
            running.discard(index)

    def max_vus(self) -> int:
        s = self.scenario
        return int(max([s.start_vus] + [target for _, target in s.stages]))

    def progress(self) -> float:
        total = self._length()
        return min(1.0, self.elapsed / total) if total else 1.0

    def _length(self) -> float:
        return sum(d for d, _ in self.scenario.stages)

    def _columns(self) -> list[str]:
        most = self.max_vus()
        return [f"{len(self.active):0{len(str(most))}d}/{most} VUs"]

    def describe(self) -> str:
        s = self.scenario
        return (
            f"Up to {self.max_vus()} looping VUs for {fmt_duration(self._length())} over {len(s.stages)} stages "
            f"(gracefulRampDown: {fmt_duration(s.graceful_ramp_down)}, {self._common()})"
        )


# -- arrival-rate executors ---------------------------------------------------------


class _ArrivalRate(Executor):
    """Iterations start on a schedule; each one takes an idle VU of the scenario."""

    def _start_times(self) -> Any:
        """Offsets (s) at which iterations start, in order."""
        raise NotImplementedError

    def _total(self) -> float:
        raise NotImplementedError

    def run(self) -> None:
        s = self.scenario
        self.started_at = time.monotonic()
        self.start_ms = int(time.time() * 1000)
        self.dropped = 0
        idle: deque[_Slot] = deque(self._take(int(s.pre_allocated_vus)))
        owned = list(idle)
        self.active = owned
        idle_lock = threading.Lock()
        end = self.started_at + self._total()
        deadline = end + s.graceful_stop
        growing = threading.Event()

        def release(slot: _Slot) -> None:
            with idle_lock:
                idle.append(slot)

        def grow() -> None:
            try:
                if self._stopped():
                    return
                worker = self.pool.acquire() or self.pool.grow()
                slot = _Slot(worker, deadline=deadline)
                owned.append(slot)
                release(slot)
            except ScriptError as exc:
                self.test.log("error", stack_for_log(exc.text), hint="script exception")
            except OSError as exc:
                self.test.log("error", f"cannot start another VU: {exc.strerror or exc}")
            finally:
                growing.clear()

        for offset in self._start_times():
            if not self._sleep_until(self.started_at + offset):
                break
            with idle_lock:
                slot = idle.popleft() if idle else None
            if slot is None:
                # No VU free: the iteration is dropped, and a VU is added for
                # later ones while the scenario may still have more.
                self._drop()
                if len(owned) < s.max_vus and not growing.is_set():
                    growing.set()
                    threading.Thread(target=grow, daemon=True).start()
                continue
            slot.deadline = deadline
            self._start_job(slot, lambda vu, slot=slot: self._iterate_once(vu, slot, release))
        self._wait_jobs()
        for slot in owned:
            self._give_back(slot)
        self.finished.set()

    def _iterate_once(self, vu: VU, slot: _Slot, release: Callable[[_Slot], None]) -> None:
        try:
            self._iterate(vu, slot)
        finally:
            release(slot)

    def _drop(self) -> None:
        self.dropped += 1
        self.test.metrics.add("dropped_iterations", 1, {**self.test.tags, **self.scenario.tags, "scenario": self.scenario.name})

    def max_vus(self) -> int:
        return int(self.scenario.pre_allocated_vus)

    def progress(self) -> float:
        total = self._total()
        return min(1.0, self.elapsed / total) if total else 1.0

    def _length(self) -> float:
        return self._total()

    def _columns(self) -> list[str]:
        s = self.scenario
        busy = self._running_jobs
        owned = len(self.active)
        width = len(str(s.max_vus))
        return [f"{busy:0{width}d}/{owned:0{width}d} VUs", f"{self._current_rate():.2f} iters/s"]

    def _current_rate(self) -> float:
        raise NotImplementedError


class ConstantArrivalRate(_ArrivalRate):
    kind = "constant-arrival-rate"

    def _current_rate(self) -> float:
        return self.scenario.rate / self.scenario.time_unit

    def _total(self) -> float:
        return self.scenario.duration

    def _start_times(self) -> Any:
        s = self.scenario
        interval = s.time_unit / s.rate
        count = int(math.floor(s.duration / interval + 1e-9))
        return (i * interval for i in range(count))

    def describe(self) -> str:
        s = self.scenario
        return (
            f"{s.rate / s.time_unit:.2f} iterations/s for {fmt_duration(s.duration)} "
            f"(maxVUs: {s.pre_allocated_vus}-{s.max_vus}, {self._common()})"
        )


class RampingArrivalRate(_ArrivalRate):
    kind = "ramping-arrival-rate"

    def _current_rate(self) -> float:
        s = self.scenario
        return _value_at(_stage_points(s.start_rate, s.stages), self.elapsed) / s.time_unit

    def _total(self) -> float:
        return sum(d for d, _ in self.scenario.stages)

    def _start_times(self) -> Any:
        """Iteration n starts when the integral of the rate reaches n."""
        s = self.scenario
        points = _stage_points(s.start_rate, s.stages)
        done = 0.0  # iterations due by the start of the segment
        n = 0
        for (t0, r0), (t1, r1) in zip(points, points[1:]):
            length = t1 - t0
            rate0, rate1 = r0 / s.time_unit, r1 / s.time_unit
            segment_total = (rate0 + rate1) / 2 * length
            while n < done + segment_total - 1e-9:
                need = n - done
                slope = (rate1 - rate0) / length if length else 0.0
                if abs(slope) < 1e-12:
                    dt = need / rate0 if rate0 else 0.0
                else:
                    dt = (-rate0 + math.sqrt(max(rate0 * rate0 + 2 * slope * need, 0.0))) / slope
                yield t0 + dt
                n += 1
            done += segment_total

    def describe(self) -> str:
        s = self.scenario
        peak = max([s.start_rate] + [r for _, r in s.stages]) / s.time_unit
        return (
            f"Up to {peak:.2f} iterations/s for {fmt_duration(self._total())} over {len(s.stages)} stages "
            f"(maxVUs: {s.pre_allocated_vus}-{s.max_vus}, {self._common()})"
        )


EXECUTORS: dict[str, type[Executor]] = {
    cls.kind: cls
    for cls in (SharedIterations, PerVUIterations, ConstantVUs, RampingVUs, ConstantArrivalRate, RampingArrivalRate)
}
