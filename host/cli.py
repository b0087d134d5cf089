"""The ``k6host`` command: run, archive, inspect, status/pause/resume/stats, repl, echo, version, new, completion."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any, Iterator, NoReturn, Sequence

from k6host import __version__
from k6host.commands import completion_script, new_script, version_text
from k6host.flags import FlagError, add_run_flags, move_global_flags, split_bool_values, unsupported_warnings
from k6host.report.logoutput import open_log
from k6host.run.exitcodes import ExitCode
from k6host.run.processes import process_count
from k6host.run.restapi import DEFAULT_ADDRESS, AddressError
from k6host.run.runner import UsageError, parse_env, run_script
from k6host.engine.scriptsource import script_source
from k6host.report import stdio


class _Parser(argparse.ArgumentParser):
    """Flag mistakes end in one line and k6's exit code, not argparse's usage dump."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: {message} (see '{self.prog} --help')\n")
        sys.exit(ExitCode.GENERIC_ERROR)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: expected a number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {port}: must be between 0 and 65535")
    return port


# Flags whose values are options (k6's precedence): flag dest -> load_options' key.
_OPTION_FLAGS = {
    "vus": "vus", "duration": "duration", "iterations": "iterations", "stage": "stages", "tag": "tags",
    "no_thresholds": "no_thresholds", "no_summary": "no_summary", "summary_trend_stats": "summary_trend_stats",
    "summary_time_unit": "summary_time_unit", "summary_mode": "summary_mode", "summary_export": "summary_export",
    "out": "out", "quiet": "quiet", "no_color": "no_color", "no_setup": "no_setup", "no_teardown": "no_teardown",
    "insecure_skip_tls_verify": "insecure_skip_tls_verify", "min_iteration_duration": "min_iteration_duration",
    "system_tags": "system_tags", "blacklist_ip": "blacklist_ip", "block_hostnames": "block_hostnames",
    "dns": "dns", "local_ips": "local_ips", "throw": "throw", "max_redirects": "max_redirects", "batch": "batch",
    "batch_per_host": "batch_per_host", "rps": "rps", "user_agent": "user_agent", "http_debug": "http_debug",
    "no_connection_reuse": "no_connection_reuse", "no_vu_connection_reuse": "no_vu_connection_reuse",
    "discard_response_bodies": "discard_response_bodies", "compatibility_mode": "compatibility_mode",
    "tcp_debug": "tcp_debug", "execution_segment": "execution_segment",
    "execution_segment_sequence": "execution_segment_sequence",
}
_COMMANDS = ("run", "archive", "inspect", "status", "pause", "resume", "stats", "repl", "echo", "version", "new",
             "completion")


def _module_path_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--module-path", action="append", default=[], metavar="DIR",
                        help="also load k6host modules (Python files) from DIR (repeatable; "
                        "K6HOST_MODULE_PATH adds more)")


# -- the REST API: run's --address/--paused (in the flag table), and the commands that talk to it --
def _rest_commands(commands: Any) -> None:
    for name, text in (("status", "show the status of a running test"), ("pause", "pause a test paused before its start"),
                       ("resume", "start a test run with --paused"), ("stats", "show a running test's metrics")):
        commands.add_parser(name, help=text).add_argument(
            "-a", "--address", metavar="HOST:PORT", help=f"address of the REST API (default {DEFAULT_ADDRESS})")


def _rest_run_config(args: argparse.Namespace) -> dict[str, Any]:
    """What RunConfig gets from --address and --paused."""
    return {"address": _address(args), "address_explicit": args.address is not None, "paused": bool(args.paused)}


def _address(args: argparse.Namespace) -> str:
    """--address, else K6_ADDRESS (read by k6 releases after 1.1.0; "" turns the API off), else k6's default."""
    return args.address if args.address is not None else os.environ.get("K6_ADDRESS", DEFAULT_ADDRESS)


def _rest_main(args: argparse.Namespace) -> int:
    from k6host.run import restclient

    address = _address(args)
    try:
        if not address:
            raise restclient.ClientError("no REST API address: give --address HOST:PORT")
        if args.command == "status":
            restclient.status(address, sys.stdout)
        elif args.command == "stats":
            restclient.stats(address, sys.stdout)
        else:
            restclient.set_paused(address, args.command == "pause", sys.stdout)
    except (restclient.ClientError, AddressError) as exc:
        sys.stderr.write(f"k6host: {exc}\n")
        return ExitCode.GENERIC_ERROR
    return ExitCode.OK


# -- archive and inspect, and archives as run's input -------------------------------------------
# Flags of run that mean nothing to archive and inspect: said so, not dropped silently.
_RUN_ONLY = {"with_echo": "--with-echo", "paused": "--paused", "address": "--address", "out": "--out",
             "summary_export": "--summary-export", "processes": "--processes"}


def _archive_commands(commands: Any, run: argparse.ArgumentParser) -> None:
    # add_help=False: run's -h comes with its other flags.
    archive = commands.add_parser("archive", help="pack a script, its local files and its options into a tar",
                                  add_help=False)
    inspect = commands.add_parser("inspect", help="print a script's or archive's options as JSON", add_help=False)
    for parser in (archive, inspect):
        # Every flag of run (the option flags k6 takes here too), so they stay in step.
        parser._add_container_actions(run)  # what argparse's parents= does
    archive.add_argument("-O", "--archive-out", default="archive.tar", metavar="FILE",
                         help="where to write the archive (default archive.tar)")
    inspect.add_argument("--execution-requirements", action="store_true",
                         help="the consolidated options with the derived scenarios, totalDuration and maxVUs")


def _option_flags(args: argparse.Namespace, user_env: dict[str, str]) -> dict[str, Any]:
    """The option flags given (k6's precedence: only these reach the options)."""
    cli = {key: getattr(args, dest) for dest, key in _OPTION_FLAGS.items() if getattr(args, dest) not in (None, False)}
    cli["env"] = user_env
    cli["include_system_env_vars"] = args.include_system_env_vars
    return cli


def _archive_main(args: argparse.Namespace) -> int:
    from k6host.run import archive

    log = open_log(None, None, None, color=False if args.no_color else None, verbose=bool(args.verbose))
    for name, flag in _RUN_ONLY.items():
        if getattr(args, name, None) not in (None, False, [], "auto"):
            log("warning", f"{flag} has no effect on k6host {args.command}")
    user_env = parse_env(args.env or [], bare=True)
    env = {**(dict(os.environ) if args.include_system_env_vars else {}), **user_env}
    cli = _option_flags(args, user_env)
    try:
        with script_source(args.script) as path, _script_input(path) as (script, exported, archived_env):
            loaded = archive.load(script, env={**archived_env, **env}, user_env={**archived_env, **user_env}, cli=cli,
                                  config_file=args.config, process_env=dict(os.environ), log=log,
                                  exported=exported, module_path=tuple(args.module_path or ()))
        if args.command == "inspect":
            sys.stdout.write(archive.inspect_json(loaded, args.execution_requirements))  # no newline, as k6
        else:
            archive.write_archive(loaded, args.archive_out)
    except archive.ArchiveError as exc:
        if str(exc):
            log("error", str(exc))
        return exc.exit_code
    return ExitCode.OK


@contextlib.contextmanager
def _script_input(path: str) -> Iterator[tuple[str, dict[str, Any] | None, dict[str, str]]]:
    """(script, options to use instead of the script's, __ENV from the archive): an
    archive is unpacked for as long as the block runs; a script is itself."""
    from k6host.run import archive

    if not archive.is_archive(path):
        yield path, None, {}
        return
    opened = archive.open_archive(path)
    try:
        yield opened.script, opened.options, opened.env
    finally:
        opened.close()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="k6host", description="Run k6 scripts that use k6/x/tcp.")
    parser.add_argument("--version", action="version", version=f"k6host {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    run = commands.add_parser("run", help="run a k6 script")
    run.add_argument("script", help="the k6 script (.js, .mjs or .cjs; - reads it from stdin)")
    add_run_flags(run)

    repl = commands.add_parser("repl", help="an interactive prompt on one VU")
    repl.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE",
                      help="add a variable to __ENV (repeatable)")
    _module_path_flag(repl)

    echo = commands.add_parser("echo", help="run the built-in TCP echo server in the foreground")
    echo.add_argument("--port", type=_port, default=0, help="port to listen on (default: a free one)")
    echo.add_argument("--tls", action="store_true", help="serve TLS with a generated test certificate")

    version = commands.add_parser("version", help="show the versions of k6host, its engine and Python")
    version.add_argument("--json", action="store_true", help="as JSON")
    new = commands.add_parser("new", help="write a starter k6/x/tcp script")
    new.add_argument("file", nargs="?", default="script.js", help="where to write it (default: script.js)")
    new.add_argument("-f", "--force", action="store_true", help="overwrite an existing file")
    _rest_commands(commands)
    completion = commands.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell")
    _archive_commands(commands, run)  # last: it copies every flag run has by now
    return parser


@contextlib.contextmanager
def _echo_env(enabled: bool) -> Iterator[dict[str, str]]:
    if not enabled:
        yield {}
        return
    from k6host.testing.echo import EchoServer

    with EchoServer() as server:
        yield {"TCP_ECHO_HOST": server.host, "TCP_ECHO_PORT": str(server.port)}


def _run(args: argparse.Namespace, explicit: dict[str, bool]) -> int:
    for dest, value in explicit.items():
        setattr(args, dest, value)
    process_env = dict(os.environ)
    log = open_log(
        output=args.log_output if args.log_output is not None else process_env.get("K6_LOG_OUTPUT"),
        fmt=args.log_format if args.log_format is not None else process_env.get("K6_LOG_FORMAT"),
        console_output=args.console_output if args.console_output is not None
        else process_env.get("K6_CONSOLE_OUTPUT"),
        color=False if args.no_color else None,
        verbose=bool(args.verbose),
    )
    for warning in unsupported_warnings(args):
        log("warning", warning)
    if args.type not in (None, "js", "archive"):
        raise UsageError(f"--type {args.type!r}: k6host runs scripts (\"js\") and archives (\"archive\")")
    from k6host.run.archive import ArchiveError

    try:
        processes = process_count(args.processes)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        with script_source(args.script) as path, _script_input(path) as (script, exported, archived_env):
            return _run_script(args, log, script, exported, archived_env, processes)
    except ArchiveError as exc:
        log("error", str(exc))
        return exc.exit_code


def _run_script(args: argparse.Namespace, log: Any, script: str, exported: dict[str, Any] | None,
                archived_env: dict[str, str], processes: int) -> int:
    process_env = dict(os.environ)
    env = dict(process_env) if args.include_system_env_vars else {}
    env.update(archived_env)  # an archive's -e variables, below this run's
    user_env = {**archived_env, **parse_env(args.env or [], bare=True)}
    with _echo_env(args.with_echo) as echo_env:
        # -e wins over what --with-echo sets, so a user can point elsewhere.
        env.update(echo_env)
        env.update(user_env)
        cli = _option_flags(args, user_env)
        result = run_script(
            script,
            env,
            log,
            cli=cli,
            config_file=args.config,
            process_env=process_env,
            handle_signals=True,
            module_path=tuple(args.module_path or ()),
            processes=processes,
            script_options=exported,
            **_rest_run_config(args),
        )
        return result.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    stdio.install()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["_worker"]:  # a worker process of a split run (run/processes.py), not for users
        from k6host.run.processes import worker_main

        return worker_main()
    try:
        argv, explicit = split_bool_values(move_global_flags(argv, _COMMANDS))
    except FlagError as exc:
        sys.stderr.write(f"k6host: {exc}\n")
        return ExitCode.GENERIC_ERROR
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args, explicit)
        if args.command == "repl":
            from k6host.repl import main as repl_main

            return repl_main({**os.environ, **parse_env(args.env, bare=True)}, tuple(args.module_path))
        if args.command in ("archive", "inspect"):
            for dest, value in explicit.items():
                setattr(args, dest, value)
            return _archive_main(args)
        if args.command in ("status", "pause", "resume", "stats"):
            return _rest_main(args)
        if args.command == "echo":
            from k6host.testing.echo import serve

            return serve(args.port, args.tls, sys.stdout)
        if args.command == "version":
            sys.stdout.write(version_text(as_json=args.json))
            return 0
        if args.command == "new":
            return new_script(args.file, args.force, sys.stdout)
        if args.command == "completion":
            sys.stdout.write(completion_script(args.shell, build_parser()))
            return 0
    except UsageError as exc:
        sys.stderr.write(f"k6host: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return ExitCode.EXTERNAL_ABORT
    except Exception as exc:  # a bug of ours: one line, the details on request
        if os.environ.get("K6HOST_DEBUG"):
            raise
        sys.stderr.write(f"k6host: internal error: {type(exc).__name__}: {exc} (set K6HOST_DEBUG=1 for details)\n")
        return ExitCode.GENERIC_ERROR
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
