"""constant-arrival-rate: iterations start at a fixed rate for a duration."""

from __future__ import annotations

import math
from typing import Any

from k6host.run.durations import format_duration
from k6host.run.executors.arrival_rate import ArrivalRate


class ConstantArrivalRate(ArrivalRate):
    kind = "constant-arrival-rate"

    def _current_rate(self) -> float:
        return self.scenario.rate / self.scenario.time_unit * self._share()

    def _total(self) -> float:
        return self.scenario.duration

    def _start_times(self) -> Any:
        s = self.scenario
        interval = s.time_unit / s.rate
        count = int(math.floor(s.duration / interval + 1e-9))
        return (i * interval for i in range(count))

    def describe(self) -> str:
        s = self.scenario
        # As k6 words it: the rate scaled by this instance's share of maxVUs, and
        # "maxVUs: N" alone when none are added on demand.
        unscaled = s.unscaled or s
        rate = s.rate / s.time_unit * (s.max_vus / unscaled.max_vus) if s.max_vus else 0.0
        vus = f"{s.pre_allocated_vus}-{s.max_vus}" if s.max_vus > s.pre_allocated_vus else f"{s.pre_allocated_vus}"
        return f"{rate:.2f} iterations/s for {format_duration(s.duration)} (maxVUs: {vus}, {self._common()})"
