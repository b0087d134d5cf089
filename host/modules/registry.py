"""Which modules exist: entry points of the group ``k6host.modules`` (the
built-ins register there too, in k6host's own pyproject.toml) and the Python
files of the folders given with ``--module-path`` or ``K6HOST_MODULE_PATH``.

A module that fails to load is remembered with its problem: a script that
imports it fails at init (exit 107) with that problem; otherwise the run
warns. Two modules claiming one name are an error for the whole run (the
front ends refuse to start, exit 107): which one a script would get is
anybody's guess.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import os
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from k6host.modules.api import Module

ENTRY_POINT_GROUP = "k6host.modules"
MODULE_PATH_ENV = "K6HOST_MODULE_PATH"


@dataclass
class Registry:
    modules: dict[str, type[Module]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # name -> what went wrong
    warnings: list[str] = field(default_factory=list)  # failures with no name to blame
    origins: dict[str, str] = field(default_factory=dict)  # name -> where it came from
    conflicts: list[str] = field(default_factory=list)  # names claimed twice

    def add(self, cls: type[Module], origin: str) -> None:
        if self._claim(cls.name, origin):
            self.modules[cls.name] = cls

    def fail(self, name: str, origin: str, problem: str) -> None:
        if self._claim(name, origin):
            self.failures[name] = f"cannot load module {name!r} from {origin}: {problem}"

    def _claim(self, name: str, origin: str) -> bool:
        known = self.origins.get(name)
        if known is not None and known != origin:
            self.conflicts.append(f"module {name!r} is provided twice: by {known} and by {origin}")
            self.modules.pop(name, None)
            self.failures[name] = self.conflicts[-1]
            return False
        self.origins[name] = origin
        return True

    def importable(self, name: str) -> bool:
        cls = self.modules.get(name)
        return (cls is not None and cls.importable) or name in self.failures

    def problems(self) -> list[str]:
        """Everything to warn about when the script does not import it."""
        return [*self.failures.values(), *self.warnings]


def module_path_from(env: Mapping[str, str], given: Iterable[str] = ()) -> tuple[str, ...]:
    """Folders from ``--module-path`` flags first, then ``K6HOST_MODULE_PATH``."""
    folders = [*given, *(p for p in env.get(MODULE_PATH_ENV, "").split(os.pathsep) if p)]
    return tuple(os.path.abspath(os.path.expanduser(f)) for f in folders)


_cache: dict[tuple[str, ...], Registry] = {}
_lock = threading.Lock()


def load_registry(module_path: Iterable[str] = ()) -> Registry:
    """The modules of this installation plus those in ``module_path`` (once per process)."""
    key = tuple(module_path)
    with _lock:
        registry = _cache.get(key)
        if registry is None:
            registry = _cache[key] = _load(key)
        return registry


def _problem(exc: BaseException) -> str:
    """An import error in the words a module author needs: where, and what."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = next((f"{f.filename}:{f.lineno}: " for f in reversed(frames) if "importlib" not in f.filename), "")
    return f"{where}{type(exc).__name__}: {exc}"


def _load(module_path: tuple[str, ...]) -> Registry:
    registry = Registry()
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"{entry.value} (package {entry.dist.name if entry.dist else '?'})"
        try:
            cls = entry.load()
        except Exception as exc:  # an extension's own bug: name it, go on
            registry.fail(entry.name, origin, _problem(exc))
            continue
        if not (inspect.isclass(cls) and issubclass(cls, Module)):
            registry.fail(entry.name, origin, f"{entry.value} is not a k6host.modules.api.Module subclass")
        elif cls.name != entry.name:
            registry.fail(entry.name, origin, f"the entry point is named {entry.name!r} but the module says {cls.name!r}")
        else:
            registry.add(cls, origin)
    for folder in module_path:
        _load_folder(registry, folder)
    return registry


def _load_folder(registry: Registry, folder: str) -> None:
    if not os.path.isdir(folder):
        registry.warnings.append(f"module path {folder!r} is not a folder")
        return
    if folder not in sys.path:
        sys.path.insert(0, folder)  # so a module may be a package of several files
    for entry in sorted(Path(folder).iterdir()):
        if entry.name.startswith(("_", ".")):
            continue
        if entry.suffix == ".py":
            import_name = entry.stem
        elif entry.is_dir() and (entry / "__init__.py").is_file():
            import_name = entry.name
        else:
            continue
        origin = str(entry)
        try:
            python_module = importlib.import_module(import_name)
        except Exception as exc:
            registry.warnings.append(f"cannot load module file {origin}: {_problem(exc)}")
            continue
        found = [
            cls
            for cls in vars(python_module).values()
            if inspect.isclass(cls) and issubclass(cls, Module) and cls.__module__ == python_module.__name__ and cls.name
        ]
        if not found:
            registry.warnings.append(f"{origin} defines no k6host module (a Module subclass with a name)")
        for cls in found:
            registry.add(cls, origin)


class Roots:
    """Every registered module's root for one test, made when the test is."""

    def __init__(self, registry: Registry, test: object) -> None:
        self.registry = registry
        self._roots = {name: cls(test) for name, cls in registry.modules.items()}  # type: ignore[arg-type]

    def get(self, name: str) -> Module | None:
        return self._roots.get(name)

    def configure(self, options: Mapping[str, object]) -> None:
        for root in self._roots.values():
            root.configure(options)

    def with_globals(self) -> list[Module]:
        return [root for root in self._roots.values() if root.globals]
