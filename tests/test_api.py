"""The Python API: ``k6host.run(script, *, vus, iterations, duration, env, options)``.

Every test writes its script to tmp_path and looks only at the RunResult,
as a user of the API would: exit codes, summary data, checks, console lines,
errors, and which arguments rank above what.
"""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path

import k6host
import pytest


def script(tmp_path: Path, source: str, name: str = "script.js") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source).lstrip("\n"))
    return path


def line_of(path: Path, marker: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if marker in line)


def count(result: k6host.RunResult, metric: str) -> float | None:
    found = result.metric(metric)
    return None if found is None else found["values"]["count"]


# A script that says which VU ran each iteration: "VU <n>" on the console.
WHO = """
import { sleep } from "k6"
export const options = { vus: 1, iterations: 1 }
export default function () {
  console.log("VU " + __VU)
  sleep(0.1)
}
"""


def vus_seen(result: k6host.RunResult) -> set[str]:
    return {line for line in result.console if line.startswith("VU ")}


# -- exit codes ----------------------------------------------------------------------------------


def test_a_passing_script_exits_0(tmp_path):
    result = k6host.run(script(tmp_path, "export default function () {}\n"))
    assert result.exit_code == 0, result.output
    assert result.ok
    assert result.errors == []


def test_crossed_thresholds_exit_99(tmp_path):
    path = script(tmp_path, """
        import { check } from "k6"
        export const options = { thresholds: { checks: ["rate>0.99"], iterations: ["count>0"] } }
        export default function () { check(1, { "is two": (v) => v === 2 }) }
        """)
    result = k6host.run(path)
    assert result.exit_code == 99, result.output
    assert not result.ok
    checks = result.metric("checks")
    assert checks["thresholds"] == {"rate>0.99": {"ok": False}}
    assert result.metric("iterations")["thresholds"] == {"count>0": {"ok": True}}
    assert "checks" in result.output and "crossed" in result.output


def test_an_init_error_exits_107(tmp_path):
    path = script(tmp_path, """
        const settings = {}
        throw new Error("init went wrong")  // HERE
        export default function () {}
        """)
    result = k6host.run(path)
    assert result.exit_code == 107, result.output
    assert "init went wrong" in result.output
    assert f"script.js:{line_of(path, '// HERE')}" in result.output


def test_test_fail_exits_110(tmp_path):
    path = script(tmp_path, """
        import exec from "k6/execution"
        export default function () { exec.test.fail("marked on purpose") }
        """)
    result = k6host.run(path)
    assert result.exit_code == 110, result.output
    assert "marked on purpose" in result.output


def test_an_iteration_error_does_not_change_the_exit_code(tmp_path):
    # As in k6: an exception ends the iteration, the run goes on and exits 0.
    result = k6host.run(script(tmp_path, "export default function () { throw new Error('one bad iteration') }\n"))
    assert result.exit_code == 0, result.output
    assert len(result.errors) == 1


# -- what the result holds -------------------------------------------------------------------------


def test_summary_data_has_metrics_state_and_groups(tmp_path):
    path = script(tmp_path, """
        import { check, group } from "k6"
        export const options = { iterations: 3 }
        export default function () {
          group("inner", () => { check(1, { "in group": () => true }) })
        }
        """)
    result = k6host.run(path)
    assert result.exit_code == 0, result.output
    summary = result.summary
    assert summary is not None
    assert {"metrics", "state", "root_group", "options"} <= set(summary)
    metrics = summary["metrics"]
    assert {"iterations", "iteration_duration", "checks", "group_duration"} <= set(metrics)
    assert metrics["iterations"]["type"] == "counter"
    assert metrics["iterations"]["values"]["count"] == 3
    assert metrics["iteration_duration"]["type"] == "trend"
    assert {"avg", "min", "med", "max", "p(90)", "p(95)"} <= set(metrics["iteration_duration"]["values"])
    assert metrics["checks"]["type"] == "rate"
    assert metrics["checks"]["values"]["passes"] == 3
    assert summary["state"]["testRunDurationMs"] > 0
    assert [g["name"] for g in summary["root_group"]["groups"]] == ["inner"]
    assert result.metric("no_such_metric") is None


def test_summary_data_has_tcp_metrics(tmp_path, echo):
    path = script(tmp_path, """
        import { Socket } from "k6/x/tcp"
        export default async function () {
          const s = new Socket()
          const reply = new Promise((resolve) => s.on("data", resolve))
          await s.connect(__ENV.TCP_ECHO_PORT, __ENV.TCP_ECHO_HOST)
          await s.write("12345")
          await reply
          s.destroy()
        }
        """)
    result = k6host.run(path, iterations=2, env={"TCP_ECHO_HOST": echo.host, "TCP_ECHO_PORT": str(echo.port)})
    assert result.exit_code == 0, result.output
    assert count(result, "tcp_sockets") == 2
    assert count(result, "tcp_writes") == 2
    assert count(result, "data_sent") == 10
    assert count(result, "data_received") == 10
    assert result.metric("tcp_socket_connecting")["type"] == "trend"


def test_checks_with_one_name_are_merged(tmp_path):
    path = script(tmp_path, """
        import { check, group } from "k6"
        export const options = { iterations: 2 }
        export default function () {
          check(1, { "same name": (v) => v === 1, "other": () => true })
          group("g", () => { check(1, { "same name": (v) => v === 2 }) })
        }
        """)
    result = k6host.run(path)
    assert result.exit_code == 0, result.output
    assert sorted(result.checks, key=lambda c: c["name"]) == [
        {"name": "other", "passes": 2, "fails": 0},
        {"name": "same name", "passes": 2, "fails": 2},
    ]


def test_console_holds_only_console_lines(tmp_path):
    path = script(tmp_path, """
        export const options = { iterations: 2, thresholds: { iterations: ["count>100"] } }
        export default function () {
          console.log("log", __ITER)
          console.info("info", __ITER)
          console.warn("warn", __ITER)
          console.error("error", __ITER)
          console.log({ a: [1, 2] })
          if (__ITER === 1) throw new Error("an iteration error, not console output")
        }
        """)
    result = k6host.run(path)
    assert result.exit_code == 99, result.output  # the threshold is crossed: its log line is not console either
    assert result.console == [
        "log 0", "info 0", "warn 0", "error 0", '{"a":[1,2]}',
        "log 1", "info 1", "warn 1", "error 1", '{"a":[1,2]}',
    ]


def test_errors_carry_the_message_and_stack(tmp_path):
    path = script(tmp_path, """
        function inner() {
          throw new Error("deep failure")  // THROW
        }
        export default function () {
          inner()  // CALL
        }
        """)
    result = k6host.run(path, iterations=2)
    assert result.exit_code == 0, result.output
    assert len(result.errors) == 2
    error = result.errors[0]
    assert error.startswith("Error: deep failure")
    assert f"script.js:{line_of(path, '// THROW')}" in error
    assert f"script.js:{line_of(path, '// CALL')}" in error
    assert error.index("inner") < error.index("default")  # innermost frame first


def test_error_stacks_hold_only_script_frames(tmp_path):
    # The host's own JavaScript glue means nothing to the script's author;
    # the log already leaves those frames out, the API should too.
    path = script(tmp_path, "export default function () { throw new Error('x') }\n")
    result = k6host.run(path)
    assert len(result.errors) == 1
    assert "<dukpy>" not in result.errors[0] and "<k6host>" not in result.errors[0], result.errors[0]


def test_async_rejections_are_errors(tmp_path):
    path = script(tmp_path, """
        export default async function () {
          await Promise.resolve()
          throw new Error("rejected iteration")
        }
        """)
    result = k6host.run(path)
    assert result.exit_code == 0, result.output
    assert len(result.errors) == 1
    assert "rejected iteration" in result.errors[0]


# -- arguments that act like command-line flags ----------------------------------------------------


def test_iterations_argument(tmp_path):
    result = k6host.run(script(tmp_path, WHO), iterations=5)
    assert result.exit_code == 0, result.output
    assert count(result, "iterations") == 5
    assert len(result.console) == 5


def test_vus_argument(tmp_path):
    result = k6host.run(script(tmp_path, WHO), vus=3, iterations=6)
    assert result.exit_code == 0, result.output
    assert count(result, "iterations") == 6
    assert vus_seen(result) == {"VU 1", "VU 2", "VU 3"}


@pytest.mark.parametrize("duration", ["1s", 1, 1.0])
def test_duration_argument(tmp_path, duration):
    path = script(tmp_path, """
        import { sleep } from "k6"
        export default function () { sleep(0.1) }
        """)
    start = time.monotonic()
    result = k6host.run(path, vus=2, duration=duration)
    elapsed = time.monotonic() - start
    assert result.exit_code == 0, result.output
    assert 0.9 <= elapsed < 10, elapsed
    assert 10 <= count(result, "iterations") <= 24
    assert 900 <= result.summary["state"]["testRunDurationMs"] < 5000


def test_options_override_the_scripts_options(tmp_path):
    result = k6host.run(script(tmp_path, WHO), options={"vus": 2, "iterations": 4})
    assert result.exit_code == 0, result.output
    assert count(result, "iterations") == 4
    assert vus_seen(result) == {"VU 1", "VU 2"}


def test_options_can_set_thresholds(tmp_path):
    result = k6host.run(script(tmp_path, WHO), options={"thresholds": {"iterations": ["count>10"]}})
    assert result.exit_code == 99, result.output


def test_flag_arguments_rank_above_options(tmp_path):
    result = k6host.run(script(tmp_path, WHO), options={"iterations": 4}, iterations=7)
    assert result.exit_code == 0, result.output
    assert count(result, "iterations") == 7


def test_options_with_scenarios(tmp_path):
    path = script(tmp_path, WHO + "export function other() { console.log('other ran') }\n")
    scenarios = {"s": {"executor": "per-vu-iterations", "vus": 2, "iterations": 2, "exec": "other"}}
    result = k6host.run(path, options={"scenarios": scenarios})
    assert result.exit_code == 0, result.output
    assert result.console == ["other ran"] * 4


def test_env_reaches_env(tmp_path):
    path = script(tmp_path, 'export default function () { console.log(JSON.stringify([__ENV.ONE, __ENV.TWO, __ENV.NONE])) }\n')
    result = k6host.run(path, env={"ONE": "1", "TWO": "two words"})
    assert result.exit_code == 0, result.output
    assert result.console == ['["1","two words",null]']


def test_process_environment_is_in_env_and_env_ranks_above_it(tmp_path, monkeypatch):
    monkeypatch.setenv("K6HOST_API_TEST_A", "from process")
    monkeypatch.setenv("K6HOST_API_TEST_B", "from process")
    path = script(tmp_path, """
        export default function () { console.log(__ENV.K6HOST_API_TEST_A + "|" + __ENV.K6HOST_API_TEST_B) }
        """)
    result = k6host.run(path, env={"K6HOST_API_TEST_B": "from env"})
    assert result.console == ["from process|from env"]


def test_path_like_script(tmp_path):
    result = k6host.run(script(tmp_path, "export default function () { console.log('ran') }\n"))
    assert result.console == ["ran"]
    result = k6host.run(str(tmp_path / "script.js"))
    assert result.console == ["ran"]


# -- bad input ------------------------------------------------------------------------------------


def test_missing_script_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.js"):
        k6host.run(tmp_path / "nope.js")


def test_a_folder_is_not_a_script(tmp_path):
    with pytest.raises(FileNotFoundError):
        k6host.run(tmp_path)


@pytest.mark.parametrize(
    "argument, kwargs",
    [
        ("vus", {"vus": "3"}),
        ("vus", {"vus": 2.0}),
        ("vus", {"vus": True}),
        ("iterations", {"iterations": 1.5}),
        ("iterations", {"iterations": "5"}),
        ("duration", {"duration": [1]}),
        ("duration", {"duration": {"s": 1}}),
        ("env", {"env": {1: 2}}),
        ("env", {"env": {"A": 1}}),
        ("options", {"options": [("vus", 1)]}),
        ("options", {"options": "vus=1"}),
    ],
)
def test_wrong_argument_types_raise_type_error_naming_the_argument(tmp_path, argument, kwargs):
    path = script(tmp_path, "export default function () {}\n")
    with pytest.raises(TypeError, match=rf"\b{argument}\b"):
        k6host.run(path, **kwargs)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"vus": -1, "iterations": 2}, r"VUs|vus"),
        ({"scenarios": {"main": {"executor": "no-such-executor"}}}, r"no-such-executor"),
        ({"duration": "ten seconds"}, r"duration|ten seconds"),
    ],
)
def test_bad_option_values_exit_104_with_the_message(tmp_path, options, message):
    result = k6host.run(script(tmp_path, "export default function () {}\n"), options=options)
    assert result.exit_code == 104, result.output
    assert re.search(message, result.output), result.output
    assert "Traceback" not in result.output
