"""``k6host repl`` through a pseudo-terminal, as a person at a keyboard uses it.

The REPL runs as a real process on a pty (pexpect), with HOME and the history
file inside tmp_path. The terminal is an xterm that does not answer cursor
position requests (PROMPT_TOOLKIT_NO_CPR), so prompt_toolkit draws at once.

Synchronising with a line editor: prompt_toolkit switches bracketed paste on
(ESC[?2004h) each time it starts reading a line and off (ESC[?2004l) when the
line is accepted. Keys that only mean something to the line editor (Tab, Up,
Ctrl-D) are sent once the prompt for them is up, as a person would; answers are
looked for in all output since the input was sent, because with patch_stdout
an answer may print after the next prompt is drawn.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

PROMPT_ON = "\x1b[?2004h"
PROMPT_OFF = "\x1b[?2004l"
WAIT = 15.0  # seconds for any one thing to show up; generous for a loaded machine
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]|[\r\x08\x07]")


def plain(raw: str) -> str:
    """Terminal output without escape sequences, carriage returns and backspaces."""
    return _ESCAPES.sub("", raw)


def _command() -> list[str]:
    script = Path(sys.executable).with_name("k6host")
    if script.is_file():
        return [str(script), "repl"]
    found = shutil.which("k6host")
    return [found, "repl"] if found else [sys.executable, "-m", "k6host", "repl"]


class Repl:
    """One ``k6host repl`` process on a pseudo-terminal."""

    def __init__(self, home: Path, history: Path | None, cwd: Path):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("K6HOST_", "PYTEST_"))}
        env.update(HOME=str(home), TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", LANG="C.UTF-8", LC_ALL="C.UTF-8")
        if history is not None:
            env["K6HOST_HISTORY"] = str(history)
        command = _command()
        self.child = pexpect.spawn(
            command[0], command[1:], cwd=str(cwd), env=env, encoding="utf-8", codec_errors="replace",
            dimensions=(50, 250), timeout=WAIT,
        )
        self.raw = ""
        self.eof = False
        self.prompts_used = 0  # prompts (line reads) that have been answered with Enter, Ctrl-C...
        self.wait_for("the banner", lambda: "help for help" in plain(self.raw))

    # -- reading -------------------------------------------------------------------------

    def _pump(self) -> None:
        try:
            self.raw += self.child.read_nonblocking(65536, timeout=0.05)
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            self.eof = True

    def wait_for(self, what: str, ready, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout:g} s for {what}; the terminal showed:\n{plain(self.raw)[-4000:]}")
            if self.eof:
                raise AssertionError(f"the REPL ended while waiting for {what}; the terminal showed:\n{plain(self.raw)[-4000:]}")
            self._pump()

    def since(self, mark: int) -> str:
        return plain(self.raw[mark:])

    def expect(self, pattern: str, since: int, timeout: float = WAIT, regex: bool = False) -> str:
        """Wait until ``pattern`` shows up in the output after raw offset ``since``."""
        found: list[str] = []

        def seen() -> bool:
            text = self.since(since)
            match = re.search(pattern, text) if regex else (pattern if pattern in text else None)
            if match is not None:
                found.append(match.group(0) if regex else pattern)
            return match is not None

        self.wait_for(repr(pattern), seen, timeout)
        return found[0]

    # -- typing -----------------------------------------------------------------------------

    def prompt_ready(self) -> None:
        """Wait until the line editor is reading the next line."""
        wanted = self.prompts_used + 1
        self.wait_for(f"prompt {wanted}", lambda: self.raw.count(PROMPT_ON) >= wanted)

    def keys(self, data: str, *, ends_prompt: bool = False) -> int:
        """Type ``data`` at the prompt; returns the output offset before it."""
        self.prompt_ready()
        mark = len(self.raw)
        self.child.send(data)
        if ends_prompt:
            self.prompts_used += 1
        return mark

    def line(self, text: str) -> int:
        return self.keys(text + "\r", ends_prompt=True)

    def ask(self, text: str, answer: str, regex: bool = False) -> str:
        """Enter ``text`` and wait for ``answer`` in what follows."""
        return self.expect(answer, self.line(text), regex=regex)

    def evaluating(self) -> None:
        """Wait until the last line was accepted (the terminal is back in cooked mode)."""
        self.wait_for("the line to be accepted", lambda: self.raw.count(PROMPT_OFF) >= self.prompts_used)

    def finish(self, timeout: float = WAIT) -> int:
        """Wait for the process to end; its exit status."""
        self.wait_for("the REPL to exit", lambda: self.eof or not self.child.isalive(), timeout)
        self.child.expect(pexpect.EOF, timeout=timeout)
        self.child.close()
        return self.child.exitstatus

    def close(self) -> None:
        if self.child.isalive():
            self.child.close(force=True)


@pytest.fixture
def repl(tmp_path):
    """Start a REPL (HOME and history in tmp_path); every one is ended at teardown."""
    started: list[Repl] = []

    def start(history: Path | None = tmp_path / "history", cwd: Path = tmp_path) -> Repl:
        session = Repl(tmp_path, history, cwd)
        started.append(session)
        return session

    yield start
    for session in started:
        session.close()


# -- a session with a socket ------------------------------------------------------------------


def test_echo_session_with_a_socket(repl):
    r = repl()
    r.ask(".echo", "TCP_ECHO_PORT are set")
    r.ask('import { Socket } from "k6/x/tcp"', "undefined")
    r.ask("const s = new Socket()", "undefined")
    r.ask('s.on("data", d => console.log("got", String.fromCharCode.apply(null, d)))', "undefined")
    r.ask("await s.connect(__ENV.TCP_ECHO_PORT, __ENV.TCP_ECHO_HOST)", "undefined")
    r.ask("s.ready_state", '"open"')
    r.ask('await s.write("hello")', "got hello")
    r.ask("s.destroy()", "undefined")
    r.ask("s.ready_state", '"destroyed"')
    r.line(".exit")
    assert r.finish() == 0


def test_listener_output_appears_while_the_prompt_is_idle(repl):
    r = repl()
    mark = r.line('setTimeout(() => console.log("later " + (6 * 7)), 300)')
    # Nothing more is typed: the VU's loop runs between inputs.
    r.expect("later 42", mark)
    r.ask("'still here'", '"still here"')
    r.line(".exit")
    assert r.finish() == 0


# -- evaluation ---------------------------------------------------------------------------------


def test_declarations_persist_across_inputs(repl):
    r = repl()
    r.line("const a = 1")
    r.line("let b = 2")
    r.line("var v = 3")
    r.line("function add(x, y) { return x + y }")
    r.line("class Pt { constructor(x) { this.x = x } }")
    r.line("const c = await Promise.resolve(4)")
    r.ask("add(a, b) + v + c + new Pt(10).x", "20")
    r.ask("typeof Pt + ' ' + typeof add", '"function function"')
    r.line(".exit")
    assert r.finish() == 0


def test_top_level_await_prints_the_value(repl):
    r = repl()
    r.ask('await new Promise((resolve) => setTimeout(() => resolve("waited " + 2 * 50), 100))', '"waited 100"')
    r.ask("await Promise.resolve({ n: 7 })", r'n"?\s*:\s*7', regex=True)
    r.ask("await Promise.reject(new Error('refused politely'))", "Error: refused politely")
    r.ask("1 + 1", "2")
    r.line(".exit")
    assert r.finish() == 0


def test_values_print_readably(repl):
    r = repl()
    mark = r.line('({ a: 1, b: [1, 2], c: "x" })')
    r.expect(r'a"?\s*:\s*1', mark, regex=True)
    r.expect(r'b"?\s*:\s*\[\s*1,\s*2\s*\]', mark, regex=True)
    mark = r.line("new Uint8Array([104, 105, 33, 0])")
    r.expect("Uint8Array(4)", mark)
    r.expect("104, 105, 33, 0", mark)
    r.expect("hi!", mark)  # the text preview
    mark = r.line('new Error("oops, an error")')
    r.expect("Error: oops, an error", mark)
    r.expect(r"\n\s+at ", mark, regex=True)  # with its stack
    r.ask('"a string"', '"a string"')
    r.ask("undefined", "undefined")
    r.ask("[1, 'two', null]", r'\[\s*1,\s*["\']two["\'],\s*null\s*\]', regex=True)
    r.line(".exit")
    assert r.finish() == 0


def test_error_stack_shows_no_host_frames(repl):
    r = repl()
    mark = r.line("function thrower() { throw new Error('from thrower') }; thrower()")
    r.expect("Error: from thrower", mark)
    r.expect("at thrower", mark)
    r.ask("'next'", '"next"')  # everything of the error has been printed by now
    shown = r.since(mark)
    assert "<dukpy>" not in shown and "(native)" not in shown, shown


def test_thrown_errors_do_not_end_the_session(repl):
    r = repl()
    r.ask("throw new TypeError('bad thing')", "TypeError: bad thing")
    r.ask("no_such_name", "ReferenceError")
    r.ask("const x = ;", "SyntaxError")
    r.ask("21 * 2", "42")
    r.line(".exit")
    assert r.finish() == 0


def test_incomplete_input_continues_on_the_next_line(repl):
    r = repl()
    r.line("function f(a) {")
    r.line("return a * 2 }")
    r.ask("f(21)", "42")
    r.line("`first line")
    r.ask("second line`", r'"first line\\nsecond line"|first line\s+second line', regex=True)
    r.line("[1,")
    r.line(" 2,")
    r.ask(" 3].length", "3")
    r.line(".exit")
    assert r.finish() == 0


# -- commands -------------------------------------------------------------------------------------


def test_help(repl):
    r = repl()
    mark = r.line(".help")
    for command in (".help", ".exit", ".load", ".echo"):
        r.expect(command, mark)
    r.line(".exit")
    assert r.finish() == 0


def test_load_runs_a_file(repl, tmp_path):
    (tmp_path / "defs.js").write_text('const loaded = 6 * 7\nfunction triple(x) { return 3 * x }\nconsole.log("defs loaded")\n')
    r = repl()
    mark = r.line(".load defs.js")
    r.expect("defs loaded", mark)
    r.ask("triple(loaded)", "126")
    r.ask(".load no-such-file.js", "no-such-file.js")
    r.ask("'after a failed load'", '"after a failed load"')
    r.line(".exit")
    assert r.finish() == 0


def test_unknown_command_gets_a_message(repl):
    r = repl()
    mark = r.line(".frobnicate now")
    r.expect(".frobnicate", mark)
    r.expect(".help", mark)
    r.ask("'alive'", '"alive"')
    r.line(".exit")
    assert r.finish() == 0


def test_exit_leaves_with_status_0(repl):
    r = repl()
    r.ask("1", "1")
    r.line(".exit")
    assert r.finish() == 0


def test_ctrl_d_leaves_with_status_0(repl):
    r = repl()
    r.ask("1", "1")
    r.keys("\x04")
    assert r.finish() == 0


# -- Ctrl-C ---------------------------------------------------------------------------------------


def test_ctrl_c_abandons_a_pending_await(repl):
    r = repl()
    r.line("const kept = 'kept value'")
    mark = r.line("await new Promise(() => {})")
    r.evaluating()
    time.sleep(0.3)
    r.child.sendintr()
    r.expect("abandoned", mark)
    r.ask("kept", '"kept value"')
    r.ask("await Promise.resolve(40 + 2)", "42")
    r.line(".exit")
    assert r.finish() == 0


def test_ctrl_c_abandons_the_current_input(repl):
    r = repl()
    r.keys("this is not javascript")
    r.keys("\x03", ends_prompt=True)
    mark = r.line("6 * 7")
    r.expect("42", mark)
    assert "SyntaxError" not in r.since(0)
    r.line(".exit")
    assert r.finish() == 0


# -- history and completion ---------------------------------------------------------------------------


def test_history_persists_across_sessions(repl, tmp_path):
    history = tmp_path / "history"
    first = repl(history)
    first.ask('"recalled" + " value " + 6 * 7', '"recalled value 42"')
    first.keys("\x04")  # Ctrl-D: leaves nothing in the history after the input
    assert first.finish() == 0
    assert history.is_file()
    assert '"recalled" + " value " + 6 * 7' in history.read_text()

    second = repl(history)
    mark = second.keys("\x1b[A")  # Up
    second.expect("recalled", mark)
    mark = second.keys("\r", ends_prompt=True)
    second.expect('"recalled value 42"', mark)
    second.line(".exit")
    assert second.finish() == 0


def test_history_defaults_to_home(repl, tmp_path):
    r = repl(history=None)
    r.ask("'into the default history'", '"into the default history"')
    r.line(".exit")
    assert r.finish() == 0
    assert "'into the default history'" in (tmp_path / ".k6host_history").read_text()


def test_tab_completes_a_global_and_a_property(repl, tmp_path):
    r = repl()
    r.ask('import { Socket } from "k6/x/tcp"', "undefined")
    mark = r.keys("Sock\t")
    r.expect("Socket", mark)
    mark = r.keys("\r", ends_prompt=True)
    r.expect("[Function: Socket]", mark)
    r.ask("const s = new Socket()", "undefined")
    mark = r.keys("s.rea\t")
    r.expect("ready_state", mark)
    mark = r.keys("\r", ends_prompt=True)
    r.expect('"disconnected"', mark)
    r.line(".exit")
    assert r.finish() == 0
    entries = (tmp_path / "history").read_text()
    assert "+Socket\n" in entries and "+s.ready_state\n" in entries, entries
