"""TypeScript scripts: their types stripped before they run, as k6 1.x strips them.

k6 runs esbuild's transform. No Python binding of esbuild does that while
keeping line numbers, so k6host runs sucrase (bundled in vendor/, see its
README) in a QuickJS interpreter of its own: one per process, made on the first
TypeScript file and kept: loading the bundle takes ~25 ms and the first
transform ~60 ms more (QuickJS warming up), later ones ~1 ms per short file
(~80 ms for 800 lines). The loader caches the resulting JavaScript and hands
it to every VU (loader.read_script); no VU loads sucrase.

sucrase blanks the types out in place (``disableESTransforms`` keeps classes,
optional chaining and the like as written), so an error's line and column are
the script's own.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from pathlib import Path

from dukpy.evaljs import JSInterpreter

from k6host.engine.interpreter import ScriptError

# k6 1.1.0 strips only .ts files; .mts and .cts are TypeScript too.
SUFFIXES = (".ts", ".mts", ".cts")
BUNDLE = Path(__file__).resolve().with_name("vendor") / "sucrase.js"

_TRANSFORM = """(function () {
  try {
    return {code: sucrase.transform(dukpy.source, {
      transforms: ["typescript"], disableESTransforms: true, filePath: dukpy.name}).code};
  } catch (e) {
    return {error: String(e && e.message || e), loc: e && e.loc || null};
  }
})()"""
# sucrase's message: "Error transforming NAME: Unexpected token (2:16)".
_MESSAGE = re.compile(r"^(?:Error transforming .*?: )?(.*?)(?: \(\d+:\d+\))?$", re.S)

_lock = threading.Lock()  # one interpreter, VUs on several threads
_interpreter: JSInterpreter | None = None


def is_typescript(path: str) -> bool:
    return path.endswith(SUFFIXES)


def _sucrase() -> JSInterpreter:
    global _interpreter
    if _interpreter is None:
        try:
            bundle = BUNDLE.read_text(encoding="utf-8")
        except OSError as exc:
            raise RuntimeError(f"k6host is installed without its TypeScript support ({BUNDLE}: {exc.strerror})") from None
        interpreter = JSInterpreter()
        interpreter.evaljs(bundle + ";\nglobalThis.sucrase = sucrase; null")
        _interpreter = interpreter
    return _interpreter


@lru_cache(maxsize=256)
def strip_types(source: str, url: str) -> str:
    """The JavaScript of TypeScript ``source`` (the file at ``url``); a syntax
    error is a ScriptError naming the file, line and column as k6 names them."""
    with _lock:
        result = _sucrase().evaljs(_TRANSFORM, source=source, name=url)
    if "error" not in result:
        return result["code"]
    message = _MESSAGE.match(result["error"]).group(1)  # type: ignore[union-attr]
    loc = result.get("loc")
    # sucrase counts columns from 1, k6 (esbuild) from 0.
    where = f" Line {loc['line']}:{loc['column'] - 1}" if loc else ""
    raise ScriptError(f"GoError: {url}:{where} {message}")
