"""per-vu-iterations: each VU runs the same number of iterations."""

from __future__ import annotations

from k6host.run.durations import format_duration
from k6host.run.executors.base import Slot
from k6host.run.executors.shared_iterations import SharedIterations


class PerVUIterations(SharedIterations):
    kind = "per-vu-iterations"

    def _may_start(self, slot: Slot) -> bool:
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
        return f"{s.iterations} iterations for each of {s.vus} VUs (maxDuration: {format_duration(s.max_duration)}, {self._common()})"
