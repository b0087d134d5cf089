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

import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from k6host.modules.api import Module
from k6host.run.options import OptionsError

ENTRY_POINT_GROUP = "k6host.modules"
MODULE_PATH_ENV = "K6HOST_MODULE_PATH"


@dataclass
class Registry:
    modules: dict[str, type[Module]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # name -> what went wrong
    warnings: list[str] = field(default_factory=list)  # failures with no name to blame
    origins: dict[str, str] = field(default_factory=dict)  # name -> where it came from
    conflicts: list[str] = field(default_factory=list)  # what stops every run: names or globals claimed twice
    _global_owners: dict[str, str] = field(default_factory=dict)  # global -> module

    def add(self, cls: type[Module], origin: str) -> None:
        for name in cls.globals:
            owner = self._global_owners.setdefault(name, cls.name)
            if owner != cls.name:
                self.conflicts.append(f"the global {name!r} is claimed by module {owner!r} and by {cls.name!r} ({origin})")
                return
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
    if "k6" not in registry.modules and "k6" not in registry.failures:
        registry.conflicts.append(
            "k6host's built-in modules are not registered (no 'k6host.modules' entry points): "
            "reinstall k6host, e.g. pip install --force-reinstall k6host (or pip install -e . in a checkout)"
        )
    for folder in module_path:
        _load_folder(registry, folder)
    return registry


def _load_folder(registry: Registry, folder: str) -> None:
    if not os.path.isdir(folder):
        registry.warnings.append(f"module path {folder!r} is not a folder")
        return
    if folder not in sys.path:
        # Last, so it shadows nothing: a package, or a file's helper modules, import from there.
        sys.path.append(folder)
    for entry in sorted(Path(folder).iterdir()):
        if entry.name.startswith(("_", ".")):
            continue
        if not (entry.suffix == ".py" or (entry.is_dir() and (entry / "__init__.py").is_file())):
            continue
        origin = str(entry)
        try:
            python_module = _import(entry)
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


def _import(entry: Path) -> object:
    """A package by its own name (its parts import it so); a single file under
    a name of its own, so that two folders' greet.py are two modules."""
    if entry.is_dir():
        return importlib.import_module(entry.name)
    digest = hashlib.sha1(str(entry).encode()).hexdigest()[:12]
    name = f"_k6host_module_path_{digest}_{entry.stem}"
    known = sys.modules.get(name)
    if known is not None:
        return known
    spec = importlib.util.spec_from_file_location(name, entry)
    assert spec is not None and spec.loader is not None
    python_module = importlib.util.module_from_spec(spec)
    sys.modules[name] = python_module
    try:
        spec.loader.exec_module(python_module)
    except BaseException:
        del sys.modules[name]
        raise
    return python_module


class Roots:
    """Every registered module's root for one test, made when the test is,
    with the metrics the modules declare. A module whose root fails (to be
    made, or to take the options) is a load failure of this test's."""

    def __init__(self, registry: Registry, test: Any) -> None:
        self.registry = registry
        self._test = test
        self._failures: dict[str, str] = {}
        self._roots: dict[str, Module] = {}
        for name, cls in registry.modules.items():
            try:
                root = cls(test)
                for metric, spec in cls.metrics.items():
                    kind, contains = (spec, "default") if isinstance(spec, str) else spec
                    test.metrics.define(metric, kind, contains)
            except Exception as exc:
                self._failures[name] = f"module {name!r} could not start: {_problem(exc)}"
            else:
                self._roots[name] = root

    def get(self, name: str) -> Module | None:
        return self._roots.get(name)

    def problem(self, name: str) -> str | None:
        """Why module ``name`` cannot be used in this test, if it cannot."""
        return self.registry.failures.get(name) or self._failures.get(name)

    def problems(self) -> list[str]:
        return [*self.registry.problems(), *self._failures.values()]

    def configure(self, options: Mapping[str, object]) -> None:
        """The run's options, to every root; a value a module refuses is the run's error (exit 104)."""
        for name, root in list(self._roots.items()):
            try:
                root.configure(options)
            except OptionsError:
                raise
            except Exception as exc:
                self._failures[name] = f"module {name!r} could not take the options: {_problem(exc)}"
                self._test.log("warning", self._failures[name])
                del self._roots[name]

    def with_globals(self) -> list[Module]:
        return [root for root in self._roots.values() if root.globals]
