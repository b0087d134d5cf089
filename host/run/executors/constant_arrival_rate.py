"""constant-arrival-rate: iterations start at a fixed rate for a duration."""

from __future__ import annotations

import math
from typing import Any

from k6host.run.durations import format_duration
from k6host.run.executors.arrival_rate import ArrivalRate


class ConstantArrivalRate(ArrivalRate):
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
            f"{s.rate / s.time_unit:.2f} iterations/s for {format_duration(s.duration)} "
            f"(maxVUs: {s.pre_allocated_vus}-{s.max_vus}, {self._common()})"
        )
