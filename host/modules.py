"""Where a script's imports and requires come from.

Built-in modules (``k6``, ``k6/x/tcp``, ...) are CommonJS files under
``jsmodules/``, run once per VU; an ES ``import`` of one gets a small generated
module that re-exports the CommonJS exports by name, so ``import { Socket }``,
``import tcp`` and ``require()`` all reach the same objects.  The script's own
files are resolved relative to the file that imports them.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path

from .engine import Engine, ScriptError

BUILTIN_PREFIX = "k6"
# import/export as a keyword anywhere (minified and bundled code puts them
# mid-line), not as a property (x.import) or part of a name.
_MODULE_SYNTAX = re.compile(r"(?<![\w$.])(import|export)\b(?!\s*[:(])")
_EXPORT = re.compile(r"^exports\.([A-Za-z_$][\w$]*)\s*=", re.MULTILINE)


def jsmodules_dir() -> Path:
    """The folder of built-in JavaScript modules: inside the installed package
    (a wheel), or beside host/ (a checkout or an editable install)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "jsmodules", here.parent / "jsmodules"):
        if (candidate / "runtime.js").is_file():
            return candidate
    raise RuntimeError(f"k6host is installed without its JavaScript modules (looked in {here})")


@lru_cache(maxsize=None)
def builtin_source(name: str) -> str | None:
    """Source of built-in module ``name`` (``k6/x/tcp``), or None if unknown."""
    if not (name == BUILTIN_PREFIX or name.startswith(BUILTIN_PREFIX + "/")):
        return None
    path = jsmodules_dir() / (name + ".js")
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def read_script(path: str) -> str:
    """A script file's text; every VU loads the same files, so they are cached
    for as long as the file is unchanged."""
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
    return text


def _where(data: bytes, offset: int) -> str:
    """``Line L:C`` of byte ``offset``, as k6 reports it (both from 1)."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    line = data.count(b"\n", 0, offset) + 1
    return f"Line {line}:{column}"


def _esm_shim(name: str, source: str) -> str:
    names = [n for n in dict.fromkeys(_EXPORT.findall(source)) if n != "default"]
    lines = [f"const m = globalThis.__k6host.builtin({json.dumps(name)});", "export default m;"]
    lines += [f"export const {n} = m.{n};" for n in names]
    return "\n".join(lines)


def file_url(path: str) -> str:
    return "file://" + os.path.abspath(path)


def url_path(module_id: str) -> str | None:
    """The file a module id names, or None for built-ins and unknown names."""
    return module_id[len("file://"):] if module_id.startswith("file:///") else None


def _module_locals(module_id: str, source: str) -> str:
    """Give an ES module its own ``require`` and ``open``, as k6 does.

    They go on the first line, so line numbers in errors stay the script's.
    A module that declares either name itself keeps its own.
    """
    quoted = json.dumps(module_id)
    bindings = [
        f"{name} = globalThis.__k6host.{factory}({quoted})"
        for name, factory in (("require", "makeRequire"), ("open", "makeOpen"))
        if not re.search(rf"(\b(function|const|let|var|class)\s+|import\s*{{[^}}]*\b|import\s+){name}\b", source)
    ]
    return (f"const {', '.join(bindings)}; " if bindings else "") + source


class ModuleMap:
    """Resolves and loads modules for one VU's engine.

    The script's files are known by ``file://`` URLs, as in k6, so stack
    traces read ``at default (file:///path/script.js:3:5)``.
    """

    def __init__(self, main_path: str):
        self.main_path = os.path.abspath(main_path)
        self.main_id = file_url(self.main_path)
        self._main_dir = os.path.dirname(self.main_path)
        self._engine: Engine | None = None
        self._formats: dict[str, str] = {}

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
        if builtin_source(name) is not None or name.startswith("file:///"):
            return name
        if name.startswith(("./", "../")):
            return file_url(os.path.normpath(os.path.join(self.directory_of(base), name)))
        if name.startswith("/"):
            return file_url(name)
        return name

    def format_of(self, module_id: str) -> str | None:
        """``esm``, ``cjs`` or None (not found) for a module id."""
        if builtin_source(module_id) is not None:
            return "cjs"
        path = url_path(module_id)
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
        builtin = builtin_source(module_id)
        if builtin is not None:
            return _esm_shim(module_id, builtin)
        fmt = self.format_of(module_id)
        if fmt == "esm":
            return _module_locals(module_id, read_script(url_path(module_id)))
        if fmt == "cjs":
            # An ES module importing CommonJS sees its exports as the default.
            quoted = json.dumps(module_id)
            return f"export default globalThis.__k6host.makeRequire({quoted})({quoted});"
        return None

    def compile_commonjs(self, module_id: str) -> str:
        """Compile a CommonJS module into ``__k6host.cjs[id]``; say its format."""
        assert self._engine is not None
        fmt = self.format_of(module_id)
        if fmt == "cjs":
            builtin = builtin_source(module_id)
            source = builtin if builtin is not None else read_script(url_path(module_id))
            filename = str(jsmodules_dir() / (module_id + ".js")) if builtin is not None else module_id
            target = f"__k6host.cjs[{json.dumps(module_id)}]"
            self._engine.compile_function(target, source, filename)
        return fmt or "missing"
