"""ramping-arrival-rate: the start rate follows stages."""

from __future__ import annotations

import math
from typing import Any

from k6host.run.durations import format_duration
from k6host.run.executors.arrival_rate import ArrivalRate, stage_points, value_at


class RampingArrivalRate(ArrivalRate):
    kind = "ramping-arrival-rate"

    def _current_rate(self) -> float:
        s = self.scenario
        return value_at(stage_points(s.start_rate, s.stages), self.elapsed) / s.time_unit * self._share()

    def _total(self) -> float:
        return sum(d for d, _ in self.scenario.stages)

    def _start_times(self) -> Any:
        """Iteration n starts when the integral of the rate reaches n."""
        s = self.scenario
        points = stage_points(s.start_rate, s.stages)
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
        # k6 scales the peak by the segment's length and compares the unscaled VUs.
        peak = max([s.start_rate] + [r for _, r in s.stages]) / s.time_unit * float(s.et.segment.length)
        unscaled = s.unscaled or s
        vus = f"{s.pre_allocated_vus}-{s.max_vus}" if unscaled.max_vus > unscaled.pre_allocated_vus else f"{s.pre_allocated_vus}"
        return (
            f"Up to {peak:.2f} iterations/s for {format_duration(self._total())} over {len(s.stages)} stages "
            f"(maxVUs: {vus}, {self._common()})"
        )
