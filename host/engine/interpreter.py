"""The JavaScript engine: the only module that touches dukpy.

Everything else in the host speaks to :class:`Engine`, so a second engine could
be added behind the same few methods.  dukpy 0.6 embeds QuickJS-NG; every
``evaljs`` runs a full garbage collection on entry and exit, which is why the
host batches its entries (see DESIGN.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import json.scanner
import re
import struct
import time
from typing import Any, Callable, Iterator, Protocol

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
        self.calls: dict[bytes, Callable[..., Any]] = {}  # what JavaScript may call, by name
        super().__init__()

    @property
    def loader(self):  # the native module loader reads this attribute
        return self._host_loader

    def _normalize_module(self, base_name, module_name):
        return self._modules.resolve(base_name, module_name)

    # dukpy's call_python asks these two for each call from JavaScript, with
    # the function's name as bytes: one dict lookup, no decoding, and the
    # JSON modules' own functions (a host call is on every hot path).
    def _check_exported_function_exists(self, func: bytes) -> bool:
        return func in self.calls

    def _call_python(self, func: bytes, json_args: bytes) -> bytes | None:
        # The arguments are JSON.stringify's: compact, an array at offset 0.
        ret = self.calls[func](*_json_scan(json_args.decode("utf-8", "surrogatepass"), 0)[0])
        if ret is not None:
            return _json_dumps(ret).encode()
        return None

    def _init_console(self):
        """Skip dukpy's console: the host installs k6's own."""

    def _init_require(self):
        """Skip dukpy's CommonJS runtime: the host installs its own."""

    def _init_process(self):
        """k6 scripts have no ``process``; leave the global undefined."""


_json_scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[attr-defined]
_json_dumps = json.JSONEncoder(separators=(",", ":")).encode
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
_JS_TAG_STRING = -7
_JS_TAG_INT = 0
_JS_TAG_BOOL = 1
_JS_TAG_NULL = 2
_JS_TAG_UNDEFINED = 3
_JS_TAG_FLOAT64 = 8
_UNDEFINED = _JSValue(0, _JS_TAG_UNDEFINED)
_JS_EVAL_TYPE_GLOBAL = 0
_JS_EVAL_TYPE_MODULE = 1
_JS_EVAL_FLAG_COMPILE_ONLY = 1 << 5
for _name, _args, _result in [
    ("JS_Call", [ctypes.c_void_p, _JSValue, _JSValue, ctypes.c_int, ctypes.POINTER(_JSValue)], _JSValue),
    ("JS_ExecutePendingJob", [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)], ctypes.c_int),
    ("JS_UpdateStackTop", [ctypes.c_void_p], None),
    ("JS_RunGC", [ctypes.c_void_p], None),
    ("JS_SetGCThreshold", [ctypes.c_void_p, ctypes.c_size_t], None),
    ("JS_ParseJSON", [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p], _JSValue),
    ("JS_NewStringLen", [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t], _JSValue),
    ("JS_ToCStringLen2", [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), _JSValue, ctypes.c_bool], ctypes.c_void_p),
    ("JS_FreeCString", [ctypes.c_void_p, ctypes.c_void_p], None),
    ("JS_Eval", [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_int], _JSValue),
    ("JS_EvalFunction", [ctypes.c_void_p, _JSValue], _JSValue),
    ("JS_ResolveModule", [ctypes.c_void_p, _JSValue], ctypes.c_int),
    ("JS_JSONStringify", [ctypes.c_void_p, _JSValue, _JSValue, _JSValue], _JSValue),
    ("JS_SetPropertyStr", [ctypes.c_void_p, _JSValue, ctypes.c_char_p, _JSValue], ctypes.c_int),
    ("JS_DupValue", [ctypes.c_void_p, _JSValue], _JSValue),
    ("JS_PromiseState", [ctypes.c_void_p, _JSValue], ctypes.c_int),
    ("JS_PromiseResult", [ctypes.c_void_p, _JSValue], _JSValue),
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


_JS_PROMISE_REJECTED = 2
_ARGV = [_JSValue * n for n in range(16)]  # argument arrays of Engine.call, by length
_libc_free = ctypes.CDLL(None).free
_libc_free.argtypes, _libc_free.restype = [ctypes.c_void_p], None


class _Rejection(ctypes.Structure):
    """dukpy 0.6's record of a promise rejected with no handler (_support.h):
    it keeps one per rejection until the eval it happened in ends, and drops
    it when a handler comes. Outside any eval its eval id is 0, and dukpy
    never looks at it again: the host does (Engine.take_rejection)."""

    _fields_ = [("promise", _JSValue), ("reason", _JSValue), ("eval_id", ctypes.c_ulong), ("next", ctypes.c_void_p)]


class Json(str):
    """JSON text that :meth:`Engine.call` hands to JavaScript as the value it denotes."""


# Host-scheduled garbage collection (see Engine.collect_garbage): a cycle
# collection walks every live object (0.02 ms for a churn VU's heap, 6 ms
# beside 100,000 records kept by init code), so it runs between iterations
# and only once the heap has grown; QuickJS's own trigger is left as a
# safety net _GC_SAFETY above the heap's size after a collection.
_GC_STEP = 1 << 20
_GC_EVERY, _GC_EVERY_MAX, _GC_SLACK = 100, 100_000, 16 << 10
_GC_SAFETY = 8 << 20
# Jobs of an interrupted call that the host throws away, at most (each is
# aborted on entry; a job may queue others).
_DISCARD_LIMIT = 1_000_000


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
        self._depth = 0  # evals and calls under way (a host function may eval again)
        self._direct = 0  # direct calls under way (see call)
        self._counter: Any = None  # the context's interrupt countdown, once its offset is confirmed
        self._discarding = False
        self.interrupted = False  # the last direct call was aborted by the interrupt handler
        self._job_context = ctypes.c_void_p()  # the context of a job that threw
        self._job = ctypes.byref(self._job_context)
        self._gc_base = self._gc_calls = 0
        self._gc_every = _GC_EVERY
        self._armed_at = float("-inf")  # when the nudge was last armed on entry

    def on_interrupt_check(self, should_stop: Callable[[], bool]) -> None:
        """Abort running JavaScript (uncatchably) once ``should_stop()`` is true.

        It is asked at least every _NUDGE_AFTER seconds while JavaScript runs,
        however long its native calls take (engine/nudge.py), and no more than one
        native call later.
        """
        counter = ctypes.c_int.from_address(self._context + _COUNTER_OFFSET)
        heap_size, heap_limit = self._heap_size, _HEAP_LIMIT * 3 // 4

        def check(_runtime: Any, _opaque: Any) -> int:
            if self._discarding:
                return 1
            if heap_size is not None and heap_size.value > heap_limit:
                self._heap_was_full = True
            nudge = self._nudge
            if nudge is None:
                # QuickJS set the counter to its start value just before this
                # call: where it reads so, the offset is right.
                self._nudge = nudge = Nudge(self._context + _COUNTER_OFFSET)
                if counter.value == _COUNTER_INIT:
                    self._counter = counter
                else:
                    nudge.close()
            now = time.monotonic()
            if self._depth and now - self._armed_at > _NUDGE_AFTER / 4:
                self._armed_at = now
                nudge.arm(_NUDGE_AFTER)
            if should_stop():
                if self._direct:
                    self.interrupted = True
                return 1
            return 0

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

    # -- the direct path: calls without evaljs ----------------------------------------
    # evaljs runs two full garbage collections per entry, which grow with the
    # heap. After init, the host enters JavaScript through QuickJS's own API
    # and so takes over what dukpy did around each eval: the stack top (a
    # greenlet's stack moves), running the promise jobs, unhandled
    # rejections, the jobs an interrupt left behind, and garbage collection.
    def function(self, *path: str) -> _JSValue:
        """The value at ``__k6host.<path...>`` (a function, say), held until close.

        Raises HostError when it is not there or not an object."""
        key = b"\0".join(p.encode() for p in path)
        value = self._values.get(key)
        if value is None:
            q, ctx = _quickjs, self._context
            owner = self._held(b"") if len(path) == 1 else self.function(*path[:-1])
            value = q.JS_GetPropertyStr(ctx, owner, path[-1].encode())
            if value.tag != _JS_TAG_OBJECT:
                if value.tag == _JS_TAG_EXCEPTION:
                    self._drop_exception()
                else:
                    q.JS_FreeValue(ctx, value)
                raise HostError(f"{'.'.join(path)} is not a function")
            self._values[key] = value
        return value

    def call(self, function: _JSValue, *args: Any) -> Any:
        """Call ``function`` (from :meth:`function`) with ``args``, then run
        every promise job that queues, as the end of an eval would.

        Arguments: None, bool, int, float, str, Json text, bytes (a
        Uint8Array), or a value from :meth:`function`. The result comes
        back if it is one of those (a string as str), else None. A thrown
        exception, an unhandled job error or an interrupt raises ScriptError
        (``interrupted`` tells the last); unhandled rejections are left for
        :meth:`take_rejection`.
        """
        q, ctx = _quickjs, self._context
        if len(args) >= len(_ARGV):
            raise TypeError(f"at most {len(_ARGV) - 1} arguments")
        values: list[_JSValue] = []
        try:
            for arg in args:
                values.append(self._to_js(arg))
        except BaseException:
            self._free_made(args, values)
            raise
        argv = _ARGV[len(args)](*values)
        self.interrupted = False
        q.JS_UpdateStackTop(self._runtime)
        self._enter()
        self._direct += 1
        try:
            result = q.JS_Call(ctx, function, _UNDEFINED, len(args), argv)
            self._free_made(args, values)
            if result.tag == _JS_TAG_EXCEPTION:
                error = self._exception_text()
                if self.interrupted:
                    self._discard_jobs()
                else:
                    self._drain()
                raise ScriptError(error)
            try:
                self._drain()
            finally:
                value = self._from_js(result)
            return value
        finally:
            self._direct -= 1
            self._leave()

    def _free_made(self, args: tuple[Any, ...], values: list[_JSValue]) -> None:
        """Free the values _to_js made for ``args`` (strings, parsed JSON, Uint8Arrays)."""
        for arg, value in zip(args, values):
            if isinstance(arg, (str, bytes)):
                _quickjs.JS_FreeValue(self._context, value)

    def _to_js(self, arg: Any) -> _JSValue:
        kind = type(arg)
        if kind is int and -(1 << 31) <= arg < (1 << 31):
            return _JSValue(arg & 0xFFFFFFFF, _JS_TAG_INT)
        if kind is _JSValue:  # held by the engine (see function)
            return arg
        if kind is bool:
            return _JSValue(int(arg), _JS_TAG_BOOL)
        if arg is None:
            return _UNDEFINED
        if isinstance(arg, (int, float)):
            return _JSValue(struct.unpack("<Q", struct.pack("<d", float(arg)))[0], _JS_TAG_FLOAT64)
        if isinstance(arg, str):
            data = arg.encode("utf-8", "surrogatepass")
            if kind is Json:
                value = _quickjs.JS_ParseJSON(self._context, data, len(data), b"<k6host>")
            else:
                value = _quickjs.JS_NewStringLen(self._context, data, len(data))
            if value.tag == _JS_TAG_EXCEPTION:
                raise ScriptError(self._exception_text())
            return value
        if kind is bytes:
            value = _quickjs.JS_NewUint8ArrayCopy(self._context, arg, len(arg))
            if value.tag == _JS_TAG_EXCEPTION:
                self._drop_exception()
                raise HostError(f"out of memory: no room for {len(arg)} bytes in the engine's heap")
            return value
        raise TypeError(f"cannot pass {type(arg).__name__} to JavaScript")

    def _from_js(self, value: _JSValue) -> Any:
        """The Python value of a primitive ``value`` (None for objects); frees it."""
        tag = value.tag
        if tag == _JS_TAG_INT:
            return ctypes.c_int32(value.u & 0xFFFFFFFF).value
        if tag == _JS_TAG_BOOL:
            return bool(value.u)
        if tag == _JS_TAG_FLOAT64:
            return struct.unpack("<d", struct.pack("<Q", value.u))[0]
        if tag == _JS_TAG_STRING:
            try:
                return self._string(value)
            finally:
                _quickjs.JS_FreeValue(self._context, value)
        if tag < 0:
            _quickjs.JS_FreeValue(self._context, value)
        return None

    def _string(self, value: _JSValue) -> str:
        """``String(value)`` (without freeing value)."""
        q, ctx = _quickjs, self._context
        size = ctypes.c_size_t()
        pointer = q.JS_ToCStringLen2(ctx, ctypes.byref(size), value, False)
        if not pointer:
            self._drop_exception()
            return "(a value that cannot be shown)"
        try:
            return ctypes.string_at(pointer, size.value).decode("utf-8", "replace")
        finally:
            q.JS_FreeCString(ctx, pointer)

    def _exception_text(self) -> str:
        """The text of the exception pending in the context (which it clears)."""
        exception = _quickjs.JS_GetException(self._context)
        try:
            return self._error_text(exception)
        finally:
            _quickjs.JS_FreeValue(self._context, exception)

    def _error_text(self, error: _JSValue) -> str:
        """What the runtime's errorText makes of ``error`` (its message and stack)."""
        q, ctx = _quickjs, self._context
        try:
            describe = self.function("errorText")
        except HostError:
            return self._string(error)
        argv = (_JSValue * 1)(error)
        self._discarding, discarding = False, self._discarding
        try:
            text = q.JS_Call(ctx, describe, _UNDEFINED, 1, argv)
        finally:
            self._discarding = discarding
        if text.tag == _JS_TAG_EXCEPTION:
            self._drop_exception()
            return self._string(error)
        return self._from_js(text) or self._string(error)

    def _drain(self) -> None:
        """Run promise jobs until none is left."""
        q, runtime, job = _quickjs, self._runtime, self._job
        while True:
            done = q.JS_ExecutePendingJob(runtime, job)
            if done > 0:
                continue
            if done == 0:
                return
            # A job threw (an interrupt, or a queueMicrotask callback): the
            # iteration fails, and what it left queued must not run later.
            error = self._exception_text()
            self._discard_jobs()
            raise ScriptError(error)

    def _discard_jobs(self) -> None:
        """Throw away the jobs a failed or interrupted call left queued: run
        later, they would continue the aborted iteration inside the next one.
        Each is aborted at its first call or jump, before any of its code runs."""
        q, runtime, job = _quickjs, self._runtime, self._job
        self._discarding = True
        try:
            for _ in range(_DISCARD_LIMIT):
                if self._counter is not None:
                    self._counter.value = 1
                done = q.JS_ExecutePendingJob(runtime, job)
                if done == 0:
                    break
                if done < 0:
                    self._drop_exception()
        finally:
            self._discarding = False

    def take_rejection(self) -> str | None:
        """The text of the first promise rejected outside any eval that no
        handler has taken (with every other such record dropped), or None."""
        records = self._unlink_rejections(lambda node: True)
        try:
            # dukpy adds records at the head: the first rejection is the last one.
            return self._error_text(records[-1].reason) if records else None
        finally:
            self._free_rejections(records)

    def _unlink_rejections(self, matches: Callable[[_Rejection], bool]) -> list[_Rejection]:
        """Take out of dukpy's list the records made outside any eval that
        ``match``, without running any JavaScript (which could change the
        list: a handler added drops its record), in list order."""
        link = ctypes.c_void_p.from_address(ctypes.addressof(self._fields.contents) + 2 * ctypes.sizeof(ctypes.c_void_p))
        taken = []
        while link.value:
            node = _Rejection.from_address(link.value)
            if node.eval_id != 0 or not matches(node):  # an eval's own: dukpy deals with it
                link = ctypes.c_void_p.from_address(link.value + _Rejection.next.offset)
                continue
            taken.append(node)
            link.value = node.next
        return taken

    def _free_rejections(self, records: list[_Rejection]) -> None:
        q, ctx = _quickjs, self._context
        for node in records:
            q.JS_FreeValue(ctx, node.promise)
            q.JS_FreeValue(ctx, node.reason)
            _libc_free(ctypes.addressof(node))

    def collect_garbage(self) -> bool:
        """Run a cycle collection if it is due (True if it ran). Called once
        per iteration, between iterations: evaljs used to do it twice per
        entry, whatever the heap's size.

        It is due once the heap grew by _GC_STEP since the last one, or after
        _GC_EVERY calls if it grew at all (cyclic garbage may hold Python
        resources, a hasher say, that the heap's size does not show). A
        collection that finds the growth was live data, not garbage, doubles
        the count to wait for: a large heap costs milliseconds per collection.
        """
        size = self._heap_size
        if size is None:
            return False
        if not self._gc_base:  # the first call: what init left is the base
            self._gc_base = size.value
            return False
        self._gc_calls += 1
        grown = size.value - self._gc_base
        if grown < _GC_STEP and (self._gc_calls < self._gc_every or grown < _GC_SLACK):
            return False
        _quickjs.JS_RunGC(self._runtime)
        after = size.value
        freed = self._gc_base + grown - after
        self._gc_every = _GC_EVERY if freed * 2 >= grown else min(self._gc_every * 2, _GC_EVERY_MAX)
        self._gc_base, self._gc_calls = after, 0
        _quickjs.JS_SetGCThreshold(self._runtime, after + max(after, _GC_SAFETY))
        return True

    # The nudge is armed on entry once 80 % of its period has passed since it
    # was last armed (so it is always due within _NUDGE_AFTER), and left armed
    # on the way out: two timer_settime calls per entry were a tenth of a
    # churn iteration's CPU. A nudge that fires while no JavaScript runs costs one
    # needless interrupt check at the next entry (and a thread start); a VU
    # about to sleep stops it (resting).
    def _enter(self) -> None:
        if not self._depth:
            self._heap_was_full = False
        self._depth += 1
        nudge = self._nudge
        if nudge is not None:
            now = time.monotonic()
            if now - self._armed_at > _NUDGE_AFTER * 0.8:
                self._armed_at = now
                nudge.arm(_NUDGE_AFTER)

    def _leave(self) -> None:
        self._depth -= 1

    @contextlib.contextmanager
    def resting(self) -> Iterator[None]:
        """No JavaScript runs for a while (the VU sleeps): the nudge stops
        meanwhile, and stands by again after if JavaScript is under way."""
        nudge = self._nudge
        if nudge is not None:
            nudge.disarm()
        try:
            yield
        finally:
            self._armed_at = float("-inf")
            if nudge is not None and self._depth:
                self._armed_at = time.monotonic()
                nudge.arm(_NUDGE_AFTER)

    def _eval_direct(self, code: str, module: bool, filename: str, values: dict[str, Any]) -> Any:
        """An eval nested in a direct call (a module first required during an
        iteration): evaljs would run the queued jobs of the iteration inside
        it, so QuickJS's JS_Eval runs the code and nothing else."""
        q, ctx = _quickjs, self._context
        if values:
            data = json.dumps(values).encode()
            parsed = q.JS_ParseJSON(ctx, data, len(data), b"<k6host>")
            glob = q.JS_GetGlobalObject(ctx)
            q.JS_SetPropertyStr(ctx, glob, b"dukpy", parsed)  # takes parsed
            q.JS_FreeValue(ctx, glob)
        source = code.encode("utf-8", "surrogatepass")
        if module:
            compiled = q.JS_Eval(ctx, source, len(source), filename.encode(), _JS_EVAL_TYPE_MODULE | _JS_EVAL_FLAG_COMPILE_ONLY)
            if compiled.tag == _JS_TAG_EXCEPTION:
                raise ScriptError(self._loader_reason(self._exception_text()))
            if q.JS_ResolveModule(ctx, compiled) < 0:
                q.JS_FreeValue(ctx, compiled)
                raise ScriptError(self._loader_reason(self._exception_text()))
            result = q.JS_EvalFunction(ctx, compiled)  # takes compiled; a promise
            if result.tag == _JS_TAG_EXCEPTION:
                raise ScriptError(self._exception_text())
            try:
                if q.JS_PromiseState(ctx, result) == _JS_PROMISE_REJECTED:
                    reason = q.JS_PromiseResult(ctx, result)
                    # Raised here: QuickJS's records of it as unhandled (the
                    # module's promises rejected with this reason) must go.
                    self._free_rejections(self._unlink_rejections(lambda node: node.reason.u == reason.u))
                    try:
                        raise ScriptError(self._error_text(reason))
                    finally:
                        q.JS_FreeValue(ctx, reason)
            finally:
                q.JS_FreeValue(ctx, result)
            return None
        result = q.JS_Eval(ctx, source, len(source), b"<dukpy>", _JS_EVAL_TYPE_GLOBAL)
        if result.tag == _JS_TAG_EXCEPTION:
            raise ScriptError(self._exception_text())
        if result.tag == _JS_TAG_UNDEFINED:
            return None
        text = q.JS_JSONStringify(ctx, result, _UNDEFINED, _UNDEFINED)
        q.JS_FreeValue(ctx, result)
        if text.tag == _JS_TAG_EXCEPTION:
            raise ScriptError(self._exception_text())
        found = self._from_js(text)
        return None if found is None else json.loads(found)

    def export(self, name: str, func: Callable[..., Any], passes: tuple[type[BaseException], ...] | None = None) -> None:
        """Make ``func`` callable from JavaScript as ``call_python(name, ...)``.

        Arguments and results cross as JSON; a HostError it raises is thrown
        in JavaScript with the error's own name and message. With ``passes``
        (exceptions to let through), any other exception (a bug in ``func``)
        becomes a thrown Error naming ``name``, never an engine failure.
        """

        def call(*args: Any) -> Any:
            try:
                return func(*args)
            except (HostError, ScriptError) as exc:  # ScriptError: code it ran (a module) threw
                return {ERROR_KEY: list(_error_parts(exc))}
            except Exception as exc:
                if passes is None or isinstance(exc, passes):
                    raise
                return {ERROR_KEY: ["Error", f"{name}: {type(exc).__name__}: {exc}"]}

        self._interp.calls[name.encode()] = call

    def eval(self, code: str, filename: str = "<k6host>", **values: Any) -> Any:
        """Run ``code`` as a global script; ``values`` appear on ``dukpy``."""
        if self._direct:
            return self._eval_direct(code, False, filename, values)
        return self._call(lambda: self._interp._evaljs(code, False, filename, values))

    def eval_module(self, code: str, filename: str) -> None:
        """Run ``code`` as an ES module named ``filename`` (imports resolve from it)."""
        if self._direct:
            return self._eval_direct(code, True, filename, {})
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
        self._enter()
        try:
            return thunk()
        except JSRuntimeError as exc:
            raise ScriptError(self._loader_reason(str(exc))) from None
        finally:
            self._leave()
