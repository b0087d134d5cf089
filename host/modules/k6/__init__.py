"""k6: checks, groups and sleep (fail and randomSeed live in JavaScript).

Checks and groups feed the test's group tree (the summary's) and tag the
VU's samples with the group they were taken in.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from k6host.engine.loader import jsmodules_dir
from k6host.modules.api import Instance, Module, ModuleVU


class K6Instance(Instance):
    def functions(self) -> Mapping[str, Callable[..., Any]]:
        return {"check": self.check, "enterGroup": self.enter_group, "leaveGroup": self.leave_group, "sleep": self.vu.sleep}

    def check(self, name: str, ok: bool, tags: dict[str, str]) -> None:
        self.root.test.groups.check(self.vu.state.group_path, name, ok)
        self.vu.add_sample("checks", 1.0 if ok else 0.0, {**tags, "check": name})

    def enter_group(self, name: str) -> None:
        state = self.vu.state
        state.groups.append((name, time.perf_counter()))
        state.retag()
        self.root.test.groups.group(state.group_path)

    def leave_group(self) -> None:
        state = self.vu.state
        if not state.groups:
            return
        _, started = state.groups[-1]
        self.vu.add_sample("group_duration", (time.perf_counter() - started) * 1000.0, {})
        state.groups.pop()
        state.retag()


class K6(Module):
    name = "k6"
    javascript = jsmodules_dir() / "k6.js"
    exports = ("check", "group", "sleep", "fail", "randomSeed")

    def instance(self, vu: ModuleVU) -> Instance:
        return K6Instance(self, vu)
