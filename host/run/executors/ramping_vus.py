"""ramping-vus: the number of looping VUs follows stages; retired VUs get gracefulRampDown."""

from __future__ import annotations

import time

from k6host.run.durations import format_duration
from k6host.run.executors.base import _TICK, Executor, Slot
from k6host.vu.vu import VU


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

    def _loop(self, vu: VU, slot: Slot, index: int, running: set[int]) -> None:
        try:
            while not self._stopped() and slot.deadline is None:
                if not self._iterate(vu, slot):
                    return
        finally:
            running.discard(index)

    def max_vus(self) -> int:
        s = self.scenario
        return s.et.scale(int(max([s.start_vus] + [target for _, target in s.stages])))

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
            f"Up to {self.max_vus()} looping VUs for {format_duration(self._length())} over {len(s.stages)} stages "
            f"(gracefulRampDown: {format_duration(s.graceful_ramp_down)}, {self._common()})"
        )
