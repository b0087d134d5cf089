"""open(): a file's contents, in the init context, relative to the calling file."""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

from k6host.engine.loader import jsmodules_dir, note_file
from k6host.modules.api import Instance, Module, ModuleVU


class OpenInstance(Instance):
    def functions(self) -> Mapping[str, Callable[..., Any]]:
        return {"open": self.open}

    def open(self, base: str, path: str, mode: str | None) -> str | None:
        """The text; or, with mode "b", None and the bytes left for the script."""
        if not (self.vu.in_init or self.vu.interactive):
            raise ValueError("open() can be called only in the init context (outside the default function)")
        if not isinstance(path, str) or not path:
            raise ValueError("open() needs a file path")
        full = os.path.join(self.vu.directory_of(base), os.path.expanduser(path))
        if mode not in (None, "b", "r", ""):
            raise ValueError(f"open(): unknown mode {mode!r}; use \"b\" for binary")
        try:
            with open(full, "rb") as f:
                data = f.read()
            note_file(full)
        except OSError as exc:
            raise ValueError(f"open({path!r}): {exc.strerror or exc}: {full}") from None
        if mode == "b":
            self.vu.put_bytes(data)
            return None
        return data.decode("utf-8", "replace")


class Open(Module):
    name = "open"
    javascript = jsmodules_dir() / "open.js"
    exports = ("open", "makeOpen")
    globals = ("open",)
    importable = False

    def instance(self, vu: ModuleVU) -> Instance:
        return OpenInstance(self, vu)
