"""What the arrival-rate executors share: iterations start on a schedule, each on
an idle VU of the scenario, more VUs added up to maxVUs, the rest dropped."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable

from k6host.engine.interpreter import ScriptError
from k6host.report.log import stack_for_log
from k6host.run.executors.base import Executor, Slot
from k6host.vu.vu import VU


def stage_points(start: float, stages: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(time offset, value) corners of a piecewise-linear ramp."""
    points = [(0.0, float(start))]
    for duration, target in stages:
        points.append((points[-1][0] + duration, float(target)))
    return points


def value_at(points: list[tuple[float, float]], t: float) -> float:
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        if t < t1:
            if t1 == t0:
                return v1
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return points[-1][1]


class ArrivalRate(Executor):
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
        idle: deque[Slot] = deque(self._take(int(s.pre_allocated_vus)))
        owned = list(idle)
        self.active = owned
        idle_lock = threading.Lock()
        end = self.started_at + self._total()
        deadline = end + s.graceful_stop
        growing = threading.Event()

        def release(slot: Slot) -> None:
            with idle_lock:
                idle.append(slot)

        def grow() -> None:
            try:
                if self._stopped():
                    return
                worker = self.pool.acquire() or self.pool.grow()
                slot = Slot(worker, deadline=deadline)
                owned.append(slot)
                release(slot)
            except ScriptError as exc:
                self.test.log("error", stack_for_log(exc.text), hint="script exception")
            except OSError as exc:
                self.test.log("error", f"cannot start another VU: {exc.strerror or exc}")
            finally:
                growing.clear()

        owner = s.iteration_tuple()
        for position, offset in enumerate(self._start_times() if owner is not None else ()):
            if not owner.owns(position):  # another instance's iteration (execution segments)
                continue
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

    def _iterate_once(self, vu: VU, slot: Slot, release: Callable[[Slot], None]) -> None:
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

    def _share(self) -> float:
        """The part of the test's rate this instance fires (k6 scales by the maxVUs split)."""
        owner = self.scenario.iteration_tuple()
        return float(owner.segment.length) if owner is not None else 0.0
