"""Small rewrites of an ES module's source that keep every position the script's own.

- ``require`` and ``open`` come from an import put before the first line's
  text; positions.py takes its length off the columns of line 1.
- ``import * as m from "k6/..."`` gets the built-in's namespace without a
  ``default`` key, as in k6, while ``import m from "k6/..."`` still gets the
  module object: the namespace import is pointed at a variant of the shim
  that has no default export. Only the specifier changes, on that line.
"""

from __future__ import annotations

import json
import re
from typing import Callable, Iterable

LOCALS_PREFIX = "k6host-locals:"  # + the module's id: a module exporting its require and open
NAMESPACE_SUFFIX = "#namespace"  # a built-in's shim without its default export

_NAMESPACE_IMPORT = re.compile(r"""(\bimport\s*\*\s*as\s+[\w$]+\s+from\s*)(["'])([^"'\n]+)\2""")


def locals_import(module_id: str, names: Iterable[str]) -> str:
    names = list(names)
    if not names:
        return ""
    return f"import {{ {', '.join(names)} }} from {json.dumps(LOCALS_PREFIX + module_id)}; "


def locals_module(locals_id: str) -> str:
    quoted = json.dumps(locals_id[len(LOCALS_PREFIX):])
    return (f"export const require = globalThis.__k6host.makeRequire({quoted});\n"
            f"export const open = globalThis.__k6host.openFor({quoted});")


def namespace_imports(source: str, is_builtin: Callable[[str], bool]) -> str:
    def point(match: re.Match) -> str:
        head, quote, name = match.groups()
        return f"{head}{quote}{name}{NAMESPACE_SUFFIX if is_builtin(name) else ''}{quote}"

    return _NAMESPACE_IMPORT.sub(point, source)


_IMPORT_CLAUSE = re.compile(
    r"""\bimport\s+(?:([\w$]+)\s*,?\s*)?(?:\{([^}]*)\})?\s*from\s*(["'])([^"'\n]+)\3""")


def imported_names(source: str) -> dict[str, set[str]]:
    """What ``import x, { a, b as c } from "name"`` takes from each module: {name: {"default", "a", "b"}}."""
    wanted: dict[str, set[str]] = {}
    for default, named, _, name in _IMPORT_CLAUSE.findall(source):
        names = wanted.setdefault(name, set())
        if default:
            names.add("default")
        for item in named.split(","):
            item = item.strip().split()
            if item:
                names.add(item[0])
    return wanted
