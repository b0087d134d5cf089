"""k6/data's SharedArray: built once, held once (in Python), read item by item.

Keeping the data out of each VU's heap matters here: every entry into the
engine runs a full GC whose cost grows with the live heap (DESIGN.md).
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, Mapping

from k6host.engine.interpreter import HostError
from k6host.engine.loader import jsmodules_dir
from k6host.modules.api import Instance, Module, ModuleVU


class SharedArrays:
    def __init__(self) -> None:
        self._arrays: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    def length(self, name: str) -> int | None:
        """The array's length, or None when no VU has built it yet."""
        array = self._arrays.get(name)
        return None if array is None else len(array)

    def store(self, name: str, data_json: str) -> int:
        """Keep the first VU's build of ``name``; later builds are dropped."""
        data = json.loads(data_json)
        with self._lock:
            return len(self._arrays.setdefault(name, data))

    def item(self, name: str, index: int) -> Any:
        return self._arrays[name][index]


class DataInstance(Instance):
    root: Data

    def functions(self) -> Mapping[str, Callable[..., Any]]:
        arrays = self.root.arrays
        return {"length": self.length, "store": arrays.store, "item": arrays.item}

    def length(self, name: str) -> int | None:
        if not (self.vu.in_init or self.vu.interactive):
            raise HostError("new SharedArray must be called in the init context")
        return self.root.arrays.length(name)


class Data(Module):
    """The arrays are test-wide: held once in the root, for every VU."""

    name = "k6/data"
    javascript = jsmodules_dir() / "k6" / "data.js"
    exports = ("SharedArray",)

    def __init__(self, test: Any) -> None:
        super().__init__(test)
        self.arrays = SharedArrays()

    def instance(self, vu: ModuleVU) -> Instance:
        return DataInstance(self, vu)
