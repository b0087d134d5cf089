"""A virtual user: one interpreter, one event loop, the script loaded into it."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .console import Log
from .engine import Engine, ScriptError
from .loop import EventLoop
from .metrics import Metrics
from .modules import ModuleMap, jsmodules_dir, read_script
from .netconfig import NetConfig
from .tcpbinding import TcpBinding

# How long one wait in the loop may last before the VU looks at its stop flag.
_POLL = 0.25


@dataclass
class TestState:
    """What every VU of one run shares."""

    script: str
    env: dict[str, str]
    log: Log
    metrics: Metrics = field(default_factory=Metrics)
    net: NetConfig = field(default_factory=NetConfig)
    failed: bool = False
    abort_reason: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    tags: dict[str, str] = field(default_factory=dict)


class IterationAborted(Exception):
    """The test was stopped while this VU was busy."""


_RUNTIME = None


def _runtime_source() -> tuple[str, str]:
    global _RUNTIME
    if _RUNTIME is None:
        path = jsmodules_dir() / "runtime.js"
        _RUNTIME = (path.read_text(encoding="utf-8"), str(path))
    return _RUNTIME


class VU:
    def __init__(self, test: TestState, vu_id: int):
        self.test = test
        self.id = vu_id
        self.loop = EventLoop()
        self.modules = ModuleMap(test.script)
        self.engine = Engine(self.modules)
        self.modules.attach(self.engine)
        self.tcp = TcpBinding(self.engine, self.loop, test.metrics, test.net)
        self._timers: dict[int, Any] = {}
        self._in_init = True
        self._settled: str | None | bool = False  # False: running; None: ok; str: error
        self._fault: str | None = None
        self._groups: list[str] = []
        e = self.engine
        e.export("console", self._console)
        e.export("timer.add", self._timer_add)
        e.export("timer.cancel", self._timer_cancel)
        e.export("vu.fault", self._on_fault)
        e.export("vu.settled", self._on_settled)
        e.export("vu.sleep", self._sleep)
        e.export("vu.seed", lambda seed: None)
        e.export("open", self._open)
        e.export("check", self._check)
        e.export("group.enter", self._groups.append)
        e.export("group.leave", lambda: self._groups.pop() if self._groups else None)
        e.export("test.fail", self._test_fail)
        e.export("test.abort", self._test_abort)

    # -- life cycle -------------------------------------------------------------
    def init(self) -> dict[str, Any]:
        """Run the script's init code; returns its exported options (as JSON data).

        Raises ScriptError for syntax errors and exceptions in init code.
        """
        source, filename = _runtime_source()
        self.engine.eval(source, filename)
        self.engine.eval(
            "globalThis.__ENV = dukpy.env; globalThis.__VU = dukpy.vu; globalThis.__ITER = 0;",
            env=self.test.env,
            vu=self.id,
        )
        main = self.modules.main_id
        if self.modules.format_of(main) == "esm":
            self.engine.eval_module(
                f"import * as m from {json.dumps(main)}; globalThis.__k6host.main = m;", "<k6host>"
            )
        else:
            self.engine.eval(f"__k6host.main = __k6host.makeRequire('')({json.dumps(main)}); undefined")
        self._in_init = False
        return self.engine.eval("__k6host.exportedOptions()") or {}

    def has_function(self, name: str) -> bool:
        return bool(self.engine.eval("typeof (__k6host.main || {})[dukpy.n] === 'function'", n=name))

    def run(self, function: str, iteration: int, deadline: float | None = None) -> str | None:
        """Run one iteration of exported ``function``; its error text or None."""
        self._settled, self._fault = False, None
        try:
            done = self.engine.eval(
                "__k6host.iterate(__k6host.main[dukpy.f], dukpy.i, __k6host.setupData)",
                f=function,
                i=iteration,
            )
        except ScriptError as exc:  # an unhandled rejection surfaced at once
            self._fault = exc.text
            done = False
        if done:
            self._settled = None
        while self._fault is None:
            if self._settled is not False and not self.loop.busy:
                break
            if self._settled is False and not self.loop.busy:
                break  # nothing left that could settle it: k6 ends it too
            if self.test.stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                self._abandon()
                raise IterationAborted()
            self.loop.run_once(_POLL)
            if self.loop.events:
                self._dispatch()
        if self._fault is not None:
            self._abandon()
            return self._fault
        return self._settled if isinstance(self._settled, str) else None

    def _dispatch(self) -> None:
        # Connections hold this very list, so empty it rather than replace it.
        events = self.loop.events[:]
        self.loop.events.clear()
        try:
            self.engine.eval("__k6host.dispatch(dukpy.e)", e=events)
        except ScriptError as exc:  # an unhandled promise rejection
            if self._fault is None:
                self._fault = "Uncaught (in promise) " + exc.text

    def _abandon(self) -> None:
        """Drop what the failed iteration left: sockets, timers, events."""
        self.tcp.close_all()
        self.loop.clear()
        self._timers.clear()
        try:
            self.engine.eval("__k6host.reset()")
        except ScriptError:
            pass

    def close(self) -> None:
        self.tcp.close_all()
        self.loop.close()

    # -- host functions ---------------------------------------------------------
    def _console(self, level: str, message: str) -> None:
        self.test.log(level, message, source="console")

    def _timer_add(self, timer_id: int, ms: float, repeat: bool) -> None:
        delay = ms / 1000.0
        events = self.loop

        def fire() -> None:
            events.events.append(["T", timer_id])
            if repeat:
                self._timers[timer_id] = self.loop.call_later(max(delay, 0.001), fire)
            else:
                self._timers.pop(timer_id, None)

        self._timers[timer_id] = self.loop.call_later(delay, fire)

    def _timer_cancel(self, timer_id: int) -> None:
        timer = self._timers.pop(timer_id, None)
        if timer is not None:
            self.loop.cancel(timer)

    def _on_fault(self, text: str) -> None:
        if self._fault is None:
            self._fault = text

    def _on_settled(self, error: str | None) -> None:
        self._settled = error

    def _sleep(self, seconds: float) -> None:
        if self.test.stop.wait(seconds):
            raise IterationAborted()

    def _open(self, base: str, path: str, mode: str | None) -> str:
        if not self._in_init:
            raise ValueError("open() can be called only in the init context (outside the default function)")
        if not isinstance(path, str) or not path:
            raise ValueError("open() needs a file path")
        full = os.path.join(self.modules.directory_of(base), os.path.expanduser(path))
        if mode not in (None, "b", "r", ""):
            raise ValueError(f"open(): unknown mode {mode!r}; use \"b\" for binary")
        try:
            with open(full, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ValueError(f"open({path!r}): {exc.strerror or exc}: {full}") from None
        if mode == "b":
            return data.decode("latin-1")
        return data.decode("utf-8", "replace")

    def _check(self, name: str, ok: bool, tags: dict[str, str]) -> None:
        sample_tags = {**self.test.tags, **tags, "check": name, "group": self.group_path}
        self.test.metrics.add("checks", 1.0 if ok else 0.0, sample_tags)

    @property
    def group_path(self) -> str:
        return "::" + "::".join(self._groups) if self._groups else ""

    def _test_fail(self, reason: str) -> None:
        self.test.failed = True
        self.test.log("error", f"test marked as failed: {reason}")

    def _test_abort(self, reason: str) -> None:
        self.test.abort_reason = reason
        self.test.stop.set()
