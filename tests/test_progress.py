"""The live progress display, drawn on real pseudo-terminals; the oracle replays k6 1.1.0's own frames."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from k6host.report.progress import DONE, WAITING, Bar, Frame, Progress, fixed_duration, fixed_float, stats_line
from k6host.run.durations import format_duration


def _find_k6() -> str | None:
    beside = Path(sys.executable).parent / "k6"
    return shutil.which("k6") or (str(beside) if beside.is_file() else None)


K6 = _find_k6()
needs_k6 = pytest.mark.skipif(K6 is None, reason="oracle test: no k6 binary on PATH or next to the Python executable")


class Terminal:
    """A pty of a given width whose output a thread keeps reading (so writers never block)."""

    def __init__(self, columns: int = 100):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.ONLCR  # keep "\n" as written, without the terminal's "\r\n"
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        self.stream = os.fdopen(slave, "w", encoding="utf-8")
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self._chunks.append(chunk)

    def text(self) -> str:
        return b"".join(self._chunks).decode("utf-8", "replace")

    def wait_for(self, predicate, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.text()):
                break
            time.sleep(0.01)
        return self.text()

    def close(self) -> None:
        self.stream.close()
        self._reader.join(timeout=5)
        os.close(self.master)


@pytest.fixture
def terminal():
    term = Terminal()
    yield term
    term.close()


# -- formatting helpers -----------------------------------------------------------


@pytest.mark.parametrize("seconds, longest, text", [
    (0.1, 2.5, "0.1s"), (0.0, 0.0, "0.0s"), (1.6, 30, "01.6s"), (1.0, 600, "00m01.0s"), (59.2, 62.2, "0m59.2s"),
    (62.2, 62.2, "1m02.2s"), (242.2, 3600, "0h04m02.2s"), (3598.9, 3600, "0h59m58.9s"), (36000, 36000, "10h00m00.0s"),
    (90000, 950400, "01d01h00m00.0s"), (1.26, 5, "1.3s"),
])
def test_fixed_duration(seconds, longest, text):
    assert fixed_duration(seconds, longest) == text  # the values k6 1.1.0 shows for these


@pytest.mark.parametrize("seconds, text", [
    (600, "10m0s"), (630, "10m30s"), (2.5, "2.5s"), (3600, "1h0m0s"), (0.5, "500ms"), (0, "0s"),
    (1.5e-6, "1.5µs"), (90061, "25h1m1s"), (30, "30s"),
])
def test_go_duration(seconds, text):
    assert format_duration(seconds) == text


def test_fixed_float():
    # As k6's arrival-rate executors print "NN.NN iters/s" for a maximum rate.
    assert fixed_float(7.5, 10, 2) == "07.50"
    assert fixed_float(7.5, 9.9, 2) == "7.50"
    assert fixed_float(3, 250, 0) == "003"


def test_stats_line():
    assert stats_line(0.0, 600, 0, 2, 2, 6, 0) == "running (00m00.0s), 0/2 VUs, 6 complete and 0 interrupted iterations"
    assert stats_line(3598.9, 3600, 0, 600, 600, 600, 0) == (
        "running (0h59m58.9s), 000/600 VUs, 600 complete and 0 interrupted iterations")
    assert stats_line(None, 600, 1, 1, 10, 0, 3, paused=True) == "paused, 01/01 VUs, 0 complete and 3 interrupted iterations"


# -- rendering --------------------------------------------------------------------

FIRST = Frame("running (00m01.0s), 2/3 VUs, 2 complete and 0 interrupted iterations", [
    Bar("alpha", 0.4, ["2 VUs", "1.0s/2.5s"]), Bar("beta_long_scenario_name", 0.0, ["waiting", "0.0s"], WAITING)])
SECOND = Frame("running (00m02.0s), 3/3 VUs, 7 complete and 0 interrupted iterations", [
    Bar("alpha", 0.8, ["2 VUs", "2.0s/2.5s"]), Bar("beta_long_scenario_name", 1 / 3, ["1 VUs", "00m01.0s/10m0s",
                                                                                      "1/3 shared iters"])])


def test_not_a_terminal_prints_percentages_like_k6():
    out = io.StringIO()
    progress = Progress(out, lambda: FIRST)
    # Two consecutive blocks from a k6 1.1.0 run with its stdout redirected to a file.
    assert progress.render(FIRST) == ("\nrunning (00m01.0s), 2/3 VUs, 2 complete and 0 interrupted iterations\n"
                                      "alpha                     [  40% ] 2 VUs    1.0s/2.5s\n"
                                      "beta_long_scenario_name • [   0% ] waiting  0.0s\n")
    assert progress.render(SECOND) == ("\nrunning (00m02.0s), 3/3 VUs, 7 complete and 0 interrupted iterations\n"
                                       "alpha                     [  80% ] 2 VUs  2.0s/2.5s      \n"
                                       "beta_long_scenario_name   [  33% ] 1 VUs  00m01.0s/10m0s  1/3 shared iters\n")


def test_terminal_frames_redraw_in_place(terminal):
    progress = Progress(terminal.stream, lambda: FIRST)
    progress._read_terminal_width()
    first = Frame("running (00m00.1s), 2/3 VUs, 0 complete and 0 interrupted iterations", [
        Bar("alpha", 0.04, ["2 VUs", "0.1s/2.5s"]), Bar("beta_long_scenario_name", 0.0, ["waiting", "0.9s"], WAITING)])
    # k6 1.1.0's first frame on a 100-column terminal, --no-color.
    assert progress.render(first) == (
        "\x1b[K\nrunning (00m00.1s), 2/3 VUs, 0 complete and 0 interrupted iterations\x1b[K\n"
        "alpha                     [>-------------------------------------] 2 VUs    0.1s/2.5s\x1b[K\n"
        "beta_long_scenario_name • [--------------------------------------] waiting  0.9s\x1b[K\n"
        "\r\x1b[J\x1b[4A")
    colored = Progress(terminal.stream, lambda: FIRST, color=True)
    colored._read_terminal_width()
    done = Frame("running (00m02.5s), 0/3 VUs, 13 complete and 0 interrupted iterations", [
        Bar("alpha", 1.0, ["2 VUs", "2.5s"], DONE), Bar("beta", 1.0, ["1 VUs", "00m01.5s/10m0s", "3/3 shared iters"], DONE)])
    text = colored.render(done, go_back=False)
    assert "alpha \x1b[32m✓\x1b[0m [======================================\x1b[2m\x1b[22m] 2 VUs  2.5s" in text
    assert not text.endswith("A")


def test_live_progress_on_a_terminal(terminal):
    count = [0]

    def frame() -> Frame:
        count[0] += 1
        return Frame(stats_line(count[0] / 10, 600, 1, 1, 1, count[0], 0), [Bar("default", min(count[0] / 10, 1),
                                                                                ["1 VUs", f"{count[0]}/10 iters"])])

    progress = Progress(terminal.stream, frame, interval=0.02)
    assert progress.tty and not progress.quiet
    progress.start()
    terminal.wait_for(lambda text: text.count("\x1b[3A") >= 3)
    progress.write("a log line\n")
    seen = terminal.wait_for(lambda text: "a log line\x1b[0K\n" in text)
    progress.stop()
    after_log = seen[seen.index("a log line\x1b[0K\n") + len("a log line\x1b[0K\n"):]
    assert after_log.startswith("\x1b[K\nrunning (")  # the bars come back below the line
    final = terminal.wait_for(lambda text: text.endswith(" iters\x1b[K\n"))
    last = final[final.rindex("\x1b[K\nrunning ("):]
    assert "\x1b[J" not in last and last.count("\x1b[K\n") == 3  # drawn once more, left in place
    assert f"{count[0]}/10 iters" in last


def test_quiet_draws_nothing(terminal):
    progress = Progress(terminal.stream, lambda: FIRST, quiet=True, interval=0.01)
    progress.start()
    time.sleep(0.1)
    progress.stop()
    terminal.stream.write("END")
    terminal.stream.flush()
    assert terminal.wait_for(lambda text: "END" in text) == "END"


def test_not_a_terminal_prints_blocks_then_the_final_state():
    out = io.StringIO()
    progress = Progress(out, lambda: FIRST, interval=0.02)
    assert not progress.tty
    progress.start()
    deadline = time.monotonic() + 5
    while out.getvalue().count("running (") < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    progress.stop()
    blocks = out.getvalue().split("\nrunning (")
    assert len(blocks) >= 3 and "\x1b" not in out.getvalue()
    progress.write("plain\n")
    assert out.getvalue().endswith("0.0s\nplain\n")


# -- oracle: k6's own frames ------------------------------------------------------

SCENARIOS = """
import { sleep } from 'k6';
export const options = { scenarios: {
  alpha: { executor: 'constant-vus', vus: 2, duration: '1200ms' },
  beta_long_scenario_name: { executor: 'shared-iterations', vus: 1, iterations: 2, startTime: '500ms' },
} };
export default function () { sleep(0.3); }
"""
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse_frames(text: str) -> list[tuple[Frame, bool]]:
    """k6's redraws as (frame, ended by a go-back): each starts with an empty line and the stats line."""
    frames = []
    previous = None
    for match in re.finditer(r"\x1b\[K\n(running \(.*?)(\r\x1b\[J\x1b\[\d+A|\Z)", text, re.S):
        if match.group(0) == previous:
            continue  # k6 reprints the last frame after other output without redrawing it
        previous = match.group(0)
        lines = match.group(1).split("\x1b[K\n")
        bars = []
        for line in lines[1:]:
            if not line:
                continue
            left, status, inner, right = re.match(r"^(.*?) (.) \[(.*?)\](.*)$", ANSI.sub("", line)).groups()
            if inner.startswith(" "):
                progress = float(inner.strip().rstrip("%")) / 100
            else:
                filled = len(inner.rstrip("-"))
                progress = 1.0 if filled == len(inner) else (filled + 0.5) / len(inner)
            bars.append(Bar(left.rstrip(), progress, re.split(r" {2,}", right.strip()) if right.strip() else [],
                            status))
        frames.append((Frame(lines[0], bars), bool(match.group(2))))
    return frames


@needs_k6
@pytest.mark.parametrize("color", [False, True], ids=["no-color", "color"])
def test_oracle_every_k6_frame_is_redrawn_identically(tmp_path, color):
    (tmp_path / "s.js").write_text(SCENARIOS)
    term = Terminal(columns=100)
    try:
        proc = subprocess.Popen([K6, "run", *([] if color else ["--no-color"]), "s.js"], cwd=tmp_path,
                                stdout=term.stream.fileno(), stderr=subprocess.DEVNULL)
        assert proc.wait(timeout=120) == 0
        raw = term.wait_for(lambda text: text.count("running (") > 3 and text.endswith("\n"), timeout=5)
    finally:
        term.close()
    start = raw.index("\x1b[K\nrunning (")
    k6_text = raw[start:].replace("\x1b[0K\n", "\n")
    frames = parse_frames(k6_text)
    assert len(frames) >= 5

    replay = Terminal(columns=100)
    try:
        ours = Progress(replay.stream, lambda: frames[0][0], color=color)
        ours._read_terminal_width()
        for frame, go_back in frames:
            drawn = ours.render(frame, go_back)
            assert drawn in raw, (drawn, raw)
    finally:
        replay.close()
