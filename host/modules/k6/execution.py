"""k6/execution: what a script may know about its run; test.fail and test.abort."""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from k6host.engine.loader import jsmodules_dir
from k6host.modules.api import Instance, Module, ModuleVU


class ExecutionInstance(Instance):
    def functions(self) -> Mapping[str, Callable[..., Any]]:
        return {"state": self.state, "tag": self.tag, "options": self.options, "fail": self.fail, "abort": self.abort}

    def state(self) -> dict[str, Any]:
        test, vu = self.root.test, self.vu.state
        progress = vu.context.progress
        return {
            "progress": progress() if progress else 0.0,
            "iterationsCompleted": test.iterations_completed,
            "iterationsInterrupted": test.iterations_interrupted,
            "vusActive": test.vus_active,
            "vusInitialized": test.vus_initialized,
            "currentTestRunDuration": (time.monotonic() - test.started) * 1000.0,
            "tags": dict(vu.sample_tags),
        }

    def tag(self, key: str, value: str | None) -> None:
        """exec.vu.tags[key] = value (None: delete)."""
        state = self.vu.state
        if value is None:
            state.tags.pop(key, None)
        else:
            state.tags[key] = value
        state.retag()

    def options(self) -> dict[str, Any]:
        return self.root.test.options

    def fail(self, reason: str, where: str = "") -> None:
        test = self.root.test
        test.failed = True
        test.fail_calls.append((reason, where))
        test.log("error", f"test marked as failed: {reason}")

    def abort(self, reason: str, where: str) -> None:
        test = self.root.test
        if test.abort_reason is None:
            test.log("error", f"test aborted: {reason} {where}".rstrip())
        test.abort_reason = reason
        test.stop.set()


class Execution(Module):
    name = "k6/execution"
    javascript = jsmodules_dir() / "k6" / "execution.js"
    exports = ("vu", "scenario", "instance", "test")

    def instance(self, vu: ModuleVU) -> Instance:
        return ExecutionInstance(self, vu)
