"""shared-iterations: a fixed number of iterations shared among the VUs, as fast as they go."""

from __future__ import annotations

from k6host.run.durations import format_duration
from k6host.run.executors.base import Looping, Slot


class SharedIterations(Looping):
    kind = "shared-iterations"

    def _end(self) -> float:
        return self.started_at + self.scenario.max_duration

    def _may_start(self, slot: Slot) -> bool:
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
        return f"{s.iterations} iterations shared among {s.vus} VUs (maxDuration: {format_duration(s.max_duration)}, {self._common()})"
