"""What a k6 script finds without importing it: console, __ENV/__VU/__ITER, timers, open(); and k6's
own fail/check/test.fail."""

from __future__ import annotations

import json
import re

import pytest

SCRIPT_EXCEPTION = 107
MARKED_AS_FAILED = 110

# logrus' text format: level=info msg=plain or msg="quoted \"and\" escaped"
_LOG_LINE = re.compile(r'level=(\w+) msg=("(?:[^"\\]|\\.)*"|\S+)')


def log_lines(output: str) -> list[tuple[str, str]]:
    """(level, message) of every line the run logged, messages unquoted."""
    lines = []
    for level, msg in _LOG_LINE.findall(output):
        lines.append((level, json.loads(msg, strict=False) if msg.startswith('"') else msg))
    return lines


def assert_ok(run) -> None:
    assert run.exit_code == 0, run.output
    assert "level=error" not in run.output, run.output


# -- console -----------------------------------------------------------------------------------------


def test_console_levels_and_debug_hidden_by_default(run_js):
    run = run_js("""
    export default function () {
      console.log("via log")
      console.info("via info")
      console.warn("via warn")
      console.error("via error")
      console.debug("via debug")
    }
    """)
    assert run.exit_code == 0, run.output
    assert log_lines(run.output) == [
        ("info", "via log"),
        ("info", "via info"),
        ("warning", "via warn"),
        ("error", "via error"),
    ]
    assert "source=console" in run.output


@pytest.mark.parametrize(
    ("expression", "printed"),
    [
        ('{ a: 1, b: "two" }', '{"a":1,"b":"two"}'),
        ('[1, "two", null]', '[1,"two",null]'),
        ("{ outer: { inner: [1, { deep: true }] } }", '{"outer":{"inner":[1,{"deep":true}]}}'),
        ("new Uint8Array([1, 2, 3])", "Uint8Array(3) [1, 2, 3]"),
        ('new Error("msg")', "Error: msg"),
        ('new TypeError("bad type")', "TypeError: bad type"),
        ("null", "null"),
        ("undefined", "undefined"),
        ("true", "true"),
        ("false", "false"),
        ("42.5", "42.5"),
        ('"plain text"', "plain text"),
    ],
)
def test_console_formats_values(run_js, expression, printed):
    run = run_js(f"export default function () {{ console.log({expression}) }}")
    assert_ok(run)
    assert run.messages == [printed]


def test_console_joins_arguments_with_spaces(run_js):
    run = run_js('export default function () { console.log("n =", 3, { k: [1] }, null, new Uint8Array([0, 255])) }')
    assert_ok(run)
    assert run.messages == ['n = 3 {"k":[1]} null Uint8Array(2) [0, 255]']


def test_console_survives_circular_objects(run_js):
    run = run_js("""
    export default function () {
      const node = { name: "loop", list: [] }
      node.self = node
      node.list.push(node)
      console.log(node)
      report("still running")
    }
    """)
    assert_ok(run)
    printed = run.messages[0]
    assert '"name":"loop"' in printed
    assert "[object Object]" not in printed
    assert run.reported() == ["still running"]


def test_console_never_prints_object_object(run_js):
    run = run_js("""
    class Point { constructor() { this.x = 1; this.y = 2 } }
    export default function () {
      console.log(new Point(), [{ a: 1 }], { list: [{ b: 2 }] }, Object.create(null))
    }
    """)
    assert_ok(run)
    assert "[object Object]" not in run.messages[0]
    assert '{"x":1,"y":2}' in run.messages[0]


# -- __ENV, __VU, __ITER -----------------------------------------------------------------------------


def test_env_vu_and_iter(run_js, echo):
    run = run_js("""
    const initVU = __VU
    export default function () {
      report({ env: __ENV.GREETING, port: __ENV.TCP_ECHO_PORT, host: __ENV.TCP_ECHO_HOST,
               missing: __ENV.NOT_SET === undefined, initVU, vu: __VU, iter: __ITER })
    }
    """, env={"GREETING": "hello world"})
    assert_ok(run)
    assert run.report() == {
        "env": "hello world",
        "port": str(echo.port),
        "host": echo.host,
        "missing": True,
        "initVU": 1,
        "vu": 1,
        "iter": 0,
    }


# -- timers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        """
        import timers, * as named from "k6/timers"
        export default function () {
          const names = ["setTimeout", "clearTimeout", "setInterval", "clearInterval"]
          report(names.map((n) => typeof globalThis[n] === "function" && timers[n] === globalThis[n]
                                   && named[n] === globalThis[n]))
        }
        """,
        """
        const timers = require("k6/timers")
        exports.default = function () {
          const names = ["setTimeout", "clearTimeout", "setInterval", "clearInterval"]
          report(names.map((n) => typeof globalThis[n] === "function" && timers[n] === globalThis[n]))
        }
        """,
    ],
    ids=["esm", "cjs"],
)
def test_k6_timers_are_the_global_functions(run_js, source):
    run = run_js(source)
    assert_ok(run)
    assert run.report() == [True] * 4


def test_timeouts_fire_in_deadline_order_with_their_arguments(run_js):
    run = run_js("""
    import { setTimeout as later } from "k6/timers"
    export default function () {
      setTimeout((a, b) => report(["slow", a, b]), 40, "x", 2)
      later((a) => report(["fast", a]), 5, { k: "v" })
    }
    """)
    assert_ok(run)
    assert run.reported() == [["fast", {"k": "v"}], ["slow", "x", 2]]


def test_interval_ticks_until_cleared(run_js):
    run = run_js("""
    export default function () {
      let ticks = 0
      const id = setInterval((step) => {
        ticks += step
        if (ticks === 3) clearInterval(id)
      }, 5, 1)
      // Long enough for several more ticks, had the interval not stopped.
      setTimeout(() => report(ticks), 80)
    }
    """)
    assert_ok(run)
    assert run.report() == 3


def test_cleared_timeout_never_fires(run_js):
    run = run_js("""
    export default function () {
      const id = setTimeout(() => report("cleared one fired"), 10)
      clearTimeout(id)
      setTimeout(() => report("other one fired"), 40)
    }
    """)
    assert_ok(run)
    assert run.reported() == ["other one fired"]


def test_iteration_waits_for_pending_timers(run_js):
    # A sync default function returns at once; the iteration still ends only when its timers ran.
    run = run_js("""
    export default function () {
      setTimeout(() => {
        report("first")
        setTimeout(() => report("scheduled from a callback"), 20)
      }, 30)
    }
    """)
    assert_ok(run)
    assert run.reported() == ["first", "scheduled from a callback"]


def test_exception_in_a_timer_callback_fails_the_iteration(run_js):
    # As in k6: the error is logged with its location and the iteration's other timers are dropped.
    run = run_js("""
    export default function () {
      setTimeout(() => { throw new Error("thrown in a timer") }, 5)
      setTimeout(() => report("later timer ran"), 40)
    }
    """)
    assert run.exit_code == 0, run.output
    assert "Error: thrown in a timer" in run.output
    # line 4: run_js's helper line, then the blank first line of the source
    assert re.search(r"file:///\S*/script\.js:4:\d+", run.output), run.output
    assert run.reported() == []


def test_async_default_function_awaits_a_timer(run_js):
    run = run_js("""
    export default async function () {
      const start = Date.now()
      const value = await new Promise((resolve) => setTimeout(resolve, 50, "done"))
      report([value, Date.now() - start >= 45])
    }
    """)
    assert_ok(run)
    assert run.report() == ["done", True]


# -- open() ------------------------------------------------------------------------------------------


def test_open_text_relative_to_the_script(run_js, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.txt").write_text("héllo\nwörld ✓\n", encoding="utf-8")
    (tmp_path / "top.txt").write_text("from the parent folder")
    run = run_js("""
    const data = open("data.txt")
    const dotted = open("./data.txt")
    const parent = open("../top.txt")
    export default function () { report([data, dotted === data, parent]) }
    """, name="sub/script.js")
    assert_ok(run)
    assert run.report() == ["héllo\nwörld ✓\n", True, "from the parent folder"]


@pytest.mark.parametrize(
    ("lib", "main"),
    [
        ("lib/reader.js", 'import { text } from "./lib/reader.js"\nexport default function () { report(text) }'),
        ("lib/reader.cjs", 'const { text } = require("./lib/reader.cjs")\nexports.default = function () { report(text) }'),
    ],
    ids=["esm-lib", "cjs-lib"],
)
def test_open_in_a_lib_resolves_from_the_lib(run_js, tmp_path, lib, main):
    # k6 resolves open() from the file that calls it (checked against k6 1.1).
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "data.txt").write_text("next to the lib")
    (tmp_path / "data.txt").write_text("next to the script")
    export = "export const text =" if lib.endswith(".js") else "exports.text ="
    (tmp_path / lib).write_text(f'{export} open("./data.txt")\n')
    run = run_js(main)
    assert_ok(run)
    assert run.report() == "next to the lib"


def test_open_binary_gives_an_array_buffer_with_every_byte(run_js, tmp_path):
    payload = bytes([0, 1, 127, 128, 200, 255]) + bytes(range(256))
    (tmp_path / "blob.bin").write_bytes(payload)
    run = run_js("""
    const buffer = open("blob.bin", "b")
    export default function () {
      report([buffer instanceof ArrayBuffer, buffer.byteLength, Array.from(new Uint8Array(buffer))])
    }
    """)
    assert_ok(run)
    assert run.report() == [True, len(payload), list(payload)]


def test_open_outside_init_fails_clearly(run_js, tmp_path):
    (tmp_path / "data.txt").write_text("data")
    run = run_js("""
    export default function () {
      try {
        open("data.txt")
        report("opened")
      } catch (e) {
        report(String(e))
      }
    }
    """)
    assert run.exit_code == 0, run.output
    message = run.report()
    assert message.startswith('GoError: the "open" function is only available in the init stage'), message


def test_open_of_missing_file_is_a_script_exception_naming_the_path(run_js):
    run = run_js("""
    const data = open("no-such-file.txt")
    export default function () {}
    """)
    assert run.exit_code == SCRIPT_EXCEPTION, run.output
    assert "no-such-file.txt" in run.output


# -- k6: fail, check; k6/execution: test.fail ---------------------------------------------------------


def test_execution_test_fail_marks_the_run_failed_and_carries_on(run_js):
    run = run_js("""
    const execution = require("k6/execution")
    export default function () {
      execution.test.fail("the numbers are wrong")
      report("still running")
    }
    """)
    assert run.exit_code == MARKED_AS_FAILED, run.output
    assert run.reported() == ["still running"]
    assert "test marked as failed: the numbers are wrong" in run.output


def test_k6_fail_ends_the_iteration_with_an_error(run_js):
    run = run_js("""
    import { fail } from "k6"
    export default function () {
      report("before")
      fail("giving up here")
      report("after")
    }
    """)
    assert run.exit_code == 0, run.output
    assert run.reported() == ["before"]
    errors = [message for level, message in log_lines(run.output) if level == "error"]
    assert any("giving up here" in message for message in errors), run.output


def test_check_returns_the_verdict_and_records_samples(run_js):
    run = run_js("""
    import { check } from "k6"
    export default function () {
      report([
        check(1, { "is one": (v) => v === 1 }),
        check(1, { "is two": (v) => v === 2 }),
        check("x", { "truthy value": true, "falsy value": 0 }, { kind: "literal" }),
      ])
    }
    """)
    assert run.exit_code == 0, run.output
    assert run.report() == [True, False, False]
    samples = {s.tags["check"]: s.value for s in run.metrics.of("checks")}
    assert samples == {"is one": 1.0, "is two": 0.0, "truthy value": 1.0, "falsy value": 0.0}
    kinds = {s.tags["check"]: s.tags.get("kind") for s in run.metrics.of("checks")}
    assert kinds == {"is one": None, "is two": None, "truthy value": "literal", "falsy value": "literal"}
