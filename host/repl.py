"""``k6host repl``: an interactive prompt on one VU.

The VU lives on its own thread and keeps running its event loop between
inputs, so socket listeners fire while the prompt waits; their console output
lands above the prompt (prompt_toolkit's patch_stdout). Inputs are rewritten
a little before they run, so that what a script's top level allows works at
the prompt too: ``import``, top-level ``await``, and declarations that persist.
"""

from __future__ import annotations

import os
import queue
import re
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from k6host.report.log import Log, clean_stack
from k6host.engine.interpreter import ScriptError
from k6host.engine.loader import jsmodules_dir
from k6host.modules.registry import module_path_from
from k6host.run.state import TestState
from k6host.vu.vu import VU

HELP = """\
.help           this text
.exit           leave (Ctrl-D too)
.load FILE      run a file's code at the prompt
.echo           start the built-in echo server; sets __ENV.TCP_ECHO_HOST and TCP_ECHO_PORT
Ctrl-C abandons the current input, or stops waiting for a pending await.
Try:  import { Socket } from "k6/x/tcp"
"""


_IMPORT = re.compile(
    r"""^(\s*)import\s+(?:(\*\s+as\s+\w+|\w+)|\{([^}]*)\}|(\w+)\s*,\s*\{([^}]*)\})\s+from\s+(["'][^"']+["'])\s*;?""",
    re.MULTILINE,
)
_DECLARATION = re.compile(r"^(\s*)(const|let|var)\s+(?=[\w$])", re.MULTILINE)
_CLASS = re.compile(r"^(\s*)class\s+([\w$]+)", re.MULTILINE)
_FUNCTION = re.compile(r"^(\s*)(async\s+)?function(\s*\*)?\s+([\w$]+)", re.MULTILINE)


def _imports_to_require(code: str) -> str:
    def replace(m: re.Match[str]) -> str:
        indent, single, named, default, more, module = m.groups()
        if single and single.startswith("*"):
            return f"{indent}var {single.split()[-1]} = require({module});"
        if single:
            return f"{indent}var {single} = require({module});"
        names = named if named is not None else more
        renamed = re.sub(r"\b([\w$]+)\s+as\s+([\w$]+)", r"\1: \2", names)
        prefix = f"var {default} = require({module}); " if default else ""
        return f"{indent}{prefix}var {{{renamed}}} = require({module});"

    return _IMPORT.sub(replace, code)


def prepare(code: str) -> tuple[str, bool]:
    """The code to evaluate for one input, and whether it is async.

    Declarations become global so that later inputs see them: ``var`` for
    plain inputs (run by indirect eval), plain assignments inside the async
    wrapper that top-level ``await`` needs (sloppy code makes them global).
    """
    code = _imports_to_require(code)
    if not re.search(r"\bawait\b", code):
        code = _DECLARATION.sub(r"\1var ", code)
        code = _CLASS.sub(r"\1var \2 = class \2", code)
        return code, False
    code = _DECLARATION.sub(r"\1", code)
    code = _CLASS.sub(r"\1\2 = class \2", code)
    code = _FUNCTION.sub(lambda m: f"{m.group(1)}{m.group(4)} = {m.group(2) or ''}function{m.group(3) or ''} {m.group(4)}", code)
    body = code.strip().rstrip(";")
    if "\n" not in body and ";" not in body:
        return f"(async () => ({body}))()", True
    return f"(async () => {{\n{code}\n}})()", True


def is_incomplete(code: str) -> bool:
    """Open brackets, strings, template literals or comments: wait for more lines."""
    stack: list[str] = []
    i, n = 0, len(code)
    closers = {")": "(", "]": "[", "}": "{"}
    while i < n:
        c = code[i]
        top = stack[-1] if stack else ""
        if top == "`":
            if c == "\\":
                i += 2
                continue
            if c == "`":
                stack.pop()
            elif code.startswith("${", i):
                stack.append("${")
                i += 2
                continue
        elif c in "'\"":
            j = i + 1
            while j < n and code[j] != c and code[j] != "\n":
                j += 2 if code[j] == "\\" else 1
            if j >= n:
                return True
            i = j
        elif code.startswith("//", i):
            while i < n and code[i] != "\n":
                i += 1
        elif code.startswith("/*", i):
            end = code.find("*/", i + 2)
            if end < 0:
                return True
            i = end + 1
        elif c == "`":
            stack.append("`")
        elif c in "([{":
            stack.append(c)
        elif c in ")]}":
            if top == "${" and c == "}":
                stack.pop()
            elif top == closers[c]:
                stack.pop()
            else:
                return False  # unbalanced: let the engine report the syntax error
        i += 1
    return bool(stack)


class ReplVU:
    """One VU on its own thread that runs its event loop between inputs."""

    def __init__(self, env: dict[str, str], log: Log, script_dir: Path, module_path: tuple[str, ...] = ()):
        # Relative imports and open() resolve from the folder the REPL started in.
        script = script_dir / "<repl>.js"
        self.test = TestState(script=str(script), env=env, log=log, module_path=module_path_from(env, module_path))
        self._jobs: queue.SimpleQueue[Callable[[VU], None]] = queue.SimpleQueue()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._answer: queue.SimpleQueue[tuple[str, bool]] = queue.SimpleQueue()
        self.error: ScriptError | None = None
        self._thread = threading.Thread(target=self._main, name="repl-vu", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self.error is not None:
            raise self.error

    def _main(self) -> None:
        try:
            vu = VU(self.test, 1)
            vu.engine.export("repl.done", lambda text, failed: self._answer.put((text, failed)))
            vu.init_runtime()
            vu.engine.eval((jsmodules_dir() / "repl.js").read_text(encoding="utf-8"), str(jsmodules_dir() / "repl.js"))
            vu.begin_interactive()
        except ScriptError as exc:
            self.error = exc
            self._ready.set()
            return
        self._ready.set()
        while not self._stop.is_set():
            try:
                job = self._jobs.get(timeout=0.02 if vu.loop.busy else 0.1)
            except queue.Empty:
                job = None
            if job is not None:
                job(vu)
            vu.pump(0.0 if job is not None else 0.02)
        vu.close()

    def call(self, job: Callable[[VU], Any], timeout: float = 5.0) -> Any:
        box: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()

        def wrapped(vu: VU) -> None:
            try:
                box.put((True, job(vu)))
            except Exception as exc:  # handed back to the prompt's thread
                box.put((False, exc))

        self._jobs.put(wrapped)
        ok, value = box.get(timeout=timeout)
        if not ok:
            raise value
        return value

    def evaluate(self, code: str) -> tuple[str, bool]:
        """Run one input: (text to show, is an error). Ctrl-C (KeyboardInterrupt)
        stops the waiting; a late answer is dropped before the next input."""
        prepared, is_async = prepare(code)
        while not self._answer.empty():
            self._answer.get()  # a late answer to an abandoned await

        def start(vu: VU) -> None:
            try:
                vu.engine.eval("__k6host.repl.run(dukpy.c, dukpy.a)", c=prepared, a=is_async)
            except ScriptError as exc:
                self._answer.put((exc.text, True))

        self._jobs.put(start)
        while True:
            try:
                return self._answer.get(timeout=0.05)
            except queue.Empty:
                continue

    def complete(self, path: str) -> list[str]:
        try:
            return self.call(lambda vu: vu.engine.eval("__k6host.repl.complete(dukpy.p)", p=path), timeout=1.0)
        except (queue.Empty, ScriptError):
            return []

    def set_env(self, values: dict[str, str]) -> None:
        self.call(lambda vu: vu.engine.eval("Object.assign(__ENV, dukpy.v); undefined", v=values))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)


class _Completer:
    """Tab completes globals, and properties after ``a.b.``."""

    def __init__(self, vu: ReplVU):
        self.vu = vu

    def get_completions(self, document: Any, _event: Any) -> Iterable[Any]:
        from prompt_toolkit.completion import Completion

        match = re.search(r"((?:[\w$]+\.)*)([\w$]*)$", document.text_before_cursor)
        if not match:
            return
        path, prefix = match.group(1).rstrip("."), match.group(2)
        for name in self.vu.complete(path):
            if name.startswith(prefix):
                yield Completion(name, start_position=-len(prefix))

    async def get_completions_async(self, document: Any, event: Any):  # prompt_toolkit calls this one
        for completion in self.get_completions(document, event):
            yield completion


def history_path() -> Path:
    return Path(os.environ.get("K6HOST_HISTORY") or Path.home() / ".k6host_history")


def main(env: dict[str, str], module_path: tuple[str, ...] = ()) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.patch_stdout import patch_stdout

    class Completions(_Completer, Completer):
        pass

    with patch_stdout(raw=True):
        log = Log(sys.stdout, plain=True)
        try:
            vu = ReplVU(env, log, Path.cwd(), module_path)
        except ScriptError as exc:
            sys.stderr.write(f"k6host repl: {exc.headline}\n")
            return 1
        if vu.test.modules.registry.conflicts:
            for conflict in vu.test.modules.registry.conflicts:
                sys.stderr.write(f"k6host repl: {conflict}\n")
            return 107
        for problem in vu.test.modules.problems():
            log("warning", problem)
        session: PromptSession[str] = PromptSession(
            history=FileHistory(str(history_path())), completer=Completions(vu), complete_while_typing=False
        )
        echo = None
        print("k6host repl: a VU at your prompt. .help for help, .exit to leave.")
        try:
            while True:
                try:
                    code = _read_input(session)
                except KeyboardInterrupt:
                    continue
                except EOFError:
                    break
                command = code.strip()
                if not command:
                    continue
                if command in (".exit", ".quit"):
                    break
                if command == ".help":
                    print(HELP, end="")
                    continue
                if command == ".echo":
                    echo = echo or _start_echo()
                    vu.set_env({"TCP_ECHO_HOST": echo.host, "TCP_ECHO_PORT": str(echo.port)})
                    print(f"echo server on {echo.host}:{echo.port}; __ENV.TCP_ECHO_HOST and TCP_ECHO_PORT are set")
                    continue
                if command.startswith(".load"):
                    name = command[len(".load"):].strip()
                    try:
                        code = Path(name).read_text(encoding="utf-8")
                    except OSError as exc:
                        print(f".load: cannot read {name!r}: {exc.strerror or exc}")
                        continue
                elif command.startswith("."):
                    print(f"unknown command {command.split()[0]}; .help lists the commands")
                    continue
                _show(vu, code)
        finally:
            vu.close()
            if echo is not None:
                echo.stop()
    return 0


def _read_input(session: Any) -> str:
    lines = [session.prompt("> ")]
    while is_incomplete("\n".join(lines)):
        lines.append(session.prompt("... "))
    return "\n".join(lines)


def _show(vu: ReplVU, code: str) -> None:
    try:
        text, failed = vu.evaluate(code)
    except KeyboardInterrupt:
        print("(abandoned; the VU keeps running)")
        return
    print(clean_stack(text) if failed else text)


def _start_echo() -> Any:
    from k6host.testing.echo import EchoServer

    server = EchoServer()
    server.start()
    return server
