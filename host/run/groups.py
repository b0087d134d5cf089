"""The group and check tree of a test run, shaped as k6's ``root_group``.

k6 names a group by its path: the names of the groups it is nested in, each
after a ``::`` (``::outer::inner``; the root's path is empty). A check's path
is its group's path, ``::`` and its name. Every id is the md5 hex digest of the
path, so the same script yields the same ids in every run.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from k6host.report.stdio import well_formed

SEPARATOR = "::"


def _id(path: str) -> str:
    return hashlib.md5(path.encode("utf-8")).hexdigest()


def split_path(path: str) -> list[str]:
    """``"::outer::inner"`` -> ``["outer", "inner"]``; ``""`` (the root) -> ``[]``."""
    if path == "":
        return []
    if not path.startswith(SEPARATOR):
        raise ValueError(f"invalid group path {path!r}: it must be empty or start with {SEPARATOR!r}")
    return path[len(SEPARATOR):].split(SEPARATOR)


class _Check:
    def __init__(self, group_path: str, name: str):
        self.name = name
        self.path = group_path + SEPARATOR + name
        self.passes = 0
        self.fails = 0

    def to_data(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "id": _id(self.path), "passes": self.passes, "fails": self.fails}


class _Group:
    def __init__(self, name: str, path: str):
        self.name = name
        self.path = path
        self.groups: dict[str, _Group] = {}  # in the order they were first entered
        self.checks: dict[str, _Check] = {}  # in the order they first ran

    def to_data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "id": _id(self.path),
            "groups": [group.to_data() for group in self.groups.values()],
            "checks": [check.to_data() for check in self.checks.values()],
        }


class GroupTree:
    """Groups entered and checks run, with pass and fail counts; safe to use from every thread."""

    def __init__(self) -> None:
        self._root = _Group("", "")
        self._lock = threading.Lock()
        # Every check by name alone, merged across groups, in the order each name
        # first ran: the list k6's compact end-of-test summary shows.
        self._by_name: dict[str, list[int]] = {}

    def _find(self, path: str) -> _Group:
        group = self._root
        for name in split_path(path):
            child = group.groups.get(name)
            if child is None:
                child = group.groups[name] = _Group(name, group.path + SEPARATOR + name)
            group = child
        return group

    def group(self, path: str) -> None:
        """Record that the group at ``path`` was entered (its parents too)."""
        with self._lock:
            self._find(well_formed(path))

    def check(self, group_path: str, name: str, ok: bool) -> None:
        group_path, name = well_formed(group_path), well_formed(name)
        with self._lock:
            group = self._find(group_path)
            check = group.checks.get(name)
            if check is None:
                check = group.checks[name] = _Check(group.path, name)
            counts = self._by_name.setdefault(name, [0, 0])
            if ok:
                check.passes += 1
                counts[0] += 1
            else:
                check.fails += 1
                counts[1] += 1

    def to_data(self) -> dict[str, Any]:
        """The tree exactly as k6 passes it to ``handleSummary`` as ``data.root_group``."""
        with self._lock:
            return self._root.to_data()

    def checks_by_name(self) -> list[dict[str, Any]]:
        """``[{"name", "passes", "fails"}]`` with same-named checks of all groups merged."""
        with self._lock:
            return [{"name": name, "passes": p, "fails": f} for name, (p, f) in self._by_name.items()]
