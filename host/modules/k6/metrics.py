"""k6/metrics: custom metrics, declared in init code, sampled with the VU's tags."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from k6host.engine.loader import jsmodules_dir
from k6host.modules.api import Instance, Module, ModuleVU
from k6host.run.metrics import MetricError


class MetricsInstance(Instance):
    def functions(self) -> Mapping[str, Callable[..., Any]]:
        return {"define": self.define, "add": self.add}

    def define(self, name: str, kind: str, is_time: bool) -> None:
        if not (self.vu.in_init or self.vu.interactive):
            raise MetricError("metrics must be declared in the init context")
        self.vu.define_metric(name, kind, is_time)

    def add(self, name: str, value: float | str, tags: dict[str, str]) -> None:
        if self.vu.in_init:
            raise MetricError("Adding to metrics in the init context is not supported")
        self.vu.add_sample(name, float(value), tags)


class Metrics(Module):
    name = "k6/metrics"
    javascript = jsmodules_dir() / "k6" / "metrics.js"
    exports = ("Counter", "Gauge", "Rate", "Trend")

    def instance(self, vu: ModuleVU) -> Instance:
        return MetricsInstance(self, vu)
