"""Where a script's imports and requires come from.

Modules of the module API (``k6``, ``k6/x/tcp``, extensions; see
modules/api.py) have a CommonJS face, run once per VU; an ES ``import`` of one
gets a small generated module that re-exports its declared exports by name,
so ``import { Socket }``, ``import tcp`` and ``require()`` all reach the same
objects. The script's own files are resolved relative to the file that
imports them; https:// modules come from the disk cache (remotemodules.py).
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path

from typing import TYPE_CHECKING, Callable

from k6host.engine.esmsource import (
    LOCALS_PREFIX, NAMESPACE_SUFFIX, imported_names, locals_import, locals_module, namespace_imports,
)
from k6host.engine.interpreter import _WRAPPER_PREFIX, Engine, HostError, ScriptError
from k6host.engine.missingmodules import throwing_source
from k6host.engine.positions import note_prefix
from k6host.engine.remotemodules import fetch_error, is_remote, local_copy
from k6host.engine.remotemodules import join as remote_join
from k6host.engine.typescript import is_typescript, strip_types

if TYPE_CHECKING:
    from k6host.modules.registry import Roots

# import/export as a keyword anywhere (minified and bundled code puts them
# mid-line), not as a property (x.import) or part of a name.
_MODULE_SYNTAX = re.compile(r"(?<![\w$.])(import|export)\b(?!\s*[:(])")
# A module's JavaScript face gets `native`, its door to its Python instance.
_HOST_MODULE_PREFIX = "(function (exports, require, module, native) {"


class ModuleLoadError(HostError):
    """A module of the module API that is registered but failed to load."""

    js_name = "Error"


def jsmodules_dir() -> Path:
    """The folder of built-in JavaScript modules: inside the installed package
    (a wheel), or beside host/ (a checkout or an editable install)."""
    here = Path(__file__).resolve().parents[1]  # the k6host package
    for candidate in (here / "jsmodules", here.parent / "jsmodules"):
        if (candidate / "runtime.js").is_file():
            return candidate
    raise RuntimeError(f"k6host is installed without its JavaScript modules (looked in {here})")


@lru_cache(maxsize=None)
def _module_face(path: str) -> str:
    """A module's JavaScript face (read once per process)."""
    return Path(path).read_text(encoding="utf-8")


# Sets that collect every local file a script reads (imports, open()), while
# `k6host archive` records them (run/archive.py).
FILE_RECORDERS: list[set[str]] = []


def note_file(path: str) -> None:
    for recorder in FILE_RECORDERS:
        recorder.add(os.path.abspath(path))


def read_script(path: str) -> str:
    """A script file's text; every VU loads the same files, so they are cached
    for as long as the file is unchanged."""
    note_file(path)
    st = os.stat(path)
    return _read_script(path, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=256)
def _read_script(path: str, _mtime_ns: int, _size: int) -> str:
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScriptError(f"GoError: {file_url(path)}: {_where(data, exc.start)} Invalid UTF-8 character") from None
    if text.startswith("#!"):
        text = "//" + text  # keep the line so line numbers stay right
    if is_typescript(path):
        text = strip_types(text, file_url(path))
    return text


def _where(data: bytes, offset: int) -> str:
    """``Line L:C`` of byte ``offset``, as k6 reports it (both from 1)."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    line = data.count(b"\n", 0, offset) + 1
    return f"Line {line}:{column}"


def _esm_shim(name: str, exports: tuple[str, ...], with_default: bool = True) -> str:
    lines = [f"const m = globalThis.__k6host.builtin({json.dumps(name)});"] + (["export default m;"] * with_default)
    lines += [f"export const {n} = m.{n};" for n in exports if n != "default"]
    return "\n".join(lines)


def file_url(path: str) -> str:
    return "file://" + os.path.abspath(path)


def url_path(module_id: str) -> str | None:
    """The file a module id names, or None for built-ins and unknown names."""
    return module_id[len("file://"):] if module_id.startswith("file:///") else None


def _module_locals(module_id: str, source: str, is_host_module: Callable[[str], bool]) -> str:
    """Give an ES module its own ``require`` and ``open``, as k6 does.

    They come from an import on the first line, whose length is taken off
    that line's columns in errors (positions.py). A module that declares
    either name itself keeps its own.
    """
    names = [
        name for name in ("require", "open")
        if not re.search(rf"(\b(function|const|let|var|class)\s+|import\s*{{[^}}]*\b|import\s+){name}\b", source)
    ]
    prelude = locals_import(module_id, names)
    note_prefix(module_id, len(prelude))
    return prelude + namespace_imports(source, is_host_module)


class ModuleMap:
    """Resolves and loads modules for one VU's engine.

    The script's files are known by ``file://`` URLs, as in k6, so stack
    traces read ``at default (file:///path/script.js:3:5)``. Modules of the
    module API are known by their names; ``activate(name)`` is called the
    first time this VU loads one (the VU makes its instance then).
    """

    def __init__(self, main_path: str, modules: Roots, activate: Callable[[str], None]):
        self.main_path = os.path.abspath(main_path)
        self.main_id = file_url(self.main_path)
        self._main_dir = os.path.dirname(self.main_path)
        self._modules = modules
        self._registry = modules.registry
        self._activate = activate
        self._engine: Engine | None = None
        self._formats: dict[str, str] = {}
        self._imported: dict[str, set[str]] = {}  # module id -> the names ES modules import from it

    def attach(self, engine: Engine) -> None:
        self._engine = engine
        engine.export("mod.resolve", self.resolve)
        engine.export("mod.compile", self.compile_commonjs)

    # -- resolution -----------------------------------------------------------
    def directory_of(self, module_id: str) -> str:
        """The folder relative paths in ``module_id`` start from."""
        path = url_path(module_id)
        return os.path.dirname(path) if path else self._main_dir

    def resolve(self, base: str, name: str) -> str:
        """The module id that ``name`` means when imported from ``base``."""
        if self._registry.importable(name) or name.startswith(("file:///", LOCALS_PREFIX)) or is_remote(name):
            return name
        if is_remote(base) and name.startswith(("./", "../", "/")):
            return remote_join(base, name)
        if name.startswith(("./", "../")):
            return file_url(os.path.normpath(os.path.join(self.directory_of(base), name)))
        if name.startswith("/"):
            return file_url(name)
        return name

    def _is_host_module(self, module_id: str) -> bool:
        return module_id in self._registry.modules or module_id in self._registry.failures

    def _importable(self, module_id: str) -> bool:
        """A module of the module API a script may import (console and open are
        the runtime's own, reached by name from inside it)."""
        return self._registry.importable(module_id)

    def format_of(self, module_id: str) -> str | None:
        """``esm``, ``cjs`` or None (not found) for a module id."""
        if self._is_host_module(module_id):
            return "cjs"
        path = self._path(module_id)
        if path is None or not os.path.isfile(path):
            return None
        known = self._formats.get(module_id)
        if known:
            return known
        ext = os.path.splitext(path)[1]
        if ext == ".mjs":
            fmt = "esm"
        elif ext == ".cjs":
            fmt = "cjs"
        else:
            fmt = "cjs" if self._compiles_as_function(read_script(path)) else "esm"
        self._formats[module_id] = fmt
        return fmt

    @staticmethod
    def _path(module_id: str) -> str | None:
        """The file holding a module: the script's own, or the cached copy of a URL's."""
        return local_copy(module_id) if is_remote(module_id) else url_path(module_id)

    def _compiles_as_function(self, source: str) -> bool:
        # import/export make a module body a SyntaxError inside a function,
        # the rule Node uses for ambiguous .js files. A file that fails for
        # another reason and has no import/export keyword stays CommonJS, so
        # its real syntax error is reported against it.
        assert self._engine is not None
        if self._engine.eval("__k6host.compiles(dukpy.s)", s=source):
            return True
        return not _MODULE_SYNTAX.search(source)

    # -- loading --------------------------------------------------------------
    def esm_source(self, module_id: str) -> str | None:
        """Source for an ES ``import`` of ``module_id``."""
        if self._importable(module_id):
            problem = self._modules.problem(module_id)
            if problem is not None:  # it links (whatever is imported), then says why it failed
                return throwing_source(module_id, self._imported.get(module_id, ()), problem)
            return _esm_shim(module_id, self._exports_of(module_id))
        if module_id.startswith(LOCALS_PREFIX):
            return locals_module(module_id)
        if module_id.endswith(NAMESPACE_SUFFIX) and self._importable(module_id[:-len(NAMESPACE_SUFFIX)]):
            name = module_id[:-len(NAMESPACE_SUFFIX)]
            return _esm_shim(name, self._exports_of(name), with_default=False)
        fmt = self.format_of(module_id)
        wanted = self._imported.get(module_id, set())
        if fmt == "esm":
            source = read_script(self._path(module_id))
            for name, names in imported_names(source).items():
                self._imported.setdefault(self.resolve(module_id, name), set()).update(names)
            return _module_locals(module_id, source, self._importable)
        if fmt == "cjs":
            # An ES module importing CommonJS sees its exports as the default,
            # and by name what it imports by name (a bundle's named exports too).
            quoted = json.dumps(module_id)
            lines = [f"const m = globalThis.__k6host.makeRequire({quoted})({quoted});", "export default m;"]
            lines += [f"export const {n} = m[{json.dumps(n)}];" for n in sorted(wanted)
                      if n != "default" and n.isidentifier()]
            return "\n".join(lines)
        if is_remote(module_id):
            return throwing_source(module_id, wanted, fetch_error(module_id))
        return throwing_source(module_id, wanted, offered=self._offered())

    def _offered(self) -> list[str]:
        return [name for name in self._registry.modules if self._importable(name)]

    def _exports_of(self, name: str) -> tuple[str, ...]:
        cls = self._registry.modules.get(name)
        return cls.exports if cls is not None else ()

    def compile_commonjs(self, module_id: str, internal: bool = False) -> str:
        """Compile a CommonJS module into ``__k6host.cjs[id]``; say its kind:
        ``host`` (a module of the module API), ``cjs``, ``esm`` or ``missing``.
        ``internal``: the runtime asks, not a script's require()."""
        assert self._engine is not None
        target = f"__k6host.cjs[{json.dumps(module_id)}]"
        if self._importable(module_id) or (internal and self._is_host_module(module_id)):
            problem = self._modules.problem(module_id)
            if problem is not None:
                raise ModuleLoadError(problem)
            face = str(self._registry.modules[module_id].javascript)
            try:
                source = _module_face(face)
            except OSError as exc:
                raise ModuleLoadError(f"module {module_id!r}: cannot read its JavaScript {face}: {exc.strerror}") from None
            self._activate(module_id)
            note_prefix(face, len(f"{target} = {_HOST_MODULE_PREFIX}"))
            self._engine.compile_function(target, source, face, _HOST_MODULE_PREFIX)
            return "host"
        fmt = self.format_of(module_id)
        missing = None
        if fmt is None:
            missing = throwing_source(module_id, (), fetch_error(module_id)) if is_remote(module_id) \
                else throwing_source(module_id, offered=self._offered())
        if missing is not None:
            self._engine.compile_function(target, missing, module_id)
            return "cjs"
        if fmt == "cjs":
            note_prefix(module_id, len(f"{target} = {_WRAPPER_PREFIX}"))
            self._engine.compile_function(target, read_script(self._path(module_id)), module_id)
        return fmt or "missing"
