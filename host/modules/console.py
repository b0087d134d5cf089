"""console: the global the script logs with; lines go to the run's log."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from k6host.engine.loader import jsmodules_dir
from k6host.modules.api import Instance, Module, ModuleVU


class ConsoleInstance(Instance):
    def functions(self) -> Mapping[str, Callable[..., Any]]:
        return {"log": self.log}

    def log(self, level: str, message: str) -> None:
        self.vu.log(level, message, source="console")


class Console(Module):
    name = "console"
    javascript = jsmodules_dir() / "console.js"
    exports = ("console",)
    globals = ("console",)
    importable = False

    def instance(self, vu: ModuleVU) -> Instance:
        return ConsoleInstance(self, vu)
