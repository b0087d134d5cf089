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
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, Callable

from k6host.engine.interpreter import Engine, HostError, Json, ScriptError
from k6host.engine.loader import ModuleMap, jsmodules_dir
from k6host.modules.api import Instance, ModuleVU
from k6host.report.log import stack_for_log
from k6host.run.state import TestState
from k6host.vu.hub import Hub
from k6host.vu.loop import EventLoop

# How long one wait in the loop may last before the VU looks at its stop flags.
_POLL = 0.25
def _not_json(value: Any) -> Any:
    raise TypeError(f"a module emitted a {type(value).__name__}, which is not a JSON value")


# Events cross as JSON made by the C encoder directly: json.dumps builds a
# new encoder at every call, a tenth of an event's cost.
_EVENTS_ENCODER = c_make_encoder(None, _not_json, encode_basestring_ascii, None, ":", ",", False, False, True)


def _encode_events(events: list[list[Any]]) -> str:
    return "".join(_EVENTS_ENCODER(events, 0))
# Bytes that go to JavaScript as arguments of one dispatch, at most (Engine.call's limit).
_MAX_BLOBS = 14


@dataclass
class IterationContext:
    """What k6/execution tells a script about the iteration it is in."""

    scenario: str = "default"
    executor: str = "per-vu-iterations"
    scenario_start: float = 0.0  # unix ms
    iteration_in_scenario: int = 0
    iteration_in_test: int = 0
    scenario_iteration_in_instance: int = 0  # differs from iteration_in_test with an execution segment
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


class VUState:
    """Who a VU is and where it is: what k6's core modules (k6, k6/execution)
    read and change through ModuleVU.state, and the tags its samples get."""

    def __init__(self, test: TestState, vu_id: int):
        self.test = test
        self.id = vu_id
        self.context = IterationContext()
        self.iteration_in_instance = 0
        self.tags: dict[str, str] = {}  # exec.vu.tags
        self.groups: list[tuple[str, float]] = []  # (name, perf_counter at entry), innermost last
        self.sample_tags: dict[str, str] = {}
        self.retag()

    def retag(self) -> None:
        names = ([self.context.lifecycle] if self.context.lifecycle else []) + [name for name, _ in self.groups]
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


class VUMetrics:
    """Adds the VU's own tags (scenario, group, exec.vu.tags) under each sample's,
    and hands samples to the run's Metrics in batches: when a batch fills up,
    at the end of an iteration once PERIOD has passed since the last batch
    (a batch per short iteration kept the main thread busy taking them in),
    and at the end of each job the VU runs."""

    BATCH = 256
    PERIOD = 0.02

    def __init__(self, vu: VU):
        self._vu = vu
        self._batch: list[tuple[str, float, dict[str, str], float]] = []
        self._sent = 0.0  # time.monotonic() of the last batch

    def add(self, name: str, value: float, tags: dict[str, str]) -> None:
        # The VU's tags are shared, not copied, when a sample adds none:
        # retag() replaces that dict, never changes it.
        base = self._vu.state.sample_tags
        self._batch.append((name, value, {**base, **tags} if tags else base, time.time()))
        if len(self._batch) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self._sent = time.monotonic()
            self._vu.test.metrics.submit(batch)

    def flush_soon(self) -> None:
        """Flush if PERIOD has passed since the last batch."""
        if self._batch and time.monotonic() - self._sent >= self.PERIOD:
            self.flush()


class VU:
    """One interpreter and event loop running the script. It knows no module
    by name: modules join through the module API (modules/api.py), each with
    an instance made when the script first imports it."""

    def __init__(self, test: TestState, vu_id: int, hub: Hub | None = None):
        """``hub``: the VU runs as one of its greenlets, and waits through it;
        without, it blocks its thread (the REPL)."""
        self.test = test
        self.id = vu_id
        self.hub = hub
        self.loop = EventLoop(hub)
        self.modules = ModuleMap(test.script, test.modules, self._activate)
        self.engine = Engine(self.modules)
        self.modules.attach(self.engine)
        self.engine.on_interrupt_check(self._interrupt_check)
        if hub is not None:
            self.loop.call_blocking = lambda fn: hub.call_blocking(fn, self._should_stop)
        self.state = VUState(test, vu_id)
        self.metrics = VUMetrics(self)
        self.instances: dict[str, Instance] = {}
        self._deadline: Callable[[], float | None] = lambda: None
        self._stop = test.stop
        self.in_init = True
        self.interactive = False
        self._settled: bool = False
        self._result: tuple[str | None, str | None] = (None, None)  # (error text, value JSON)
        self._fault: str | None = None
        self._interrupted = False
        self._running = False  # in run()
        e = self.engine
        e.export("vu.fault", self.fault)
        e.export("vu.settled", self._on_settled)
        self._scenario_sent: IterationContext | None = None
        self._exported: dict[str, Any] = {}  # the script's exported functions, held by the engine

    # -- modules ------------------------------------------------------------------
    def _activate(self, name: str) -> None:
        """The script imports module ``name``: make its instance for this VU."""
        if name in self.instances:
            return
        root = self.test.modules.get(name)
        assert root is not None, name
        instance = root.instance(ModuleVU(self, name))
        self.instances[name] = instance
        for function, call in instance.functions().items():
            self.engine.export(f"{name}:{function}", call, passes=(IterationAborted,))

    def _each_instance(self, hook: str) -> None:
        """Call every instance's abandon() or close(): a module's mistake is
        logged with its name, and the others still get theirs."""
        for name, instance in self.instances.items():
            try:
                getattr(instance, hook)()
            except Exception as exc:
                self.test.log("error", f"module {name!r}: {hook}() failed: {type(exc).__name__}: {exc}")

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
        self.in_init = False
        return self.engine.eval("__k6host.exportedOptions()") or {}


    def init_runtime(self) -> None:
        """The globals and module system, before any script."""
        source, filename = _runtime_source()
        self.engine.eval(source, filename)
        self.engine.eval(
            "globalThis.__ENV = dukpy.env; globalThis.__VU = dukpy.vu; globalThis.__ITER = 0;"
            "__k6host.baseEnv = Object.assign({}, dukpy.env);"
            "if (dukpy.alias) globalThis.global = globalThis;"
            # Last: loading a module evaluates code, which replaces `dukpy`.
            "for (const [name, globals, importable] of dukpy.g) __k6host.installGlobals(name, globals, importable);"
            "undefined",
            env=self.test.env,
            vu=self.id,
            g=[[root.name, list(root.globals), root.importable] for root in self.test.modules.with_globals()],
            alias=self.test.compatibility_mode != "base",  # k6's "base" mode has no `global`
        )
        # What the host calls directly (Engine.call) from now on.
        self._iterate = self.engine.function("iterate")
        self._dispatch = self.engine.function("dispatch")

    # -- the REPL -------------------------------------------------------------------
    def begin_interactive(self) -> None:
        """At a prompt, init-only things (open(), new metrics) stay allowed."""
        self.interactive = True
        self.in_init = False

    def pump(self, wait: float) -> None:
        """One turn of the event loop outside any iteration (the REPL's idle time)."""
        self.loop.run_once(wait)
        if self.loop.events:
            try:
                self._deliver()
            except ScriptError as exc:
                self.fault(exc.text)
            rejection = self.engine.take_rejection()
            if rejection is not None:
                self.fault("Uncaught (in promise) " + rejection)
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
        self.state.groups.clear()
        engine = self.engine
        self._running = True
        try:
            context = self.state.context
            if context is not self._scenario_sent:
                engine.call(engine.function("setScenario"), Json(json.dumps(self._scenario_facts())))
                self._scenario_sent = context
            exported = self._exported.get(function)
            if exported is None:
                exported = self._exported[function] = engine.function("main", function)  # HostError if not there
            done = engine.call(
                self._iterate,
                exported,
                want_value,
                self.state.iteration_in_instance,
                context.iteration_in_scenario,
                context.iteration_in_test,
                context.scenario_iteration_in_instance,
            )
            if done:  # else it settles through vu.settled, maybe already
                self._settled = True
            self._drive()
        except ScriptError as exc:  # interrupted JavaScript, or an error out of the engine
            self._interrupted = self._interrupted or engine.interrupted
            if self._fault is None:
                self._fault = "Uncaught (in promise) " + exc.text
        except HostError:
            self._fault = f"TypeError: {function} is not a function (the script does not export it)"
        finally:
            self._running = False
        engine.collect_garbage()  # samples: whoever runs the VU hands them over (executors, setup/teardown)
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

    def _drive(self) -> None:
        """Deliver the iteration's events until it is over.

        Events are macrotasks: each batch goes in only once the promise jobs
        of the last have all run (Engine.call runs them before it returns),
        and the VU waits on its loop only when no event is queued.
        """
        loop, engine = self.loop, self.engine
        while True:
            if engine.has_unhandled_rejection():
                rejection = engine.take_rejection()
                if rejection is not None and self._fault is None:
                    self._fault = "Uncaught (in promise) " + rejection
            if self._fault is not None or self._interrupted:
                return
            if self._settled and self._result[0] is not None:
                return  # it failed (test.abort() too): done, even if the test is stopping
            if self._should_stop():
                self._interrupted = True
                return
            if loop.events:
                self._deliver()
                continue
            if not loop.busy:
                return  # settled, or nothing is left that could settle it (k6 ends it too)
            loop.run_once(self._wait_limit())

    def _interrupt_check(self) -> bool:
        """Asked by the engine every few thousand operations: a long run of
        JavaScript lets other VUs have their turn, and stops when it must
        (in init code and iterations; never between them, where the host
        sets things up with stop flags left from the last run)."""
        if self.hub is not None:
            self.hub.share()
        return (self.in_init or self._running) and self._should_stop()

    def _should_stop(self) -> bool:
        deadline = self._deadline()
        return self._stop.is_set() or (deadline is not None and time.monotonic() >= deadline)

    def _wait_limit(self) -> float:
        deadline = self._deadline()
        if deadline is None:
            return _POLL
        return max(0.0, min(_POLL, deadline - time.monotonic()))

    def _scenario_facts(self) -> dict[str, Any]:
        """What k6/execution tells of the scenario; the iteration's counters go with each call."""
        c = self.state.context
        return {
            "scenario": c.scenario,
            "executor": c.executor,
            "startTime": c.scenario_start,
            "idInTest": self.state.test.segment.global_index(self.state.id - 1) + 1 if self.state.id > 0 else 0,
        }

    def _deliver(self) -> None:
        """Hand the queued events to JavaScript in one call: the events as
        JSON, each event's bytes (its last item) as a Uint8Array argument,
        put in ``__k6host.inbox`` at the slot the event carries instead."""
        events = self.loop.events[:]
        self.loop.events.clear()  # connections hold this very list
        blobs: list[bytes] = []
        for event in events:
            if type(event[-1]) is bytes:
                blobs.append(event[-1])
                event[-1] = len(blobs) - 1
        if len(blobs) >= _MAX_BLOBS:  # too many for arguments: through the inbox
            try:
                self.engine.put_bytes(blobs)
            except HostError as exc:  # the engine's heap is full: the iteration fails
                self.fault(f"{exc.js_name}: {exc}")
            blobs = []
        try:
            self.engine.call(self._dispatch, Json(_encode_events(events)), *blobs)
        except HostError as exc:
            self.fault(f"{exc.js_name}: {exc}")

    def _abandon(self) -> None:
        """Drop what the failed iteration left: sockets, timers, events, and
        its rejections no handler took (the next iteration's otherwise)."""
        self._each_instance("abandon")
        self.loop.clear()
        self.engine.take_rejection()
        try:
            self.engine.call(self.engine.function("reset"))
        except ScriptError:
            pass

    def close(self) -> None:
        self._each_instance("close")
        self.metrics.flush()
        self.loop.close()
        self.engine.close()

    # -- where the VU is ------------------------------------------------------------
    def enter_scenario(self, context: IterationContext) -> None:
        if context.env or self.state.context.env:
            # A scenario's env adds to __ENV while the VU runs that scenario.
            self.engine.eval("globalThis.__ENV = Object.assign({}, __k6host.baseEnv, dukpy.env)", env=context.env)
        self.state.context = context
        self.state.retag()

    def enter_lifecycle(self, name: str) -> None:
        """setup() and teardown() run outside any scenario, in a group of their name."""
        self.state.context = IterationContext(scenario="", executor="", lifecycle=name)
        self.state.retag()

    # -- what the runtime and modules call ---------------------------------------
    def fault(self, text: str) -> None:
        """A listener or callback threw: the iteration fails with ``text``."""
        if self._fault is None:
            self._fault = text

    def _on_settled(self, error: str | None, value: str | None = None) -> None:
        self._settled = True
        self._result = (error, value)

    def wait_io(self, fileobj: Any, mask: int, until: float | None) -> bool:
        """Run the loop (other VUs run meanwhile) until ``fileobj`` is ready for
        ``mask``; False when ``until`` passes. IterationAborted when the VU must stop."""
        ready: list[int] = []
        self.loop.watch(fileobj, mask, ready.append)
        try:
            while not ready:
                if self._should_stop():
                    self._interrupted = True
                    raise IterationAborted("the test is stopping")
                left = None if until is None else until - time.monotonic()
                if left is not None and left <= 0:
                    return False
                limit = self._wait_limit()
                self.loop.run_once(limit if left is None else min(limit, left))
            return True
        finally:
            self.loop.unwatch(fileobj)

    def sleep(self, seconds: float) -> None:
        with self.engine.resting():
            self._sleep(seconds)

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
                self.hub.wait(step, self._stop)
            else:
                self._stop.wait(step)

