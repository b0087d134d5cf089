"""A virtual user: one interpreter, one event loop, the script loaded into it.

A VU is used from one thread only: the one that created it (QuickJS checks
stack depth against the thread that made the runtime). In a run that is the
hub's thread, where the VU is a greenlet (hub.py); at the REPL, a thread of
its own.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from . import encoding
from .hub import Hub
from .console import Log, stack_for_log
from .engine import Engine, HostError, ScriptError
from .groups import GroupTree
from .loop import EventLoop
from .metrics import Metrics, MetricError
from .modules import ModuleMap, jsmodules_dir
from .netconfig import NetConfig
from .openfile import read_for_open
from .shared import SharedArrays
from .tcpbinding import TcpBinding

# How long one wait in the loop may last before the VU looks at its stop flags.
_POLL = 0.25


@dataclass
class TestState:
    """What every VU of one run shares."""

    script: str
    env: dict[str, str]
    log: Log
    metrics: Metrics = field(default_factory=Metrics)
    net: NetConfig = field(default_factory=NetConfig)
    groups: GroupTree = field(default_factory=GroupTree)
    shared: SharedArrays = field(default_factory=SharedArrays)
    options: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    failed: bool = False
    errors: list[str] = field(default_factory=list)  # iterations that ended in an exception
    abort_reason: str | None = None
    # Set to end every iteration now (test.abort, a second Ctrl-C, a hard stop).
    stop: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    iterations_completed: int = 0
    iterations_interrupted: int = 0
    vus_active: int = 0
    vus_initialized: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    hub: Hub = field(default_factory=Hub)  # where the VUs of the run take turns (hub.py)

    def count(self, attribute: str, delta: int = 1) -> None:
        with self.lock:
            setattr(self, attribute, getattr(self, attribute) + delta)


@dataclass
class IterationContext:
    """What k6/execution tells a script about the iteration it is in."""

    scenario: str = "default"
    executor: str = "per-vu-iterations"
    scenario_start: float = 0.0  # unix ms
    iteration_in_scenario: int = 0
    iteration_in_test: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    progress: Any = None  # () -> float, the scenario's progress 0..1
    lifecycle: str = ""  # "setup" or "teardown" outside scenarios


class IterationAborted(Exception):
    """The iteration was interrupted: the test or its scenario is stopping."""


_RUNTIME: tuple[str, str] | None = None


def _runtime_source() -> tuple[str, str]:
    global _RUNTIME
    if _RUNTIME is None:
        path = jsmodules_dir() / "runtime.js"
        _RUNTIME = (path.read_text(encoding="utf-8"), str(path))
    return _RUNTIME


class VUMetrics:
    """Adds the VU's own tags (scenario, group, exec.vu.tags) under each sample's,
    and hands samples to the run's Metrics in batches: at the end of every
    iteration, and whenever a batch fills up."""

    BATCH = 256

    def __init__(self, vu: VU):
        self._vu = vu
        self._batch: list[tuple[str, float, dict[str, str], float]] = []

    def add(self, name: str, value: float, tags: dict[str, str]) -> None:
        self._batch.append((name, value, {**self._vu.sample_tags, **tags}, time.time()))
        if len(self._batch) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self._vu.test.metrics.submit(batch)


class VU:
    def __init__(self, test: TestState, vu_id: int, hub: Hub | None = None):
        """``hub``: the VU runs as one of its greenlets, and waits through it;
        without, it blocks its thread (the REPL)."""
        self.test = test
        self.id = vu_id
        self.hub = hub
        self.loop = EventLoop()
        self.modules = ModuleMap(test.script)
        self.engine = Engine(self.modules)
        self.modules.attach(self.engine)
        self.engine.on_interrupt_check(self._interrupt_check)
        if hub is not None:
            self.loop.park = hub.wait
            self.loop.call_blocking = lambda fn: hub.call_blocking(fn, self._should_stop)
        self.metrics = VUMetrics(self)
        self.tcp = TcpBinding(self.engine, self.loop, self.metrics, test.net)
        self.context = IterationContext()
        self.iteration_in_instance = 0
        self._deadline: Callable[[], float | None] = lambda: None
        self._stop = test.stop
        self.tags: dict[str, str] = {}  # exec.vu.tags
        self.sample_tags: dict[str, str] = {}
        self._timers: dict[int, Any] = {}
        self._in_init = True
        self._interactive = False
        self._settled: bool = False
        self._result: tuple[str | None, str | None] = (None, None)  # (error text, value JSON)
        self._fault: str | None = None
        self._interrupted = False
        self._groups: list[tuple[str, float]] = []
        self.retag()
        e = self.engine
        e.export("console", self._console)
        e.export("timer.add", self._timer_add)
        e.export("timer.cancel", self._timer_cancel)
        e.export("vu.fault", self._on_fault)
        e.export("vu.settled", self._on_settled)
        e.export("vu.wait", self._wait)
        e.export("vu.sleep", self._sleep)
        e.export("vu.tag", self._set_tag)
        e.export("exec.state", self._exec_state)
        e.export("open", self._open)
        e.export("check", self._check)
        e.export("group.enter", self._group_enter)
        e.export("group.leave", self._group_leave)
        e.export("metric.define", self._metric_define)
        e.export("metric.add", self._metric_add)
        e.export("shared.length", self._shared_length)
        e.export("shared.store", self._shared_store)
        e.export("shared.item", test.shared.item)
        e.export("encoding.b64encode", self._b64encode)
        e.export("encoding.b64decode", self._b64decode)
        e.export("exec.options", lambda: self.test.options)
        e.export("test.fail", self._test_fail)
        e.export("test.abort", self._test_abort)

    # -- life cycle -------------------------------------------------------------
    def init(self) -> dict[str, Any]:
        """Run the script's init code; returns its exported options (as JSON data).

        Raises ScriptError for syntax errors and exceptions in init code.
        """
        self.init_runtime()
        main = self.modules.main_id
        if self.modules.format_of(main) == "esm":
            self.engine.eval_module(
                f"import * as m from {json.dumps(main)}; globalThis.__k6host.main = m;", "<k6host>"
            )
        else:
            self.engine.eval(f"__k6host.main = __k6host.makeRequire('')({json.dumps(main)}); undefined")
        self._in_init = False
        return self.engine.eval("__k6host.exportedOptions()") or {}

    def init_runtime(self) -> None:
        """The globals and module system, before any script."""
        source, filename = _runtime_source()
        self.engine.eval(source, filename)
        self.engine.eval(
            "globalThis.__ENV = dukpy.env; globalThis.__VU = dukpy.vu; globalThis.__ITER = 0;"
            "__k6host.baseEnv = Object.assign({}, dukpy.env);",
            env=self.test.env,
            vu=self.id,
        )

    # -- the REPL -------------------------------------------------------------------
    def begin_interactive(self) -> None:
        """At a prompt, init-only things (open(), new metrics) stay allowed."""
        self._interactive = True
        self._in_init = False

    def pump(self, wait: float) -> None:
        """One turn of the event loop outside any iteration (the REPL's idle time)."""
        self.loop.run_once(wait)
        if self.loop.events:
            self._dispatch()
        self.metrics.flush()
        if self._fault is not None:
            self.test.log("error", stack_for_log(self._fault))
            self._fault = None

    def exported_functions(self) -> list[str]:
        return self.engine.eval(
            "Object.keys(__k6host.main || {}).filter((k) => typeof __k6host.main[k] === 'function')"
        )

    def set_setup_data(self, data_json: str | None) -> None:
        """Give this VU its own copy of setup()'s result, as k6 does."""
        # "; undefined": the eval's value comes back as JSON, at any depth.
        self.engine.eval("__k6host.setupData = dukpy.d === null ? undefined : JSON.parse(dukpy.d); undefined", d=data_json)

    def run(
        self,
        function: str,
        iteration: int,
        deadline: Callable[[], float | None] = lambda: None,
        want_value: bool = False,
        stop: threading.Event | None = None,
    ) -> tuple[str | None, str | None]:
        """Run exported ``function`` once: (error text or None, result as JSON).

        ``deadline`` is asked at every wake-up (a ramp-down may bring it
        closer while the iteration runs). Raises IterationAborted when it
        passes or ``stop`` (the test's stop flag by default) is set.
        """
        self._settled, self._result, self._fault, self._interrupted = False, (None, None), None, False
        self._deadline = deadline
        self._stop = stop if stop is not None else self.test.stop
        self._groups.clear()
        try:
            # Returns when the iteration is over: its events are delivered
            # inside this one eval (see _wait and host.drive in runtime.js).
            self.engine.eval(
                "__k6host.iterate(__k6host.main[dukpy.f], dukpy.i, __k6host.setupData, dukpy.v, dukpy.c)",
                f=function,
                i=iteration,
                v=want_value,
                c=self._context_data(),
            )
        except ScriptError as exc:  # an unhandled rejection, or interrupted JavaScript
            if self._fault is None:
                self._fault = "Uncaught (in promise) " + exc.text
        self.metrics.flush()
        if self.hub is not None:
            self.hub.share()
        # A stop also aborts running JavaScript (see Engine.on_interrupt_check),
        # which surfaces as an error: it is an interruption all the same.
        if self._interrupted or (self._fault is not None and self._should_stop()):
            self._abandon()
            raise IterationAborted()
        if self._fault is not None:
            self._abandon()
            return self._fault, None
        if self.loop.busy:  # it failed, or ended, with sockets or timers still there
            self._abandon()
        return self._result

    def _wait(self) -> list[Any] | None:
        """The iteration's next events, or None when it is over.

        Called from JavaScript (host.drive). While other promise jobs are
        pending it returns nothing, so they run first; it delivers events,
        or blocks on the selector, only when the job queue is empty.
        """
        loop = self.loop
        while True:
            if self._fault is not None or self._interrupted:
                return None
            if self._settled and self._result[0] is not None:
                return None  # it failed (test.abort() too): done, even if the test is stopping
            if self._should_stop():
                self._interrupted = True
                return None
            if self.engine.jobs_pending():
                # Events are macrotasks: none may come between promise jobs
                # (a listener could run before the code awaiting it is ready).
                return []
            if loop.events:
                return self._take_events()
            if self._settled and not loop.busy:
                return None
            if not loop.busy or self.engine.has_unhandled_rejection():
                # Nothing is left that could settle it (k6 ends it too), or a
                # rejection nobody handled: ending the eval lets dukpy raise it.
                return None
            loop.run_once(self._wait_limit())

    def _interrupt_check(self) -> bool:
        """Asked by the engine every few thousand operations: a long run of
        JavaScript lets other VUs have their turn, and stops when it must."""
        if self.hub is not None:
            self.hub.share()
        return self._should_stop()

    def _should_stop(self) -> bool:
        deadline = self._deadline()
        return self._stop.is_set() or (deadline is not None and time.monotonic() >= deadline)

    def _wait_limit(self) -> float:
        deadline = self._deadline()
        if deadline is None:
            return _POLL
        return max(0.0, min(_POLL, deadline - time.monotonic()))

    def _context_data(self) -> dict[str, Any]:
        c = self.context
        return {
            "scenario": c.scenario,
            "executor": c.executor,
            "startTime": c.scenario_start,
            "iterationInScenario": c.iteration_in_scenario,
            "iterationInTest": c.iteration_in_test,
            "iterationInInstance": self.iteration_in_instance,
            "iter": self.iteration_in_instance,
        }

    def _take_events(self) -> list[list[Any]]:
        """The queued events, ready to cross into JavaScript. An event's bytes
        (its last item) go into ``__k6host.inbox``; the event carries the slot."""
        events = self.loop.events[:]
        self.loop.events.clear()  # connections hold this very list
        blobs: list[bytes] = []
        for event in events:
            if type(event[-1]) is bytes:
                blobs.append(event[-1])
                event[-1] = len(blobs) - 1
        if blobs:
            try:
                self.engine.put_bytes(blobs)
            except HostError as exc:  # the engine's heap is full: the iteration fails
                self._on_fault(f"{exc.js_name}: {exc}")
        return events

    def _dispatch(self) -> None:
        events = self._take_events()
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
        self.metrics.flush()
        self.loop.close()
        self.engine.close()

    # -- tags -------------------------------------------------------------------
    def enter_scenario(self, context: IterationContext) -> None:
        if context.env or self.context.env:
            # A scenario's env adds to __ENV while the VU runs that scenario.
            self.engine.eval("globalThis.__ENV = Object.assign({}, __k6host.baseEnv, dukpy.env)", env=context.env)
        self.context = context
        self.retag()

    def enter_lifecycle(self, name: str) -> None:
        """setup() and teardown() run outside any scenario, in a group of their name."""
        self.context = IterationContext(scenario="", executor="", lifecycle=name)
        self.retag()

    def retag(self) -> None:
        names = ([self.context.lifecycle] if self.context.lifecycle else []) + [name for name, _ in self._groups]
        tags = {**self.test.tags, **self.context.tags}
        if self.context.scenario:
            tags["scenario"] = self.context.scenario
        # exec.vu.tags may even replace the scenario tag, as in k6; not the group.
        tags.update(self.tags)
        tags["group"] = "::" + "::".join(names) if names else ""
        self.sample_tags = tags

    @property
    def group_path(self) -> str:
        return self.sample_tags["group"]

    def _set_tag(self, key: str, value: str | None) -> None:
        if value is None:
            self.tags.pop(key, None)
        else:
            self.tags[key] = value
        self.retag()

    # -- host functions ---------------------------------------------------------
    def _console(self, level: str, message: str) -> None:
        self.test.log(level, message, source="console")

    def _timer_add(self, timer_id: int, ms: float, repeat: bool) -> None:
        delay = ms / 1000.0

        def fire() -> None:
            self.loop.events.append(["T", timer_id])
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

    def _on_settled(self, error: str | None, value: str | None = None) -> None:
        self._settled = True
        self._result = (error, value)

    def _sleep(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while True:
            if self._should_stop():
                # The script cannot catch this meaningfully: the iteration ends.
                self._interrupted = True
                raise IterationAborted("the test is stopping")
            left = until - time.monotonic()
            if left <= 0:
                return
            # In steps: a ramp-down may bring the deadline closer meanwhile.
            step = min(left, self._wait_limit())
            if self.hub is not None:
                self.hub.wait(None, step, self._stop)
            else:
                self._stop.wait(step)

    def _exec_state(self) -> dict[str, Any]:
        test = self.test
        progress = self.context.progress
        return {
            "progress": progress() if progress else 0.0,
            "iterationsCompleted": test.iterations_completed,
            "iterationsInterrupted": test.iterations_interrupted,
            "vusActive": test.vus_active,
            "vusInitialized": test.vus_initialized,
            "currentTestRunDuration": (time.monotonic() - test.started) * 1000.0,
            "tags": dict(self.sample_tags),
        }

    def _open(self, base: str, path: str, mode: str | None) -> str | None:
        data = read_for_open(self.modules.directory_of(base), path, mode, self._in_init or self._interactive)
        if mode == "b":
            self.engine.put_bytes([data], b"returned")
            return None
        return data.decode("utf-8", "replace")

    def _b64encode(self, text: str | None, variant: str) -> str:
        """``text`` is encoded as UTF-8; None: the bytes are on the script's side."""
        data = self.engine.take_bytes() if text is None else encoding.to_bytes(text, "utf8")
        if data is None:
            raise HostError("b64encode: the bytes to encode were not readable")
        return encoding.b64encode(data, variant)

    def _b64decode(self, text: str, variant: str, as_string: bool) -> str | None:
        """The decoded text; or the bytes, left for the script (host.takeReturned)."""
        data = encoding.b64decode(text, variant)
        if as_string:
            return data.decode("utf-8", "replace")
        self.engine.put_bytes([data], b"returned")
        return None

    def _check(self, name: str, ok: bool, tags: dict[str, str]) -> None:
        self.test.groups.check(self.group_path, name, ok)
        self.metrics.add("checks", 1.0 if ok else 0.0, {**tags, "check": name})

    def _group_enter(self, name: str) -> None:
        self._groups.append((name, time.perf_counter()))
        self.retag()
        self.test.groups.group(self.group_path)

    def _group_leave(self) -> None:
        if not self._groups:
            return
        _, started = self._groups[-1]
        self.metrics.add("group_duration", (time.perf_counter() - started) * 1000.0, {})
        self._groups.pop()
        self.retag()

    def _metric_define(self, name: str, kind: str, is_time: bool) -> None:
        if not (self._in_init or self._interactive):
            raise MetricError("metrics must be declared in the init context")
        self.test.metrics.define(name, kind, "time" if is_time else "default")

    def _metric_add(self, name: str, value: float | str, tags: dict[str, str]) -> None:
        if self._in_init:
            raise MetricError("Adding to metrics in the init context is not supported")
        self.metrics.add(name, float(value), tags)

    def _shared_length(self, name: str) -> int | None:
        if not (self._in_init or self._interactive):
            raise HostError("new SharedArray must be called in the init context")
        return self.test.shared.length(name)

    def _shared_store(self, name: str, data_json: str) -> int:
        return self.test.shared.store(name, data_json)

    def _test_fail(self, reason: str) -> None:
        self.test.failed = True
        self.test.log("error", f"test marked as failed: {reason}")

    def _test_abort(self, reason: str, where: str) -> None:
        if self.test.abort_reason is None:
            self.test.log("error", f"test aborted: {reason} {where}".rstrip())
        self.test.abort_reason = reason
        self.test.stop.set()
