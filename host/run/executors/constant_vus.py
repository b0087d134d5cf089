"""constant-vus: a fixed number of VUs loop for a duration."""

from __future__ import annotations

from k6host.run.durations import format_duration
from k6host.run.executors.base import Looping, Slot


class ConstantVUs(Looping):
    kind = "constant-vus"

    def _end(self) -> float:
        return self.started_at + self.scenario.duration

    def _may_start(self, slot: Slot) -> bool:
        return True

    def progress(self) -> float:
        return min(1.0, self.elapsed / self.scenario.duration) if self.scenario.duration else 1.0

    def _length(self) -> float:
        return self.scenario.duration

    def _columns(self) -> list[str]:
        return [f"{self.scenario.vus} VUs"]

    def describe(self) -> str:
        s = self.scenario
        return f"{s.vus} looping VUs for {format_duration(s.duration)} ({self._common()})"
