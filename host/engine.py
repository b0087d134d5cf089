"""The JavaScript engine: the only module that touches dukpy.

Everything else in the host speaks to :class:`Engine`, so a second engine could
be added behind the same few methods.  dukpy 0.6 embeds QuickJS-NG; every
``evaljs`` runs a full garbage collection on entry and exit, which is why the
host batches its entries (see DESIGN.md).
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Protocol

import dukpy
from dukpy.evaljs import JSInterpreter

try:  # the error class lives in the C extension
    from _dukpy import JSRuntimeError
except ImportError:  # pragma: no cover - layout of other dukpy builds
    JSRuntimeError = dukpy.JSRuntimeError  # type: ignore[attr-defined]


class ScriptError(Exception):
    """A JavaScript exception that reached the host.

    ``text`` is what JavaScript would print for it: ``Name: message`` followed
    by the stack lines QuickJS captured (with file:line:column).
    """

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text.rstrip("\n")

    @property
    def headline(self) -> str:
        return self.text.split("\n", 1)[0]

    @property
    def is_syntax_error(self) -> bool:
        return self.headline.startswith("SyntaxError")


class ModuleSource(Protocol):
    """What the engine asks when a script imports or requires something."""

    def resolve(self, base: str, name: str) -> str: ...

    def esm_source(self, module_id: str) -> str | None: ...


class _Loader:
    """Adapter for the hook the native ES module loader calls (``load``)."""

    def __init__(self, modules: ModuleSource):
        self._modules = modules

    def load(self, module_id: str):
        source = self._modules.esm_source(module_id)
        if source is None:
            return None, None, None
        return module_id, source, "module"


class _Interpreter(JSInterpreter):
    """A JSInterpreter whose module resolution is the host's, not dukpy's."""

    def __init__(self, modules: ModuleSource):
        self._host_loader = _Loader(modules)
        self._modules = modules
        super().__init__()

    @property
    def loader(self):  # the native module loader reads this attribute
        return self._host_loader

    def _normalize_module(self, base_name, module_name):
        return self._modules.resolve(base_name, module_name)

    def _init_console(self):
        """Skip dukpy's console: the host installs k6's own."""

    def _init_require(self):
        """Skip dukpy's CommonJS runtime: the host installs its own."""

    def _init_process(self):
        """k6 scripts have no ``process``; leave the global undefined."""


_WRAPPER_PREFIX = "(function (exports, require, module, __filename, __dirname, open) {"


class Engine:
    """One JavaScript interpreter with host functions and module hooks."""

    def __init__(self, modules: ModuleSource):
        self._interp = _Interpreter(modules)

    def export(self, name: str, func: Callable[..., Any]) -> None:
        """Make ``func`` callable from JavaScript as ``call_python(name, ...)``.

        Arguments and results cross as JSON.
        """
        self._interp.export_function(name, func)

    def eval(self, code: str, filename: str = "<k6host>", **values: Any) -> Any:
        """Run ``code`` as a global script; ``values`` appear on ``dukpy``."""
        return self._call(lambda: self._interp._evaljs(code, False, filename, values))

    def eval_module(self, code: str, filename: str) -> None:
        """Run ``code`` as an ES module named ``filename`` (imports resolve from it)."""
        self._call(lambda: self._interp._evaljs(code, True, filename, {}))

    def compile_function(self, target: str, source: str, filename: str) -> None:
        """Compile CommonJS ``source`` into a function stored at ``target``.

        Only module evaluation takes a file name in dukpy, so the wrapper is
        compiled as a module: stack traces and syntax errors then name
        ``filename`` with the script's own line numbers, and the code runs in
        strict mode (as k6's Babel step made it).
        """
        self.eval_module(f"{target} = {_WRAPPER_PREFIX}{source}\n}})", filename)

    @staticmethod
    def _call(thunk: Callable[[], Any]) -> Any:
        try:
            return thunk()
        except JSRuntimeError as exc:
            raise ScriptError(str(exc)) from None


def json_string(value: str) -> str:
    """A JavaScript string literal for ``value``."""
    return json.dumps(value)


_LOCATION = re.compile(r"\(?((?:file://)?[^\s()]+):(\d+):(\d+)\)?$")


def first_location(text: str) -> str | None:
    """The first ``file:line:column`` of a stack text, if any."""
    for line in text.splitlines()[1:]:
        match = _LOCATION.search(line.strip())
        if match:
            return f"{match.group(1)}:{match.group(2)}:{match.group(3)}"
    return None
