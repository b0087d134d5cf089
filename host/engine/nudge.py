"""A timer that writes 1 into an int from a thread that needs no GIL.

QuickJS calls its interrupt handler once its context's interrupt counter,
decremented on every call and backward jump, reaches zero: every 10,000 of
them, whatever they cost. A loop of ``JSON.parse(JSON.stringify(big))`` over
20,000 items spends ~20 ms per call in native code, so the handler came once a
minute, and the VU held the GIL all along: no Python thread ran, and no stop
(the duration, a signal, a second Ctrl-C) was heard.

A Python thread cannot help (it needs the GIL the VU holds), so the timer is
the kernel's and glibc's: ``timer_create`` with ``SIGEV_THREAD`` calls a C
function of one pointer in a thread glibc starts, and
``pthread_spin_unlock(p)`` stores 1 at ``p`` (glibc's x86-64 and generic
versions store 1 or 0, both of which end the countdown). Pointed at the
counter, the next call or jump of the JavaScript calls the handler.

The engine arms the timer while JavaScript may run and disarms it after; a
context must not be freed while a nudge may still be on its way (see
:meth:`Nudge.close`).
"""

from __future__ import annotations

import ctypes
import time

_SIGEV_THREAD = 2
_CLOCK_MONOTONIC = 1
# After a fire, glibc has started the thread that writes; give it this long.
_SETTLE = 0.05


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class _Sigevent(ctypes.Structure):  # Linux, 64 bytes
    _fields_ = [
        ("sigev_value", ctypes.c_void_p),
        ("sigev_signo", ctypes.c_int),
        ("sigev_notify", ctypes.c_int),
        ("sigev_notify_function", ctypes.c_void_p),
        ("sigev_notify_attributes", ctypes.c_void_p),
        ("_pad", ctypes.c_int * 8),
    ]


def _load() -> tuple[ctypes.PyDLL, int] | None:
    try:
        libc = ctypes.PyDLL(None)  # PyDLL: the calls keep the GIL (no hand-over)
        store_one = ctypes.cast(libc.pthread_spin_unlock, ctypes.c_void_p).value
        for name, args in (
            ("timer_create", [ctypes.c_int, ctypes.POINTER(_Sigevent), ctypes.POINTER(ctypes.c_void_p)]),
            ("timer_settime", [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.POINTER(_Itimerspec)]),
            ("timer_delete", [ctypes.c_void_p]),
        ):
            function = getattr(libc, name)
            function.argtypes, function.restype = args, ctypes.c_int
    except (AttributeError, OSError):  # not glibc on Linux: no nudges
        return None
    if ctypes.sizeof(_Sigevent) != 64 or store_one is None:
        return None
    return libc, store_one


_LIBC = _load()


class Nudge:
    """One timer that stores 1 at ``address`` when it fires (at most once per arming)."""

    def __init__(self, address: int):
        self._timer = ctypes.c_void_p()
        self._fired_at = float("-inf")
        self._armed = False
        self._due = 0.0
        self.available = False
        # Made once: building them was most of an arm()'s cost.
        self._spec = _Itimerspec()
        self._spec_seconds = -1.0
        self._zero = _Itimerspec()
        self._old = _Itimerspec()
        if _LIBC is None:
            return
        libc, store_one = _LIBC
        event = _Sigevent(sigev_value=address, sigev_notify=_SIGEV_THREAD, sigev_notify_function=store_one)
        self.available = libc.timer_create(_CLOCK_MONOTONIC, ctypes.byref(event), ctypes.byref(self._timer)) == 0

    def arm(self, seconds: float) -> None:
        """Fire once, ``seconds`` from now (replacing an earlier arming)."""
        if self.available:
            if seconds != self._spec_seconds:
                whole = int(seconds)
                self._spec.it_value = _Timespec(whole, int((seconds - whole) * 1e9) or 1)
                self._spec_seconds = seconds
            self._set(self._spec)
            self._armed = True
            self._due = time.monotonic() + seconds

    def disarm(self) -> None:
        if self.available and self._armed:
            self._set(self._zero)
            self._armed = False

    def _set(self, value: _Itimerspec) -> None:
        old = self._old
        _LIBC[0].timer_settime(self._timer, 0, value, old)  # type: ignore[index]
        if self._armed and old.it_value.tv_sec == 0 and old.it_value.tv_nsec == 0:
            self._fired_at = self._due  # it fired then: a write may still be on its way

    def close(self) -> None:
        """Delete the timer; returns once no write to ``address`` can still come."""
        if not self.available:
            return
        self.disarm()
        self.available = False
        _LIBC[0].timer_delete(self._timer)  # type: ignore[index]
        # timer_delete stops further fires; a thread glibc already started for
        # the last one may still be about to write.
        left = self._fired_at + _SETTLE - time.monotonic()
        if left > 0:
            time.sleep(left)
