"""open(): a file's contents, in the init context, relative to the calling
file; refused in k6's words (a GoError in the script)."""

from __future__ import annotations

import errno
import os
from typing import Any, Callable, Mapping

from k6host.engine.loader import jsmodules_dir, note_file
from k6host.modules.api import HostError, Instance, Module, ModuleVU

INIT_ONLY = (
    'the "open" function is only available in the init stage (i.e. the global scope), '
    "see https://grafana.com/docs/k6/latest/using-k6/test-lifecycle/ for more information"
)


def read_for_open(directory: str, path: object, mode: object, in_init: bool) -> bytes:
    """The bytes of ``path`` (relative to ``directory``), for ``open(path, mode)``."""
    if not in_init:
        raise HostError(INIT_ONLY)
    if path is None or path == "":
        raise HostError("open() can't be used with an empty filename")
    if not isinstance(path, str):
        raise HostError(f"open() needs a file path (a string), got {type(path).__name__}")
    if mode not in (None, "b", "r", ""):
        raise HostError(f'open(): unknown mode {mode!r}; use "b" for binary')
    full = os.path.normpath(os.path.join(directory, os.path.expanduser(path)))
    if os.path.isdir(full):
        raise HostError(f'open() can\'t be used with directories, path: "{full}"')
    try:
        with open(full, "rb") as f:
            data = f.read()
    except OSError as exc:
        verb = "stat" if exc.errno == errno.ENOENT else "open"
        raise HostError(f"{verb} {full}: {(exc.strerror or str(exc)).lower()}") from None
    note_file(full)  # k6host archive packs what init code opened
    return data


class OpenInstance(Instance):
    def functions(self) -> Mapping[str, Callable[..., Any]]:
        return {"open": self.open}

    def open(self, base: str, path: str, mode: str | None) -> str | None:
        """The text; or, with mode "b", None and the bytes left for the script."""
        vu = self.vu
        data = read_for_open(vu.directory_of(base), path, mode, vu.in_init or vu.interactive)
        if mode == "b":
            vu.put_bytes(data)
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
