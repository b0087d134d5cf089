"""The pytest plugin, driven the way a user drives it: a real ``pytest`` in a subprocess.

Each test writes its JavaScript test files (and a pytest.ini) into a fresh
folder and runs ``python -m pytest`` there, so what is checked is exactly what
a user sees: exit codes, node ids, the failure report, and how the plugin
plays with pytest's own options (-k, -x, --lf, --junitxml) and with xdist.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

# Frames of the host's Python code (``.../host/pytest_plugin.py:120: in runtest``)
# or a Python traceback: none of it means anything to the author of a JavaScript test.
HOST_FRAMES = re.compile(r"Traceback \(most recent call last\)|(^|[/\\])(k6)?host[/\\]\w+\.py|INTERNALERROR", re.MULTILINE)


@dataclass
class Outcome:
    returncode: int
    output: str  # stdout and stderr together

    @property
    def log(self) -> str:
        """Exit code and whole output, for assertion messages (an object would be cut short)."""
        return f"exit code {self.returncode}; output:\n{self.output}"

    def counts(self) -> dict[str, int]:
        """The final tally: {"passed": 2, "failed": 1, ...}."""
        lines = [line for line in self.output.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
        if not lines:
            return {}
        return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|errors?|deselected|skipped)", lines[-1])}


def _clean_env() -> dict[str, str]:
    # The outer pytest (and xdist) set PYTEST_* variables that would change the inner run.
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}


def run_pytest(folder: Path, *args: str, timeout: float = 60, cache: bool = False) -> Outcome:
    """``python -m pytest ARGS`` in ``folder``; killed (with its xdist workers) after ``timeout`` s."""
    command = [sys.executable, "-m", "pytest", "--rootdir", str(folder), "--color=no", *args]
    if not cache:
        command[3:3] = ["-p", "no:cacheprovider"]
    proc = subprocess.Popen(
        command, cwd=folder, env=_clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"pytest {' '.join(args)} did not finish within {timeout} s; output so far:\n{out}")
    return Outcome(proc.returncode, out)


def write(folder: Path, files: dict[str, str], ini: str = "") -> Path:
    """Write ``files`` (dedented) and a pytest.ini into ``folder``."""
    (folder / "pytest.ini").write_text("[pytest]\n" + textwrap.dedent(ini))
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip("\n"))
    return folder


def line_of(text: str, marker: str) -> int:
    """The 1-based line of the dedented ``text`` that holds ``marker``."""
    lines = textwrap.dedent(text).lstrip("\n").splitlines()
    return next(i for i, line in enumerate(lines, 1) if marker in line)


PASSING = """
import { check } from "k6"
import { Socket } from "k6/x/tcp"

export default function () {
  check(1, { "one is one": (v) => v === 1 })
}

export async function testEcho() {
  const s = new Socket()
  const reply = new Promise((resolve) => s.on("data", resolve))
  await s.connect(__ENV.TCP_ECHO_PORT, __ENV.TCP_ECHO_HOST)
  await s.write("ping")
  const text = String.fromCharCode.apply(null, await reply)
  s.destroy()
  if (text !== "ping") throw new Error("echo said " + text)
}

export function testSync() {}

// Exported, but not a test: neither default nor test*.
export function helper() { throw new Error("helper must not be collected") }
"""


# -- collecting and passing -------------------------------------------------------------------


def test_passing_file(tmp_path):
    write(tmp_path, {"a.test.js": PASSING})
    r = run_pytest(tmp_path, "-q")
    assert r.returncode == 0, r.log
    assert r.counts() == {"passed": 3}, r.log


def test_node_ids_are_file_and_export(tmp_path):
    write(tmp_path, {"a.test.js": PASSING, "not_a_test.js": "export default function () { throw new Error('x') }"})
    r = run_pytest(tmp_path, "--collect-only", "-q")
    assert r.returncode == 0, r.log
    ids = [line for line in r.output.splitlines() if "::" in line]
    assert sorted(ids) == ["a.test.js::default", "a.test.js::testEcho", "a.test.js::testSync"], r.log


def test_a_node_id_runs_just_that_test(tmp_path):
    write(tmp_path, {"a.test.js": PASSING})
    r = run_pytest(tmp_path, "-q", "-rA", "a.test.js::testSync")
    assert r.returncode == 0, r.log
    assert r.counts() == {"passed": 1}, r.log
    assert "PASSED a.test.js::testSync" in r.output, r.log


def test_verbose_lines_name_the_node_id(tmp_path):
    write(tmp_path, {"a.test.js": PASSING})
    r = run_pytest(tmp_path, "-v")
    assert r.returncode == 0, r.log
    for name in ("default", "testEcho", "testSync"):
        assert re.search(rf"^a\.test\.js::{name} PASSED", r.output, re.MULTILINE), r.log


@pytest.mark.parametrize(
    "name, source",
    [
        ("m.test.mjs", "export function testInMjs() {}\nexport default function () {}\n"),
        ("c.test.cjs", 'const { check } = require("k6")\nexports.testInCjs = function () { check(1, { ok: () => true }) }\n'),
    ],
)
def test_mjs_and_cjs_files_are_collected(tmp_path, name, source):
    write(tmp_path, {name: source})
    r = run_pytest(tmp_path, "-q", "-rA")
    assert r.returncode == 0, r.log
    test = "testInMjs" if name.endswith(".mjs") else "testInCjs"
    assert f"PASSED {name}::{test}" in r.output, r.log


# -- failures: what the report shows ------------------------------------------------------------

FAILURES = {
    "throw": (
        """
        export function testIt() {
          const x = 1
          throw new Error("plain throw " + x)  // HERE
        }
        """,
        "Error: plain throw 1",
    ),
    "async rejection": (
        """
        export async function testIt() {
          await Promise.resolve()
          throw new Error("rejected after await")  // HERE
        }
        """,
        "rejected after await",
    ),
    "fail() from k6": (
        """
        import { fail } from "k6"
        export function testIt() {
          fail("failed on purpose")  // HERE
        }
        """,
        "failed on purpose",
    ),
    "throwing listener": (
        """
        import { Socket } from "k6/x/tcp"
        export async function testIt() {
          const s = new Socket()
          s.on("connect", () => { throw new Error("listener threw") })  // HERE
          await s.connect(__ENV.TCP_ECHO_PORT, __ENV.TCP_ECHO_HOST)
          s.destroy()
        }
        """,
        "listener threw",
    ),
    "unhandled rejection": (
        """
        export function testIt() {
          Promise.reject(new Error("nobody caught this"))  // HERE
        }
        """,
        "nobody caught this",
    ),
    "unhandled rejection in a timer": (
        """
        export async function testIt() {
          setTimeout(() => Promise.reject(new Error("rejected in a timer")), 10)  // HERE
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
        """,
        "rejected in a timer",
    ),
    "test.fail()": (
        """
        import exec from "k6/execution"
        export function testIt() {
          exec.test.fail("marked as failed here")  // HERE
        }
        """,
        "test.fail(): marked as failed here",
    ),
    "test.fail() in a helper, after awaiting": (
        """
        import { test } from "k6/execution"
        function mustBePositive(n) {
          if (n <= 0) test.fail(`${n} is not positive`)  // HERE
        }
        export async function testIt() {
          await Promise.resolve()
          mustBePositive(-1)
        }
        """,
        "test.fail(): -1 is not positive",
    ),
}


@pytest.mark.parametrize("kind", list(FAILURES))
def test_failure_report_shows_the_javascript_error(tmp_path, kind):
    source, message = FAILURES[kind]
    write(tmp_path, {"t.test.js": source})
    r = run_pytest(tmp_path, "-q")
    assert r.returncode == 1, r.log
    assert r.counts() == {"failed": 1}, r.log
    assert "t.test.js::testIt" in r.output, r.log
    assert message in r.output, r.log
    assert f"t.test.js:{line_of(source, '// HERE')}" in r.output, r.log
    assert not HOST_FRAMES.search(r.output), r.log


def test_test_fail_from_k6_execution_fails_the_test(tmp_path):
    write(tmp_path, {"t.test.js": """
        import exec from "k6/execution"
        export function testIt() {
          exec.test.fail("marked as failed on purpose")
        }
        """})
    r = run_pytest(tmp_path, "-q")
    assert r.returncode == 1, r.log
    assert r.counts() == {"failed": 1}, r.log
    assert "marked as failed on purpose" in r.output, r.log
    assert not HOST_FRAMES.search(r.output), r.log


CHECKS = """
import { check } from "k6"
export function testChecks() {
  check(2, { "two is two": (v) => v === 2 })
  check(2, { "two is three": (v) => v === 3 })
}
"""


def test_a_failed_check_fails_the_test(tmp_path):
    write(tmp_path, {"t.test.js": CHECKS})
    r = run_pytest(tmp_path, "-q")
    assert r.returncode == 1, r.log
    assert r.counts() == {"failed": 1}, r.log
    assert "two is three" in r.output, r.log
    assert not HOST_FRAMES.search(r.output), r.log


def test_failed_checks_pass_with_k6host_fail_on_check_false(tmp_path):
    write(tmp_path, {"t.test.js": CHECKS}, ini="k6host_fail_on_check = false\n")
    r = run_pytest(tmp_path, "-q")
    assert r.returncode == 0, r.log
    assert r.counts() == {"passed": 1}, r.log


def test_k6host_timeout_fails_a_test_that_waits_too_long(tmp_path):
    write(tmp_path, {"t.test.js": """
        export async function testSlow() {
          await new Promise((resolve) => setTimeout(resolve, 30000))
        }
        """}, ini="k6host_timeout = 1\n")
    r = run_pytest(tmp_path, "-q", "--durations=1", timeout=30)
    assert r.returncode == 1, r.log
    assert r.counts() == {"failed": 1}, r.log
    assert "k6host_timeout" in r.output, r.log
    assert re.search(r"time(d)? ?out", r.output, re.IGNORECASE), r.log
    seconds = float(re.search(r"([\d.]+)s call", r.output).group(1))
    assert seconds < 10, r.log
    assert not HOST_FRAMES.search(r.output), r.log


def test_k6host_timeout_ends_a_busy_loop(tmp_path):
    # A test stuck in a JavaScript loop must fail after k6host_timeout too,
    # and the run must go on to the next test.
    write(tmp_path, {"t.test.js": """
        export function testBusy() {
          for (;;) {}
        }
        export function testAfter() {}
        """}, ini="k6host_timeout = 1\n")
    r = run_pytest(tmp_path, "-q", "-rA", timeout=30)
    assert r.returncode == 1, r.log
    assert "FAILED t.test.js::testBusy" in r.output, r.log
    assert "PASSED t.test.js::testAfter" in r.output, r.log
    assert "k6host_timeout" in r.output, r.log


def test_a_failure_with_a_socket_left_open_still_shows_its_error(tmp_path):
    # The test's promise rejects while a connection is still open. However
    # long the VU then waits for its loop, the report must show the error.
    source = """
        import { Socket } from "k6/x/tcp"
        export async function testIt() {
          const s = new Socket()
          await s.connect(__ENV.TCP_ECHO_PORT, __ENV.TCP_ECHO_HOST)
          throw new Error("failed with a socket open")  // HERE
        }
        """
    write(tmp_path, {"t.test.js": source}, ini="k6host_timeout = 3\n")
    r = run_pytest(tmp_path, "-q", timeout=30)
    assert r.returncode == 1, r.log
    assert "failed with a socket open" in r.output, r.log
    assert f"t.test.js:{line_of(source, '// HERE')}" in r.output, r.log


def test_console_output_appears_in_the_failure_report(tmp_path):
    write(tmp_path, {"t.test.js": """
        export function testIt() {
          console.log("breadcrumb 4711")
          console.error("went wrong at step 2")
          throw new Error("after logging")
        }
        """})
    r = run_pytest(tmp_path, "-q")
    assert r.returncode == 1, r.log
    report = r.output.split("FAILURES", 1)[-1]
    assert "breadcrumb 4711" in report, r.log
    assert "went wrong at step 2" in report, r.log


def test_syntax_error_is_a_collection_error_naming_file_and_line(tmp_path):
    source = """
        export function testFine() {}

        export function testBroken() {
          const a = (1 +;  // HERE
        }
        """
    write(tmp_path, {"bad.test.js": source, "good.test.js": "export function testGood() {}\n"})
    r = run_pytest(tmp_path, "-q")
    assert r.returncode == 2, r  # pytest's "interrupted: errors during collection"
    assert "ERROR collecting bad.test.js" in r.output, r.log
    assert "SyntaxError" in r.output, r.log
    assert f"bad.test.js:{line_of(source, '// HERE')}" in r.output, r.log
    assert not HOST_FRAMES.search(r.output), r.log


def test_init_error_is_a_collection_error(tmp_path):
    source = """
        const config = {}
        if (!config.port) throw new Error("no port configured")  // HERE
        export function testNever() {}
        """
    write(tmp_path, {"init.test.js": source})
    r = run_pytest(tmp_path, "-q")
    assert r.returncode == 2, r.log
    assert "ERROR collecting init.test.js" in r.output, r.log
    assert "no port configured" in r.output, r.log
    assert f"init.test.js:{line_of(source, '// HERE')}" in r.output, r.log
    assert not HOST_FRAMES.search(r.output), r.log


# -- pytest's own options --------------------------------------------------------------------------

THREE = """
export function testAlpha() {}
export function testBeta() { throw new Error("beta fails") }
export function testGamma() { throw new Error("gamma fails") }
"""


def test_k_selects_by_name(tmp_path):
    write(tmp_path, {"t.test.js": THREE})
    r = run_pytest(tmp_path, "-q", "-rA", "-k", "Alpha or Gamma")
    assert r.returncode == 1, r.log
    assert r.counts() == {"passed": 1, "failed": 1, "deselected": 1}, r.log
    assert "PASSED t.test.js::testAlpha" in r.output, r.log
    assert "FAILED t.test.js::testGamma" in r.output, r.log
    assert "testBeta" not in r.output, r.log


def test_k_selects_by_file_name(tmp_path):
    write(tmp_path, {"t.test.js": THREE, "other.test.js": "export function testOther() {}\n"})
    r = run_pytest(tmp_path, "-q", "-k", "other")
    assert r.returncode == 0, r.log
    assert r.counts() == {"passed": 1, "deselected": 3}, r.log


def test_x_stops_after_the_first_failure(tmp_path):
    write(tmp_path, {"t.test.js": THREE})
    r = run_pytest(tmp_path, "-q", "-x")
    assert r.returncode == 1, r.log
    assert r.counts().get("failed") == 1, r.log
    assert "stopping after 1 failures" in r.output, r.log


def test_lf_reruns_only_the_failed_tests(tmp_path):
    write(tmp_path, {"t.test.js": THREE})
    first = run_pytest(tmp_path, "-q", cache=True)
    assert first.counts() == {"passed": 1, "failed": 2}, first.log
    again = run_pytest(tmp_path, "-q", "-rA", "--lf", cache=True)
    assert again.returncode == 1, again.log
    assert again.counts().get("failed") == 2, again.log
    assert "passed" not in again.counts(), again.log
    assert "FAILED t.test.js::testBeta" in again.output, again.log
    assert "FAILED t.test.js::testGamma" in again.output, again.log
    assert "testAlpha" not in again.output, again.log


def test_junitxml_records_the_javascript_tests(tmp_path):
    write(tmp_path, {"t.test.js": THREE})
    r = run_pytest(tmp_path, "-q", "--junitxml", "report.xml")
    assert r.returncode == 1, r.log
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "report.xml").iter("testcase")}
    assert sorted(cases) == ["testAlpha", "testBeta", "testGamma"], r.log
    assert all("t.test.js" in (c.get("classname") or "") + (c.get("file") or "") for c in cases.values())
    assert cases["testAlpha"].find("failure") is None
    failure = cases["testBeta"].find("failure")
    assert failure is not None
    assert "beta fails" in (failure.get("message") or "") + (failure.text or "")


def test_xdist_runs_the_javascript_tests(tmp_path):
    files = {f"f{i}.test.js": PASSING for i in range(3)}
    files["bad.test.js"] = "export function testBad() { throw new Error('fails in a worker') }\n"
    write(tmp_path, files)
    r = run_pytest(tmp_path, "-v", "-n", "2", timeout=120)
    assert r.returncode == 1, r.log
    assert "2 workers" in r.output, r.log
    assert {"[gw0]", "[gw1]"} <= set(re.findall(r"\[gw\d\]", r.output)), r.log
    assert r.counts() == {"passed": 9, "failed": 1}, r.log
    assert "fails in a worker" in r.output, r.log


# -- environment -----------------------------------------------------------------------------------

ENV_TEST = """
export function testEnv() {
  const got = [__ENV.FROM_CLI, __ENV.FROM_INI, __ENV.TWO, __ENV.HAS_EQUALS]
  const want = ["cli value", "ini value", "2", "a=b"]
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error("__ENV: expected " + JSON.stringify(want) + ", got " + JSON.stringify(got))
  }
  if (!__ENV.TCP_ECHO_HOST || !/^\\d+$/.test(__ENV.TCP_ECHO_PORT)) throw new Error("no echo server in __ENV")
}
"""


def test_k6host_env_option_and_ini_reach_env(tmp_path):
    write(tmp_path, {"e.test.js": ENV_TEST}, ini="k6host_env =\n    FROM_INI=ini value\n    TWO=2\n")
    r = run_pytest(tmp_path, "-q", "--k6host-env", "FROM_CLI=cli value", "--k6host-env=HAS_EQUALS=a=b")
    assert r.returncode == 0, r.log
    assert r.counts() == {"passed": 1}, r.log


def test_k6host_env_option_overrides_ini(tmp_path):
    write(tmp_path, {"e.test.js": """
        export function testEnv() {
          if (__ENV.WHO !== "cli") throw new Error("WHO is " + __ENV.WHO)
        }
        """}, ini="k6host_env = WHO=ini\n")
    r = run_pytest(tmp_path, "-q", "--k6host-env", "WHO=cli")
    assert r.returncode == 0, r.log


@pytest.mark.parametrize("where", ["option", "ini"])
def test_malformed_k6host_env_is_a_usage_error(tmp_path, where):
    ini = "k6host_env = NO_EQUALS_SIGN\n" if where == "ini" else ""
    args = ["--k6host-env", "NO_EQUALS_SIGN"] if where == "option" else []
    write(tmp_path, {"e.test.js": "export function testEnv() {}\n"}, ini=ini)
    r = run_pytest(tmp_path, "-q", *args)
    assert r.returncode != 0, r.log
    assert "NO_EQUALS_SIGN" in r.output, r.log
    assert "KEY=VALUE" in r.output, r.log
    assert not HOST_FRAMES.search(r.output), r.log
    assert "passed" not in r.output, r.log


# -- the Python fixture ------------------------------------------------------------------------------


def test_k6host_echo_fixture_in_a_python_test_of_the_same_run(tmp_path):
    write(tmp_path, {
        "test_py.py": """
            import socket

            def test_echo(k6host_echo):
                with socket.create_connection((k6host_echo.host, k6host_echo.port), timeout=5) as s:
                    s.sendall(b"from python")
                    got = b""
                    while len(got) < 11:
                        chunk = s.recv(64)
                        assert chunk, "echo server closed early"
                        got += chunk
                assert got == b"from python"
                print(f"PY-ECHO-PORT={k6host_echo.port}")
            """,
        "a.test.js": PASSING + '\nexport function testPort() { console.log("JS-ECHO-PORT=" + __ENV.TCP_ECHO_PORT) }\n',
    })
    r = run_pytest(tmp_path, "-q", "-rP")
    assert r.returncode == 0, r.log
    assert r.counts() == {"passed": 5}, r.log
    py_port = re.search(r"PY-ECHO-PORT=(\d+)", r.output)
    js_port = re.search(r"JS-ECHO-PORT=(\d+)", r.output)
    assert py_port and js_port, r.log
    assert py_port.group(1) == js_port.group(1), "the fixture and the JavaScript tests share one echo server"
