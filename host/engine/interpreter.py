"""The JavaScript engine: the only module that touches dukpy.

Everything else in the host speaks to :class:`Engine`, so a second engine could
be added behind the same few methods.  dukpy 0.6 embeds QuickJS-NG; every
``evaljs`` runs a full garbage collection on entry and exit, which is why the
host batches its entries (see DESIGN.md).
"""

from __future__ import annotations

import ctypes
import re
import time
from typing import Any, Callable, Protocol

import dukpy
from dukpy import _dukpy
from dukpy.evaljs import JSInterpreter

from k6host.engine.nudge import Nudge

try:  # the error class lives in the C extension
    from _dukpy import JSRuntimeError
except ImportError:  # pragma: no cover - layout of other dukpy builds
    JSRuntimeError = dukpy.JSRuntimeError  # type: ignore[attr-defined]


class ScriptError(Exception):
    """A JavaScript exception that reached the host.

    ``text`` is what JavaScript would print for it: ``Name: message`` followed
    by the stack lines QuickJS captured (with file:line:column).
    """

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text.rstrip("\n")

    @property
    def headline(self) -> str:
        return self.text.split("\n", 1)[0]

    @property
    def is_syntax_error(self) -> bool:
        return self.headline.startswith("SyntaxError")


class HostError(Exception):
    """An error a host function raises for the script to see as a JavaScript
    exception: ``js_name`` is its name there (k6 calls errors from its Go
    side GoError), the message is the script author's to read."""

    js_name = "GoError"


def _error_parts(exc: HostError | ScriptError) -> tuple[str, str]:
    """(name, message) of the JavaScript error that stands for ``exc``."""
    if isinstance(exc, HostError):
        return exc.js_name, str(exc)
    name, sep, message = exc.text.partition(": ")
    if not sep or not name.isidentifier():
        return "Error", exc.text
    return name, message


_LOAD_FAILED = re.compile(r"InternalError: Failed to load module '([^']*)'")

# The key of the marker a host function returns instead of raising; runtime.js
# turns it into a thrown JavaScript error (a Python exception would reach
# JavaScript as an InternalError that names the Python function).
ERROR_KEY = "\u0000k6host_error"


class ModuleSource(Protocol):
    """What the engine asks when a script imports or requires something."""

    def resolve(self, base: str, name: str) -> str: ...

    def esm_source(self, module_id: str) -> str | None: ...


class _Loader:
    """Adapter for the hook the native ES module loader calls (``load``)."""

    def __init__(self, modules: ModuleSource):
        self._modules = modules
        self.failures: dict[str, str] = {}  # module id -> why it could not be loaded

    def load(self, module_id: str):
        try:
            source = self._modules.esm_source(module_id)
        except (ScriptError, HostError) as exc:
            # dukpy says only "Failed to load module 'ID'": keep the reason
            # for the engine to put in its place (see Engine._call).
            self.failures[module_id] = "%s: %s" % _error_parts(exc)
            raise
        if source is None:
            return None, None, None
        return module_id, source, "module"


class _Interpreter(JSInterpreter):
    """A JSInterpreter whose module resolution is the host's, not dukpy's."""

    def __init__(self, modules: ModuleSource):
        self._host_loader = _Loader(modules)
        self._modules = modules
        super().__init__()

    @property
    def loader(self):  # the native module loader reads this attribute
        return self._host_loader

    def _normalize_module(self, base_name, module_name):
        return self._modules.resolve(base_name, module_name)

    def _init_console(self):
        """Skip dukpy's console: the host installs k6's own."""

    def _init_require(self):
        """Skip dukpy's CommonJS runtime: the host installs its own."""

    def _init_process(self):
        """k6 scripts have no ``process``; leave the global undefined."""


_WRAPPER_PREFIX = "(function (exports, require, module, __filename, __dirname, open) {"


# QuickJS asks its interrupt handler, every few thousand operations, whether to
# abort the running code. dukpy's handler only looks at signals, which Python
# handles on the main thread alone, so a VU in a busy loop could never be
# stopped, and kept every other VU from running. The host installs its own
# handler (QuickJS exports JS_SetInterruptHandler; dukpy's capsule holds the
# runtime pointer first): it runs a little Python, which lets other VUs and
# threads have their turn, and aborts the code when the VU must stop.
#
# QuickJS counts down calls and backward jumps between two calls of the
# handler (JSContext.interrupt_counter, at byte 504 of the context in
# QuickJS-NG 0.11 as dukpy 0.6 builds it), 10,000 of them whatever each
# costs: native calls (JSON.parse) could keep the handler away for minutes.
# A timer stores 1 there when no check came for _NUDGE_AFTER seconds.
_COUNTER_OFFSET = 504
# JSRuntime.malloc_state's malloc_size and malloc_limit; dukpy's limit.
_MALLOC_SIZE_OFFSET = 48
_MALLOC_LIMIT_OFFSET = 56
_HEAP_LIMIT = 128 * 1024 * 1024
_COUNTER_INIT = 10_000
_NUDGE_AFTER = 0.01
_INTERRUPT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
# PyDLL: these calls keep the GIL. A CDLL call would release and retake it,
# and every such hand-over to another thread costs a scheduler round trip.
_quickjs = ctypes.PyDLL(_dukpy.__file__)
_quickjs.JS_SetInterruptHandler.argtypes = [ctypes.c_void_p, _INTERRUPT, ctypes.c_void_p]
_quickjs.JS_SetInterruptHandler.restype = None
_quickjs.JS_IsJobPending.argtypes = [ctypes.c_void_p]
_quickjs.JS_IsJobPending.restype = ctypes.c_bool  # a C bool in QuickJS-NG


# Bytes cross without JSON: dukpy's own boundary takes JSON text only, which
# made a byte a latin-1 char, escaped, parsed, then copied one charCodeAt at a
# time (~130 ms per MiB). QuickJS exports calls that copy a buffer into a new
# Uint8Array and read one out (~0.1 ms per MiB). A JSValue is a 16-byte struct
# (value, tag) on 64-bit builds.
class _JSValue(ctypes.Structure):
    _fields_ = [("u", ctypes.c_uint64), ("tag", ctypes.c_int64)]


_JS_TAG_EXCEPTION = 6
_JS_TAG_OBJECT = -1
# 32-bit builds pack a JSValue into 8 bytes (NaN boxing): refuse to guess.
assert ctypes.sizeof(ctypes.c_void_p) == 8, "k6host needs a 64-bit Python"
for _name, _args, _result in [
    ("JS_GetGlobalObject", [ctypes.c_void_p], _JSValue),
    ("JS_GetPropertyStr", [ctypes.c_void_p, _JSValue, ctypes.c_char_p], _JSValue),
    ("JS_SetPropertyUint32", [ctypes.c_void_p, _JSValue, ctypes.c_uint32, _JSValue], ctypes.c_int),
    ("JS_NewUint8ArrayCopy", [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t], _JSValue),
    ("JS_GetUint8Array", [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), _JSValue], ctypes.c_void_p),
    ("JS_GetException", [ctypes.c_void_p], _JSValue),
    ("JS_FreeValue", [ctypes.c_void_p, _JSValue], None),
]:
    _function = getattr(_quickjs, _name)
    _function.argtypes, _function.restype = _args, _result
_capsule_name = ctypes.pythonapi.PyCapsule_GetName
_capsule_name.argtypes, _capsule_name.restype = [ctypes.py_object], ctypes.c_char_p
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.argtypes, _capsule_pointer.restype = [ctypes.py_object, ctypes.c_char_p], ctypes.c_void_p


def _context_fields(interp: JSInterpreter) -> Any:
    """dukpy's DukPyContext as an array of pointers: runtime, context,
    the list of unhandled rejections, ... (dukpy 0.6's _support.h)."""
    capsule = interp._ctx
    context = _capsule_pointer(capsule, _capsule_name(capsule))
    return ctypes.cast(context, ctypes.POINTER(ctypes.c_void_p))


class Engine:
    """One JavaScript interpreter with host functions and module hooks."""

    def __init__(self, modules: ModuleSource):
        self._interp = _Interpreter(modules)
        self._interrupt: Any = None
        self._fields = _context_fields(self._interp)
        self._runtime = self._fields[0]
        self._context = self._fields[1]
        self._values: dict[bytes, _JSValue] = {}
        self._nudge: Nudge | None = None  # made at the first interrupt check
        # The bytes QuickJS has allocated (JSRuntime.malloc_state.malloc_size),
        # read where the limit beside it reads as dukpy's: see heap_was_full.
        limit = ctypes.c_size_t.from_address(self._runtime + _MALLOC_LIMIT_OFFSET).value
        self._heap_size = ctypes.c_size_t.from_address(self._runtime + _MALLOC_SIZE_OFFSET) if limit == _HEAP_LIMIT else None
        self._heap_was_full = False
        self.export("engine.heapWasFull", self.heap_was_full)
        self._depth = 0  # evals under way (a host function may eval again)

    def on_interrupt_check(self, should_stop: Callable[[], bool]) -> None:
        """Abort running JavaScript (uncatchably) once ``should_stop()`` is true.

        It is asked at least every _NUDGE_AFTER seconds while JavaScript runs,
        however long its native calls take (engine/nudge.py), and no more than one
        native call later.
        """
        counter = ctypes.c_int.from_address(self._context + _COUNTER_OFFSET)
        last_arm = [0.0]
        heap_size, heap_limit = self._heap_size, _HEAP_LIMIT * 3 // 4

        def check(_runtime: Any, _opaque: Any) -> int:
            if heap_size is not None and heap_size.value > heap_limit:
                self._heap_was_full = True
            nudge = self._nudge
            if nudge is None:
                # QuickJS set the counter to its start value just before this
                # call: where it reads so, the offset is right.
                self._nudge = nudge = Nudge(self._context + _COUNTER_OFFSET)
                if counter.value != _COUNTER_INIT:
                    nudge.close()
            now = time.monotonic()
            if self._depth and now - last_arm[0] > _NUDGE_AFTER / 4:
                last_arm[0] = now
                nudge.arm(_NUDGE_AFTER)
            return 1 if should_stop() else 0

        handler = _INTERRUPT(check)
        self._interrupt = handler  # QuickJS keeps only the pointer: keep it alive
        _quickjs.JS_SetInterruptHandler(self._runtime, handler, None)

    def heap_was_full(self) -> bool:
        """Whether the heap came near its limit during the current eval.

        Out of memory, QuickJS throws an InternalError, or null where even
        that could not be allocated; this tells the second from a script's
        own ``throw null``.
        """
        return self._heap_was_full

    def jobs_pending(self) -> bool:
        """Whether promise jobs wait to run (asked from inside a long eval)."""
        return bool(_quickjs.JS_IsJobPending(self._runtime))

    def has_unhandled_rejection(self) -> bool:
        """A promise rejected with no handler yet: dukpy raises it when the
        eval ends, so a long eval should end once no job could still handle it."""
        return bool(self._fields[2])

    # -- bytes, beside the JSON boundary ------------------------------------------
    # They live on the object the runtime keeps at globalThis.__k6host: arrays
    # the host fills with Uint8Arrays (``inbox`` for events, ``returned`` for a
    # host function's result), and ``outbox``, the Uint8Array the script side
    # hands over for the host call it is making.
    def put_bytes(self, chunks: list[bytes], box: bytes = b"inbox") -> None:
        """Set ``__k6host[box][i]`` to a new Uint8Array holding ``chunks[i]``."""
        q, ctx = _quickjs, self._context
        inbox = self._held(box)
        for i, chunk in enumerate(chunks):
            value = q.JS_NewUint8ArrayCopy(ctx, chunk, len(chunk))
            # JS_SetPropertyUint32 takes ownership of value, whatever it returns.
            if value.tag == _JS_TAG_EXCEPTION or q.JS_SetPropertyUint32(ctx, inbox, i, value) < 0:
                self._drop_exception()
                raise HostError(f"out of memory: no room for {len(chunk)} bytes in the engine's heap")

    def take_bytes(self) -> bytes | None:
        """A copy of the bytes of ``__k6host.outbox`` (None unless it is a Uint8Array)."""
        q, ctx = _quickjs, self._context
        value = q.JS_GetPropertyStr(ctx, self._held(b""), b"outbox")
        try:
            size = ctypes.c_size_t()
            pointer = q.JS_GetUint8Array(ctx, ctypes.byref(size), value)
            if not pointer:
                self._drop_exception()  # "not a Uint8Array" was raised in the context
                return None
            return ctypes.string_at(pointer, size.value)
        finally:
            q.JS_FreeValue(ctx, value)

    def _held(self, name: bytes) -> _JSValue:
        """``__k6host`` (name b"") or one of its properties, looked up once:
        the engine holds a reference until it is closed."""
        value = self._values.get(name)
        if value is None:
            q, ctx = _quickjs, self._context
            owner = q.JS_GetGlobalObject(ctx) if not name else self._held(b"")
            value = q.JS_GetPropertyStr(ctx, owner, name or b"__k6host")
            if not name:
                q.JS_FreeValue(ctx, owner)
            if value.tag != _JS_TAG_OBJECT:  # runtime.js made them: not loaded yet
                if value.tag == _JS_TAG_EXCEPTION:
                    self._drop_exception()
                else:
                    _quickjs.JS_FreeValue(ctx, value)
                raise HostError("the k6host runtime is not loaded")
            self._values[name] = value
        return value

    def _drop_exception(self) -> None:
        """Clear the exception a failed QuickJS call left in the context, so it
        does not surface later as the script's own."""
        _quickjs.JS_FreeValue(self._context, _quickjs.JS_GetException(self._context))

    def close(self) -> None:
        """Let go of the values the engine holds (before the runtime goes)."""
        nudge, self._nudge = getattr(self, "_nudge", None), None
        if nudge is not None:
            nudge.close()
        values, self._values = getattr(self, "_values", {}), {}
        for value in values.values():
            _quickjs.JS_FreeValue(self._context, value)

    def __del__(self) -> None:
        # Runs before the interpreter (an attribute) is freed, even in a cycle.
        self.close()

    def export(self, name: str, func: Callable[..., Any]) -> None:
        """Make ``func`` callable from JavaScript as ``call_python(name, ...)``.

        Arguments and results cross as JSON; a HostError it raises is thrown
        in JavaScript with the error's own name and message.
        """

        def call(*args: Any) -> Any:
            try:
                return func(*args)
            except (HostError, ScriptError) as exc:  # ScriptError: code it ran (a module) threw
                return {ERROR_KEY: list(_error_parts(exc))}

        self._interp.export_function(name, call)

    def eval(self, code: str, filename: str = "<k6host>", **values: Any) -> Any:
        """Run ``code`` as a global script; ``values`` appear on ``dukpy``."""
        return self._call(lambda: self._interp._evaljs(code, False, filename, values))

    def eval_module(self, code: str, filename: str) -> None:
        """Run ``code`` as an ES module named ``filename`` (imports resolve from it)."""
        self._call(lambda: self._interp._evaljs(code, True, filename, {}))

    def compile_function(self, target: str, source: str, filename: str, prefix: str = _WRAPPER_PREFIX) -> None:
        """Compile CommonJS ``source`` into a function stored at ``target``.

        Only module evaluation takes a file name in dukpy, so the wrapper is
        compiled as a module: stack traces and syntax errors then name
        ``filename`` with the script's own line numbers, and the code runs in
        strict mode (as k6's Babel step made it).
        """
        self.eval_module(f"{target} = {prefix}{source}\n}})", filename)

    def _loader_reason(self, text: str) -> str:
        match = _LOAD_FAILED.match(text)
        reason = match and self._interp.loader.failures.get(match.group(1))
        return reason + text[match.end():] if reason else text

    def _call(self, thunk: Callable[[], Any]) -> Any:
        # While JavaScript may run, the nudge stands by (see on_interrupt_check).
        nudge = self._nudge
        if not self._depth:
            self._heap_was_full = False
        self._depth += 1
        if nudge is not None:
            nudge.arm(_NUDGE_AFTER)
        try:
            return thunk()
        except JSRuntimeError as exc:
            raise ScriptError(self._loader_reason(str(exc))) from None
        finally:
            self._depth -= 1
            if nudge is not None and not self._depth:
                nudge.disarm()
