"""k6/timers (and the globals setTimeout & co.): deadlines on the VU's loop;
the callbacks stay in JavaScript, which hears the id of a timer that fires."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from k6host.engine.loader import jsmodules_dir
from k6host.modules.api import Instance, Module, ModuleVU


class TimersInstance(Instance):
    def __init__(self, root: Module, vu: ModuleVU) -> None:
        super().__init__(root, vu)
        self._timers: dict[int, Any] = {}

    def functions(self) -> Mapping[str, Callable[..., Any]]:
        return {"add": self.add, "cancel": self.cancel}

    def add(self, timer_id: int, ms: float, repeat: bool) -> None:
        delay = ms / 1000.0
        loop = self.vu.loop

        def fire() -> None:
            self.vu.emit(timer_id)
            if repeat:
                self._timers[timer_id] = loop.call_later(max(delay, 0.001), fire)
            else:
                self._timers.pop(timer_id, None)

        self._timers[timer_id] = loop.call_later(delay, fire)

    def cancel(self, timer_id: int) -> None:
        timer = self._timers.pop(timer_id, None)
        if timer is not None:
            self.vu.loop.cancel(timer)

    def abandon(self) -> None:
        # The VU clears its loop's timers itself; only the ids are ours.
        self._timers.clear()


class Timers(Module):
    name = "k6/timers"
    javascript = jsmodules_dir() / "k6" / "timers.js"
    exports = ("setTimeout", "clearTimeout", "setInterval", "clearInterval")
    globals = exports

    def instance(self, vu: ModuleVU) -> Instance:
        return TimersInstance(self, vu)
