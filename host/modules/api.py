"""The module API: one way for every k6 module to join k6host, built-in or not.

A module is a subclass of :class:`Module` with

- ``name``: what scripts import (``"k6/x/redis"``);
- ``javascript``: the path of its JavaScript face, a CommonJS file run once
  per VU. Besides ``exports``, ``require`` and ``module`` it receives
  ``native``, its own door to Python (see ``host.native`` in runtime.js):
  ``native.call(fn, ...args)`` calls the instance's function ``fn`` (JSON
  values in and out), ``native.on(handler)`` receives the events the instance
  emits, ``native.callWithBytes`` / ``native.takeReturned`` move bytes;
- ``exports``: the names an ES ``import { X }`` may take (declared, never
  guessed from the source); ``globals``: exports that every VU also gets as
  globals (console, timers; a global claimed twice is a conflict);
- ``metrics``: the metrics it records, declared when the test starts:
  ``{"name": "counter"}``, or ``{"name": ("trend", "time")}`` with k6's
  value types (default, time, data).

Life cycle, split by lifetime as k6's own modules are:

- one ``Module`` object per test, the root: test-wide state;
  :meth:`Module.configure` gets the run's options once they are known (the
  first VU has run its init code by then: read configuration when it is
  used, not when an instance is made);
- one :class:`Instance` per VU, made by :meth:`Module.instance` when the
  VU's script first imports the module. Its :meth:`Instance.functions` are
  what ``native.call`` reaches; :meth:`Instance.abandon` drops what an
  interrupted or failed iteration left; :meth:`Instance.close` runs when the
  VU ends.

An instance sees its VU only through :class:`ModuleVU`. A Python exception
from an instance's function reaches the script as a thrown error: a
:class:`HostError` (or subclass) with its own name and message, anything
else as an ``Error`` naming the module. A module's events reach its handler
as ``[module name, ...what emit() was given]``.

Third-party modules are found through the entry-point group
``k6host.modules`` (name = the module's name, value = ``package.module:Class``)
or in a folder given with ``--module-path`` (see registry.py). The built-ins
register the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, TypeVar

from k6host.engine.interpreter import HostError
from k6host.net.connection import Connection
from k6host.net.netconfig import NetConfig
from k6host.run.options import OptionsError

if TYPE_CHECKING:
    from k6host.run.state import TestState
    from k6host.vu.loop import EventLoop, Timer
    from k6host.vu.vu import VU, VUState

__all__ = ["Connection", "HostError", "Instance", "Module", "ModuleLoop", "ModuleVU", "OptionsError"]

T = TypeVar("T")


class Module:
    """A module's root: one per test. Subclass it and set the class attributes."""

    name: ClassVar[str] = ""
    javascript: ClassVar[str | Path] = ""
    exports: ClassVar[tuple[str, ...]] = ()
    globals: ClassVar[tuple[str, ...]] = ()
    metrics: ClassVar[Mapping[str, str | tuple[str, str]]] = {}
    # Internal pieces of the runtime (console, open) are not importable by name.
    importable: ClassVar[bool] = True

    def __init__(self, test: TestState) -> None:
        self.test = test

    def configure(self, options: Mapping[str, Any]) -> None:
        """The run's options (k6's JSON names), once known. Raise
        ``OptionsError`` for a value this module refuses (exit 104)."""

    def instance(self, vu: ModuleVU) -> Instance:
        """The module's state in one VU."""
        return Instance(self, vu)


class Instance:
    """A module's state in one VU."""

    def __init__(self, root: Module, vu: ModuleVU) -> None:
        self.root = root
        self.vu = vu

    def functions(self) -> Mapping[str, Callable[..., Any]]:
        """What the JavaScript face can call as ``native.call(name, ...)``."""
        return {}

    def abandon(self) -> None:
        """The iteration ended with work left (it failed or was interrupted):
        drop its connections, timers and the like."""

    def close(self) -> None:
        """The VU is closing."""


class ModuleLoop:
    """The part of a VU's event loop a module may use."""

    def __init__(self, loop: EventLoop) -> None:
        self._loop = loop

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self._loop.call_later(delay, callback)

    def cancel(self, timer: Timer) -> None:
        self._loop.cancel(timer)

    def watch(self, fileobj: Any, mask: int, callback: Callable[[int], None]) -> None:
        """Call ``callback(mask)`` when ``fileobj`` is ready (selectors' EVENT_READ/WRITE)."""
        self._loop.watch(fileobj, mask, callback)

    def unwatch(self, fileobj: Any, closing: bool = False) -> None:
        """Stop watching; ``closing``: it is about to be closed (saves a system call)."""
        self._loop.unwatch(fileobj, closing)

    def idle(self, fileobj: Any, idle: bool = True) -> None:
        """A watched fd that must not keep an iteration going (as Node's unref())."""
        self._loop.idle(fileobj, idle)

    def call_blocking(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (a call that may block) on a helper thread; other VUs go on."""
        return self._loop.call_blocking(fn)


class ModuleVU:
    """What a module instance may use of its VU, and nothing more."""

    def __init__(self, vu: VU, module: str) -> None:
        self._vu = vu
        self._module = module
        self.loop = ModuleLoop(vu.loop)

    @property
    def id(self) -> int:
        return self._vu.id

    @property
    def in_init(self) -> bool:
        """Whether the script's init code is running (k6's init context)."""
        return self._vu.in_init

    @property
    def interactive(self) -> bool:
        """At the REPL, where init-only calls stay allowed after init."""
        return self._vu.interactive

    @property
    def state(self) -> VUState:
        """The VU's iteration, tags and groups: for k6's core modules (k6,
        k6/execution), which change them; an extension has no need of it."""
        return self._vu.state

    @property
    def net(self) -> NetConfig:
        """What the run's options say about reaching hosts (hosts, blocked
        names and ranges, TLS, DNS): ``resolve(host, port)``, ``tls_context(host)``."""
        return self._vu.test.net

    def connection(self, host: str, tags: Mapping[str, str], debug_id: int = 0) -> Connection:
        """A TCP/TLS connection on this VU's loop that obeys the run's options and
        records k6's tcp_* metrics with ``tags``: ``conn.open(host, port, tls,
        idle_timeout_ms)``, then its events: pyee listeners added with
        ``conn.on(event, fn)``, or one ``conn.sink = fn(event, *args)`` for
        them all (see k6host.net.connection).
        With --tcp-debug its steps are logged, as socket ``debug_id``."""
        vu, net = self._vu, self._vu.test.net
        make = Connection if net.tcp_debug is None else net.tcp_debug.connection_class(debug_id, self._who)
        return make(vu.loop, self.add_sample, dict(tags), net.resolve, lambda: net.tls_context(host))

    def _who(self) -> tuple[int, int]:
        return self._vu.id, self._vu.state.iteration_in_instance

    def emit(self, *event: Any) -> None:
        """Queue an event for this module's JavaScript handler (``native.on``).
        The items are JSON values; the last may be ``bytes``, which arrives
        as the index of a Uint8Array in ``native.inbox``."""
        self._vu.loop.events.append([self._module, *event])

    def put_bytes(self, data: bytes) -> None:
        """Hand ``data`` to the script: ``native.takeReturned()`` gives it as a Uint8Array."""
        self._vu.engine.put_bytes([data], b"returned")

    def take_bytes(self) -> bytes | None:
        """The bytes the script passed with ``native.callWithBytes`` (None if not a Uint8Array)."""
        return self._vu.engine.take_bytes()

    def add_sample(self, metric: str, value: float, tags: Mapping[str, str]) -> None:
        """Record a sample with the VU's tags under ``tags`` (a declared metric's)."""
        if not self._vu.test.metrics.has(metric):
            raise HostError(f"{self._module}: metric {metric!r} is not declared (Module.metrics declares it)")
        self._vu.metrics.add(metric, value, tags)

    def define_metric(self, name: str, kind: str, is_time: bool = False) -> None:
        """Declare a metric (kind: counter, gauge, rate, trend)."""
        self._vu.test.metrics.define(name, kind, "time" if is_time else "default")

    def log(self, level: str, message: str, **fields: Any) -> None:
        self._vu.test.log(level, message, **fields)

    def sleep(self, seconds: float) -> None:
        """Wait; other VUs run meanwhile. Ends the iteration if the test stops."""
        self._vu.sleep(seconds)

    def wait_io(self, fileobj: Any, mask: int, until: float | None) -> bool:
        """Block the script until ``fileobj`` is ready for ``mask`` (selectors'
        EVENT_READ/EVENT_WRITE), other VUs running meanwhile: for a module whose
        calls are synchronous. False when ``until`` (time.monotonic()) passes;
        ends the iteration if the test stops."""
        return self._vu.wait_io(fileobj, mask, until)

    def directory_of(self, module_id: str) -> str:
        """The folder relative paths in the script file ``module_id`` start from."""
        return self._vu.modules.directory_of(module_id)
