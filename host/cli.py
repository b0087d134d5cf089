"""The ``k6host`` command: run, echo, version."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any, Iterator, NoReturn, Sequence

from k6host import __version__
from k6host.report.log import Log
from k6host.run.exitcodes import ExitCode
from k6host.run.restapi import DEFAULT_ADDRESS, AddressError
from k6host.run.runner import UsageError, parse_env, run_script


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


def _whole(flag: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid argument {text!r} for {flag}: expected a whole number") from None
        return value  # a negative count is the options' to refuse, with k6's exit code

    return parse


_OPTION_FLAGS = (
    "vus", "duration", "iterations", "stages", "tags", "no_thresholds", "no_summary",
    "summary_trend_stats", "summary_export", "out", "quiet", "no_color",
)


def _module_path_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--module-path", action="append", default=[], metavar="DIR",
                        help="also load k6host modules (Python files) from DIR (repeatable; "
                        "K6HOST_MODULE_PATH adds more)")


# -- the REST API: run's --address/--paused, and the commands that talk to it ------------------
def _address_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-a", "--address", metavar="HOST:PORT",
                        help=f"address of the REST API (default {DEFAULT_ADDRESS}; \"\" turns it off)")


def _rest_run_flags(run: argparse.ArgumentParser) -> None:
    _address_flag(run)
    run.add_argument("-p", "--paused", action="store_true", help="start the test paused (resume it with k6host resume)")
    run.add_argument("--no-usage-report", action="store_true",
                     help="accepted for k6's sake: k6host never sends a usage report")


def _rest_commands(commands: Any) -> None:
    for name, text in (("status", "show the status of a running test"), ("pause", "pause a test paused before its start"),
                       ("resume", "start a test run with --paused"), ("stats", "show a running test's metrics")):
        _address_flag(commands.add_parser(name, help=text))


def _rest_run_config(args: argparse.Namespace) -> dict[str, Any]:
    """What RunConfig gets from --address and --paused."""
    explicit = args.address is not None
    return {"address": _address(args), "address_explicit": explicit, "paused": args.paused}


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
             "summary_export": "--summary-export"}


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


def _archive_main(args: argparse.Namespace) -> int:
    from k6host.run import archive

    log = Log(color=False if args.no_color else None, verbose=args.verbose)
    for name, flag in _RUN_ONLY.items():
        if getattr(args, name, None) not in (None, False, []):
            log("warning", f"{flag} has no effect on k6host {args.command}")
    user_env = parse_env(args.env)
    env = {**(dict(os.environ) if args.include_system_env_vars else {}), **user_env}
    cli = {name: getattr(args, name) for name in _OPTION_FLAGS if getattr(args, name) not in (None, False)}
    cli["env"] = user_env
    cli["include_system_env_vars"] = args.include_system_env_vars
    try:
        with _script_input(args.script) as (script, exported, archived_env):
            loaded = archive.load(script, env={**archived_env, **env}, user_env={**archived_env, **user_env}, cli=cli,
                                  config_file=args.config_file, process_env=dict(os.environ), log=log,
                                  exported=exported, module_path=tuple(args.module_path))
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
    run.add_argument("script", help="the k6 script (.js, .mjs or .cjs)")
    run.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE",
                     help="add a variable to __ENV (repeatable)")
    run.add_argument("--with-echo", action="store_true",
                     help="start the built-in echo server; TCP_ECHO_HOST/PORT go into __ENV")
    run.add_argument("--include-system-env-vars", action=argparse.BooleanOptionalAction, default=True,
                     help="pass the process environment into __ENV (default: on)")
    run.add_argument("-v", "--verbose", action="store_true", help="show debug output")
    run.add_argument("--no-color", action="store_true", help="no colours in the output")
    # k6's option flags: only the ones given reach the options (k6's precedence).
    run.add_argument("-u", "--vus", type=_whole("--vus"), help="number of virtual users")
    run.add_argument("-d", "--duration", help="test duration, e.g. 30s, 1m30s")
    run.add_argument("-i", "--iterations", type=_whole("--iterations"), help="total iterations, shared among the VUs")
    run.add_argument("-s", "--stage", action="append", dest="stages", metavar="DURATION:TARGET",
                     help="a ramping stage (repeatable)")
    run.add_argument("--tag", action="append", dest="tags", metavar="NAME=VALUE",
                     help="a tag added to every sample (repeatable)")
    run.add_argument("-c", "--config", dest="config_file", metavar="FILE", help="a JSON file of options")
    run.add_argument("--no-thresholds", action="store_true", default=None, help="do not evaluate thresholds")
    run.add_argument("--no-summary", action="store_true", default=None, help="print no end-of-test summary")
    run.add_argument("--summary-trend-stats", metavar="STATS",
                     help="comma-separated Trend statistics for the summary, e.g. avg,p(99)")
    run.add_argument("--summary-export", metavar="FILE", help="write the summary as JSON to FILE")
    run.add_argument("-o", "--out", action="append", metavar="TYPE=FILE",
                     help="write every sample to FILE: json=FILE or csv=FILE (repeatable)")
    run.add_argument("-q", "--quiet", action="store_true", default=None, help="no progress line")
    _module_path_flag(run)
    _rest_run_flags(run)
    _rest_commands(commands)

    repl = commands.add_parser("repl", help="an interactive prompt on one VU")
    repl.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE",
                      help="add a variable to __ENV (repeatable)")
    _module_path_flag(repl)

    echo = commands.add_parser("echo", help="run the built-in TCP echo server in the foreground")
    echo.add_argument("--port", type=_port, default=0, help="port to listen on (default: a free one)")
    echo.add_argument("--tls", action="store_true", help="serve TLS with a generated test certificate")
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


def _run(args: argparse.Namespace) -> int:
    from k6host.run.archive import ArchiveError

    log = Log(color=False if args.no_color else None, verbose=args.verbose)
    try:
        with _script_input(args.script) as (script, exported, archived_env):
            return _run_script(args, log, script, exported, archived_env)
    except ArchiveError as exc:
        log("error", str(exc))
        return exc.exit_code


def _run_script(args: argparse.Namespace, log: Log, script: str, exported: dict[str, Any] | None,
                archived_env: dict[str, str]) -> int:
    env = dict(os.environ) if args.include_system_env_vars else {}
    env.update(archived_env)  # an archive's -e variables, below this run's
    user_env = {**archived_env, **parse_env(args.env)}
    with _echo_env(args.with_echo) as echo_env:
        # -e wins over what --with-echo sets, so a user can point elsewhere.
        env.update(echo_env)
        env.update(user_env)
        cli = {name: getattr(args, name) for name in _OPTION_FLAGS if getattr(args, name) not in (None, False)}
        cli["env"] = user_env
        cli["include_system_env_vars"] = args.include_system_env_vars
        result = run_script(
            script,
            env,
            log,
            cli=cli,
            config_file=args.config_file,
            process_env=dict(os.environ),
            handle_signals=True,
            module_path=tuple(args.module_path),
            script_options=exported,
            **_rest_run_config(args),
        )
        return result.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "repl":
            from k6host.repl import main as repl_main

            return repl_main({**os.environ, **parse_env(args.env)}, tuple(args.module_path))
        if args.command in ("archive", "inspect"):
            return _archive_main(args)
        if args.command in ("status", "pause", "resume", "stats"):
            return _rest_main(args)
        if args.command == "echo":
            from k6host.testing.echo import serve

            return serve(args.port, args.tls, sys.stdout)
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
