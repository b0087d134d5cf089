"""k6's live progress display: a "running (...)" line and a bar per scenario.

As in k6 1.1.0 (internal/cmd/ui.go, internal/ui/pb), the display goes to the
stream k6 uses for it, stdout, unless ``--quiet``:

- on a terminal it is redrawn in place every 100 ms, bars sized to the
  terminal's width, and anything else written meanwhile must go through
  ``Progress.write`` so it lands above the bars (k6 reprints them after every
  write);
- elsewhere a block of lines is printed every second, with percentages
  instead of bars.

``stop()`` prints the final state. What each line says comes from a callback
that returns a ``Frame``; ``stats_line`` and ``fixed_duration`` format its
parts as k6's scheduler and executors do.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass, field
from typing import Callable, TextIO

RUNNING, WAITING, STOPPING, INTERRUPTED, DONE = " ", "•", "↓", "✗", "✓"

_DEFAULT_WIDTH = 40  # of a bar, brackets included
_MIN_WIDTH = 8  # at or below it a bar becomes a percentage
_MAX_LEFT = 30  # longest scenario name before it is cut with "..."
_TERM_PADDING = 1
_DEFAULT_TERM_WIDTH = 80
_STATUS_COLORS = {DONE: ("\x1b[32m", "\x1b[0m"), INTERRUPTED: ("\x1b[31m", "\x1b[0m"), WAITING: ("\x1b[2m", "\x1b[22m")}


@dataclass
class Bar:
    """One scenario's line: ``left`` is its name, ``right`` the columns after the bar.

    k6's executors fill ``right`` like ``["2 VUs", "00m01.0s/10m0s", "1/3 shared iters"]``
    or, before a scenario starts, ``["waiting", "0.9s"]``.
    """

    left: str
    progress: float
    right: list[str] = field(default_factory=list)
    status: str = RUNNING


@dataclass
class Frame:
    """Everything one redraw shows: the ``stats_line`` and the scenarios' bars."""

    stats: str
    bars: list[Bar]


def fixed_duration(seconds: float, max_seconds: float) -> str:
    """k6's GetFixedLengthDuration: tenths of a second, as many fields as ``max_seconds`` needs.

    ``fixed_duration(1.23, 600)`` is ``"00m01.2s"``; ``fixed_duration(0.1, 2.5)`` is ``"0.1s"``.
    """
    tenth = 100_000_000  # ns
    d = abs(round(seconds * 1e9))
    longest = max(abs(round(max_seconds * 1e9)), d)
    longest = (longest + tenth // 2) // tenth * tenth
    buf = list("000000d00h00m00.0s")
    u = (d + tenth // 2) // tenth
    u, buf[16] = u // 10, str(u % 10)
    u, buf[14] = u // 10, str(u % 10)
    if longest < 10 * 10**9:
        return "".join(buf[14:])
    u, buf[13] = u // 6, str(u % 6)
    if longest < 60 * 10**9:
        return "".join(buf[13:])
    u, buf[11] = u // 10, str(u % 10)
    if longest < 600 * 10**9:
        return "".join(buf[11:])
    u, buf[10] = u // 6, str(u % 6)
    if longest < 3600 * 10**9:
        return "".join(buf[10:])
    u, hours = divmod(u, 24)
    buf[7], buf[8] = str(hours // 10), str(hours % 10)
    if longest < 10 * 3600 * 10**9:
        return "".join(buf[8:])
    if longest < 24 * 3600 * 10**9:
        return "".join(buf[7:])
    u, buf[5] = u // 10, str(u % 10)
    day_powers = longest // (240 * 3600 * 10**9)
    i = 5
    while day_powers > 0:
        i -= 1
        u, buf[i] = u // 10, str(u % 10)
        day_powers //= 10
    return "".join(buf[i:])


def fixed_float(value: float, max_value: float, precision: int) -> str:
    """k6's GetFixedLengthFloatFormat applied: zero-padded to the width of ``max_value`` (``07.50``)."""
    width = 1 + (max_value < 0)
    if abs(max_value) >= 10:
        width += int(math.log10(abs(max_value)))
    if precision > 0:
        width += precision + 1
    return f"{value:0{width}.{precision}f}"


def stats_line(
    elapsed_s: float | None,
    max_duration_s: float,
    active_vus: int,
    initialized_vus: int,
    max_vus: int,
    complete: int,
    interrupted: int,
    paused: bool = False,
) -> str:
    """``running (00m01.2s), 0/2 VUs, 6 complete and 0 interrupted iterations``.

    ``elapsed_s`` is None before the test starts (k6 then shows no time);
    VU counts are zero-padded to the digits of ``max_vus``.
    """
    status = "paused" if paused else "running"
    if elapsed_s is not None:
        status = f"{status} ({fixed_duration(elapsed_s, max_duration_s)})"
    digits = len(str(max_vus))
    return (f"{status}, {active_vus:0{digits}d}/{initialized_vus:0{digits}d} VUs, "
            f"{complete} complete and {interrupted} interrupted iterations")


class Progress:
    """Draws ``frame()`` on ``stream`` until ``stop()``; nothing at all when ``quiet``."""

    def __init__(self, stream: TextIO, frame: Callable[[], Frame], *, quiet: bool = False, color: bool = False,
                 interval: float | None = None):
        self.stream = stream
        self._frame = frame
        self.quiet = quiet
        self.color = color
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.1 if self.tty else 1.0)
        self._term_width = _DEFAULT_TERM_WIDTH
        self._size_known = False
        # The bars' widths shrink or grow with each redraw to fit the terminal.
        self._widths: list[int] = []
        self._delta = 0 if self.tty else -_DEFAULT_WIDTH
        self._last = ""
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------
    def start(self) -> None:
        if self.quiet or self._thread is not None:
            return
        self._read_terminal_width()
        self._thread = threading.Thread(target=self._run, name="k6host-progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self._read_terminal_width()
            self._draw(go_back=True)

    def stop(self) -> None:
        """Print the final state once, left in place (k6 does this when the run ends)."""
        if self._thread is None:
            return
        self._stopped.set()
        self._thread.join()
        self._thread = None
        self._draw(go_back=False)
        self._last = ""

    def write(self, text: str, stream: TextIO | None = None) -> None:
        """Write ``text`` (to ``stream``, default this one) above the live bars, as k6's console writer does."""
        stream = stream if stream is not None else self.stream
        with self._lock:
            live = self.tty and self._thread is not None
            if self.tty:
                text = text.replace("\n", "\x1b[0K\n")
            stream.write(text)
            stream.flush()
            if live and self._last:
                self.stream.write(self._last)
                self.stream.flush()

    # -- drawing ----------------------------------------------------------------
    def _read_terminal_width(self) -> None:
        if not self.tty:
            return
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 0
        if columns > 0:
            self._term_width, self._size_known = columns, True

    def _draw(self, go_back: bool) -> None:
        text = self.render(self._frame(), go_back)
        with self._lock:
            self._last = text
            self.stream.write(text)
            self.stream.flush()

    def render(self, frame: Frame, go_back: bool = True) -> str:
        """The bytes of one redraw (k6's renderMultipleBars); also adapts the bars' width."""
        end = "\x1b[K\n" if self.tty else "\n"
        bars = frame.bars
        while len(self._widths) < len(bars):
            self._widths.append(_DEFAULT_WIDTH)
        max_left = min(max([len(bar.left) for bar in bars] + [0]), _MAX_LEFT)

        parts = [self._bar_parts(i, bar, max_left) for i, bar in enumerate(bars)]
        column_widths = [0, 0]  # of the right-hand columns except each line's last
        for _, _, _, right in parts:
            for i, column in enumerate(right[:-1][:2]):
                column_widths[i] = max(column_widths[i], len(column.encode("utf-8")))

        lines = [end, frame.stats + end]
        line_breaks = _line_breaks(len(frame.stats), self._term_width)
        longest = 0
        for (left, status, (fill, padding, percent), right), bar in zip(parts, bars):
            right_text = "".join(
                " " + column.ljust((column_widths[i] if i < 2 else 0) + 1) for i, column in enumerate(right))
            plain = left + f" {status} " + _progress_text(fill, padding, percent) + right_text
            longest = max(longest, len(plain))
            line_breaks += _line_breaks(len(plain), self._term_width)
            if self.color:
                plain = left + f" {_paint_status(status)} " + _progress_text(fill, padding, percent, faint=True) + right_text
            lines.append(plain + end)
        if self.tty and go_back:
            lines.append(f"\r\x1b[J\x1b[{len(bars) + 1 + line_breaks + 1}A")
        if self.tty:
            self._delta = self._term_width - longest - _TERM_PADDING
        return "".join(lines)

    def _bar_parts(self, index: int, bar: Bar, max_left: int) -> tuple[str, str, tuple[str, str, str], list[str]]:
        progress = min(max(bar.progress, 0.0), 1.0)
        width = int(min(max(self._widths[index] + self._delta, _MIN_WIDTH), _DEFAULT_WIDTH))
        self._widths[index] = width
        fill = padding = percent = ""
        if width > _MIN_WIDTH:
            space = width - 2
            filled = int(space * progress)
            if filled > 0:
                fill = "=" * (filled - 1) + ">" if filled < space else "=" * filled
            padding = "-" * (space - filled)
        else:
            percent = f"{progress * 100:3.0f}%"
        left = bar.left
        if max_left > 0 and len(left) > max_left:
            left = left[:max_left - 3] + "..."
        return left.ljust(max_left), bar.status or RUNNING, (fill, padding, percent), list(bar.right)


def _progress_text(fill: str, padding: str, percent: str, faint: bool = False) -> str:
    if percent:
        return f"[ {percent} ]"
    return "[" + fill + (f"\x1b[2m{padding}\x1b[22m" if faint else padding) + "]"


def _paint_status(status: str) -> str:
    if status in _STATUS_COLORS:
        start, end = _STATUS_COLORS[status]
        return start + status + end
    return status


def _line_breaks(length: int, term_width: int) -> int:
    """How many extra terminal rows a line of ``length`` takes (Go's truncating division)."""
    return max(length - _TERM_PADDING, 0) // term_width
