"""Durations as k6 reads and prints them.

k6 keeps durations as Go ``time.Duration`` values (integer nanoseconds), so
this module does too: ``"1.5s"``, ``"1h2m3s"``, ``"10µs"`` follow Go's
``time.ParseDuration``; k6 adds days (``"1d12h"``) and reads a bare number
(``1500`` or ``"1500"``) as milliseconds. Printing uses Go's
``Duration.String`` (``"1m0s"``, ``"1.5ms"``), which is what k6 shows in
``exec.test.options``, in its error messages and in the summary banner.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

NANOSECOND = 1
MICROSECOND = 1_000
MILLISECOND = 1_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

_UNITS = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "\u00b5s": MICROSECOND,  # micro sign
    "\u03bcs": MICROSECOND,  # Greek mu
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}
_MAX_NS = 2**63 - 1
# What Go's strconv.ParseFloat accepts that matters here; Python's float()
# alone would also take surrounding spaces.
_FLOAT = re.compile(r"[+-]?([0-9]+(?:_[0-9]+)*(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT = re.compile(r"[+-]?[0-9]+")
_DIGITS = re.compile(r"[0-9]*")
_UNIT = re.compile(r"[^.0-9]*")


class DurationError(ValueError):
    """The text is not a duration; the message is Go's wording."""


def _leading(pattern: re.Pattern[str], text: str) -> str:
    match = pattern.match(text)
    return match.group() if match else ""


def go_parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration``: nanoseconds, or DurationError."""
    original, rest, negative = text, text, False
    if rest[:1] in ("+", "-"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise DurationError(f'time: invalid duration "{original}"')
    total = 0
    while rest:
        if rest[0] not in ".0123456789":
            raise DurationError(f'time: invalid duration "{original}"')
        digits = _leading(_DIGITS, rest)
        rest = rest[len(digits):]
        fraction = ""
        if rest[:1] == ".":
            fraction = _leading(_DIGITS, rest[1:])
            rest = rest[1 + len(fraction):]
        if not digits and not fraction:
            raise DurationError(f'time: invalid duration "{original}"')
        unit_text = _leading(_UNIT, rest)
        if not unit_text:
            raise DurationError(f'time: missing unit in duration "{original}"')
        rest = rest[len(unit_text):]
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise DurationError(f'time: unknown unit "{unit_text}" in duration "{original}"')
        value = int(digits or "0") * unit
        if fraction:
            value += int(int(fraction) * (unit / 10 ** len(fraction)))
        total += value
        if total > _MAX_NS:
            raise DurationError(f'time: invalid duration "{original}"')
    return -total if negative else total


def _milliseconds(value: float) -> int:
    if math.isnan(value) or math.isinf(value):
        raise DurationError(f"{value} is not a valid duration value")
    return int(value * MILLISECOND)


def parse_extended(text: str) -> int:
    """k6's ``types.ParseExtendedDuration``: Go durations, days, bare milliseconds."""
    if _FLOAT.fullmatch(text):
        return _milliseconds(float(text))
    day_at = text.find("d")
    if day_at < 0:
        return go_parse_duration(text)
    hours = 0
    if day_at + 1 < len(text):
        hours = go_parse_duration(text[day_at + 1:])
        if hours < 0:
            raise DurationError(f"invalid time format '{text[day_at + 1:]}'")
    if not _INT.fullmatch(text[:day_at]):
        raise DurationError(f'strconv.ParseInt: parsing "{text[:day_at]}": invalid syntax')
    days = int(text[:day_at])
    return days * DAY + (-hours if days < 0 else hours)


def parse_seconds(text: str) -> float:
    """A duration as k6's outputs read theirs from settings (``1s``, ``500ms``, ``1d``), in seconds."""
    return parse_extended(text) / SECOND


def json_duration_ns(value: Any) -> int:
    """A duration as k6 reads it from JSON options: a string, or a number of milliseconds."""
    if isinstance(value, str):
        return parse_extended(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _milliseconds(value)
    raise DurationError(f"{json.dumps(value)} is not a valid duration value")


def format_ns(ns: int) -> str:
    """Go's ``Duration.String``: ``1h2m3s``, ``1m0s``, ``1.5ms``, ``0s``."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < SECOND:
        for unit, size, width in (("ns", 1, 0), ("µs", MICROSECOND, 3), ("ms", MILLISECOND, 6)):
            if u < size * 1000:
                return sign + _fraction(u, width) + unit
    seconds, minutes_total = u % MINUTE, u // MINUTE
    text = _fraction(seconds, 9) + "s"
    if minutes_total:
        hours, minutes = divmod(minutes_total, 60)
        text = f"{minutes}m" + text
        if hours:
            text = f"{hours}h" + text
    return sign + text


def _fraction(value: int, digits: int) -> str:
    """``value`` scaled down by 10**digits, without trailing zeros (Go's fmtFrac)."""
    if digits == 0:
        return str(value)
    whole, frac = divmod(value, 10**digits)
    frac_text = str(frac).rjust(digits, "0").rstrip("0")
    return f"{whole}.{frac_text}" if frac_text else str(whole)


def format_duration(seconds: float) -> str:
    """Seconds printed as k6 prints durations (``31.5s``, ``10m30s``)."""
    return format_ns(round(seconds * SECOND))
