"""The flags of ``k6host run``: every flag of ``k6 run`` (k6 1.1.0) and what k6host does with it.

One table (``RUN_FLAGS``) builds the parser, names the flags whose values
become options, warns about the ones that cannot apply, and renders the
README's flag list (``flag_table``; a test keeps the README equal to it).

Flag syntax is pflag's, as k6 reads it: a boolean flag takes a value only as
``--flag=true|false`` (any Go ``ParseBool`` spelling), never from the next
word, so ``k6host run --no-setup script.js`` still finds the script; global
flags may come before the subcommand (``k6host -q run script.js``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Sequence

# What k6host does with a flag, for the README and the warnings.
WORKS = "works"  # as in k6
HTTP = "HTTP only"  # accepted; k6host makes no HTTP requests, so a warning says it has no effect
UNSUPPORTED = "not supported"  # accepted; a warning names it (or an error, for a value that needs it)
K6HOST = "k6host only"

# Go's strconv.ParseBool.
_BOOL_TEXT = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
              "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


@dataclass(frozen=True)
class Flag:
    names: tuple[str, ...]  # short first, as k6 lists them
    help: str
    state: str = WORKS
    kind: str = "value"  # "value", "list" (repeatable), "bool"
    metavar: str | None = None
    note: str = ""  # what the warning (or the README) says about a flag that does not fully work
    is_global: bool = False  # k6 accepts it before the subcommand too
    default: Any = None

    @property
    def long(self) -> str:
        return self.names[-1]

    @property
    def dest(self) -> str:
        return self.long[2:].replace("-", "_")


def _f(*names: str, help: str, **kw: Any) -> Flag:
    return Flag(names, help, **kw)


_BOOL = {"kind": "bool"}

RUN_FLAGS: tuple[Flag, ...] = (
    # -- the test's shape
    _f("-u", "--vus", help="number of virtual users", metavar="N"),
    _f("-d", "--duration", help="test duration, e.g. 30s, 1m30s", metavar="DURATION"),
    _f("-i", "--iterations", help="total iterations, shared among the VUs", metavar="N"),
    _f("-s", "--stage", help="a ramping stage (repeatable)", kind="list", metavar="DURATION:TARGET"),
    _f("--no-setup", help="don't run setup()", **_BOOL),
    _f("--no-teardown", help="don't run teardown()", **_BOOL),
    _f("--min-iteration-duration", help="the shortest time an iteration takes (it sleeps for the rest)",
       metavar="DURATION"),
    _f("--execution-segment", help="run only this share of the test, e.g. 1/3:2/3, 0.5, 25%:50%", metavar="SEGMENT"),
    _f("--execution-segment-sequence", help="the segments all instances of the test run, e.g. 0,1/3,2/3,1",
       metavar="POINTS"),
    # -- what the script sees
    _f("-e", "--env", help="add a variable to __ENV (repeatable; NAME alone sets it to \"\")", kind="list",
       metavar="NAME=VALUE"),
    _f("--include-system-env-vars", help="pass the process environment into __ENV (default true)", default=True,
       **_BOOL),
    _f("--compatibility-mode", help="\"extended\" (global is an alias of globalThis) or \"base\"", metavar="MODE"),
    _f("-t", "--type", help="\"js\" or \"archive\" (found out from the file when not given)", metavar="TYPE"),
    # -- reaching hosts
    _f("--insecure-skip-tls-verify", help="skip verification of TLS certificates", **_BOOL),
    _f("--blacklist-ip", help="refuse connections to an IP range (CIDR; repeatable, comma-separated)",
       kind="list", metavar="CIDR"),
    _f("--block-hostnames", help="refuse a host name pattern, e.g. *.example.com (repeatable, comma-separated)",
       kind="list", metavar="PATTERN"),
    _f("--dns", help="DNS resolution, e.g. ttl=5m,select=random,policy=preferIPv4", metavar="CONFIG"),
    _f("--local-ips", help="source IPs for the VUs' connections", metavar="IPS", state=UNSUPPORTED,
       note="connections use the system's source address"),
    # -- tags, thresholds, summary
    _f("--tag", help="a tag added to every sample, NAME=VALUE (repeatable)", kind="list", metavar="NAME=VALUE"),
    _f("--system-tags", help="only these system tags on samples (comma-separated)", kind="list", metavar="TAGS"),
    _f("--no-thresholds", help="do not evaluate thresholds", **_BOOL),
    _f("--no-summary", help="print no end-of-test summary", **_BOOL),
    _f("--summary-mode", help="\"compact\" (default), \"full\" or \"legacy\"", metavar="MODE"),
    _f("--summary-trend-stats", help="Trend statistics for the summary, e.g. avg,p(99)", metavar="STATS"),
    _f("--summary-time-unit", help="time unit of the summary's Trend values: s, ms or us", metavar="UNIT"),
    _f("--summary-export", help="write the summary as JSON to FILE", metavar="FILE"),
    # -- output
    _f("-o", "--out", help="write every sample to json=FILE or csv=FILE (repeatable)", kind="list",
       metavar="TYPE=FILE"),
    _f("--console-output", help="write console.log() lines to FILE instead of the log", metavar="FILE"),
    _f("--traces-output", help="\"none\"; trace outputs are not supported", metavar="OUTPUT", state=UNSUPPORTED,
       note="k6host records no traces"),
    _f("-p", "--paused", help="start the test paused: it starts when resumed through the REST API", **_BOOL),
    _f("-l", "--linger", help="keep the REST API server alive past the end (no effect)", state=UNSUPPORTED,
       note="the REST API ends with the test", **_BOOL),
    _f("--no-usage-report", help="send no usage report (k6host never sends one)", **_BOOL),
    # -- HTTP: accepted so that k6 command lines work; k6host makes no HTTP requests
    _f("-w", "--throw", help="throw on failed HTTP requests", state=HTTP, **_BOOL),
    _f("--max-redirects", help="follow at most N HTTP redirects", state=HTTP, metavar="N"),
    _f("--batch", help="max parallel HTTP batch requests", state=HTTP, metavar="N"),
    _f("--batch-per-host", help="max parallel HTTP batch requests per host", state=HTTP, metavar="N"),
    _f("--rps", help="limit HTTP requests per second", state=HTTP, metavar="N"),
    _f("--user-agent", help="HTTP User-Agent", state=HTTP, metavar="TEXT"),
    _f("--http-debug", help="log HTTP requests (=full for bodies)", state=HTTP, **_BOOL),
    _f("--no-connection-reuse", help="disable HTTP keep-alive", state=HTTP, **_BOOL),
    _f("--no-vu-connection-reuse", help="no HTTP connection reuse between iterations", state=HTTP, **_BOOL),
    _f("--discard-response-bodies", help="read but don't keep HTTP response bodies", state=HTTP, **_BOOL),
    # -- k6's global flags (also accepted before "run")
    _f("-c", "--config", help="a JSON file of options", metavar="FILE", is_global=True),
    _f("-q", "--quiet", help="no progress lines", is_global=True, **_BOOL),
    _f("-v", "--verbose", help="show debug output", is_global=True, **_BOOL),
    _f("--no-color", help="no colours in the output", is_global=True, **_BOOL),
    _f("--log-output", help="where log lines go: stderr, stdout, none or file=PATH", metavar="OUTPUT",
       is_global=True),
    _f("--log-format", help="log line format: json or raw (default: k6's text)", metavar="FORMAT",
       is_global=True),
    _f("--secret-source", help="secret sources are not supported", metavar="SOURCE", kind="list",
       state=UNSUPPORTED, note="k6/secrets is not available in k6host", is_global=True),
    _f("-a", "--address", help="address of the REST API (default localhost:6565; \"\" turns it off)",
       metavar="HOST:PORT", is_global=True),
    _f("--profiling-enabled", help="pprof endpoints (no effect)", state=UNSUPPORTED,
       note="k6host serves no pprof endpoints", is_global=True, **_BOOL),
    # -- k6host's own
    _f("--with-echo", help="start the built-in echo server; TCP_ECHO_HOST/PORT go into __ENV", state=K6HOST,
       **_BOOL),
    _f("--processes", help="worker processes to split the test over: a number, or auto (one per core, the default)",
       metavar="N", state=K6HOST, default="auto"),
    _f("--tcp-debug", help="log every socket step to stderr; --tcp-debug=full adds a hexdump of the bytes",
       state=K6HOST, **_BOOL),
    _f("--module-path", help="also load k6host modules written in Python from DIR (repeatable; "
       "K6HOST_MODULE_PATH adds more)", kind="list", metavar="DIR", state=K6HOST),
)

_BY_LONG = {flag.long: flag for flag in RUN_FLAGS}
_BY_NAME = {name: flag for flag in RUN_FLAGS for name in flag.names}


class _SetBool(argparse.Action):
    """A bare boolean flag: true. (``--flag=value`` is read before argparse, see ``split_bool_values``.)"""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, True)


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    for flag in RUN_FLAGS:
        kw: dict[str, Any] = {"help": flag.help, "dest": flag.dest, "default": flag.default}
        if flag.kind == "bool":
            kw["action"] = _SetBool
        else:
            kw["metavar"] = flag.metavar
            if flag.kind == "list":
                kw["action"] = "append"
        parser.add_argument(*flag.names, **kw)
    # Kept from earlier k6host versions (k6 itself spells it --include-system-env-vars=false).
    parser.add_argument("--no-include-system-env-vars", dest="include_system_env_vars", action="store_false",
                        help=argparse.SUPPRESS)


class FlagError(ValueError):
    """A flag with a value k6 would refuse; the message names the flag, as k6's does."""


def parse_bool(text: str, flag: Flag) -> bool:
    try:
        return _BOOL_TEXT[text]
    except KeyError:
        raise FlagError(
            f'invalid argument "{text}" for "{", ".join(flag.names)}" flag: '
            f'strconv.ParseBool: parsing "{text}": invalid syntax'
        ) from None


def split_bool_values(argv: Sequence[str]) -> tuple[list[str], dict[str, bool]]:
    """Take ``--bool-flag=value`` out of ``argv``: (what argparse reads, explicit values).

    A bare ``--flag`` or a short form after an explicit value sets it again,
    so the last spelling wins as in pflag. ``--http-debug=full`` counts as set.
    """
    rest: list[str] = []
    explicit: dict[str, bool] = {}
    for arg in argv:
        if arg == "--":
            rest.append(arg)
            continue
        name, sep, value = arg.partition("=")
        flag = _BY_NAME.get(name)
        if flag is not None and flag.kind == "bool" and sep and name.startswith("--"):
            if flag.long == "--http-debug" and value in ("headers", "full"):
                explicit[flag.dest] = True
            elif flag.long == "--tcp-debug":  # its value is a mode (basic, full), checked with the options
                explicit[flag.dest] = value  # type: ignore[assignment]
            else:
                explicit[flag.dest] = parse_bool(value, flag)
            continue
        if flag is not None and flag.kind == "bool":
            explicit.pop(flag.dest, None)  # a later bare flag wins
        rest.append(arg)
    return rest, explicit


def move_global_flags(argv: Sequence[str], commands: Sequence[str]) -> list[str]:
    """``k6host -q -c x.json run s.js`` -> ``k6host run -q -c x.json s.js``, as k6 reads global flags."""
    argv = list(argv)
    moved: list[str] = []
    i = 0
    while i < len(argv) and argv[i] not in commands:
        arg = argv[i]
        name = arg.partition("=")[0]
        flag = _BY_NAME.get(name)
        if flag is None or not flag.is_global:
            return argv  # not ours to move: argparse explains
        moved.append(arg)
        if flag.kind != "bool" and "=" not in arg and i + 1 < len(argv):
            moved.append(argv[i + 1])
            i += 1
        i += 1
    if i >= len(argv) or argv[i] != "run":
        return argv
    return [argv[i]] + moved + argv[i + 1:]


def unsupported_warnings(args: argparse.Namespace) -> list[str]:
    """A warning for each flag given that k6host accepts but cannot apply (HTTP ones: see options)."""
    warnings = []
    for flag in RUN_FLAGS:
        value = getattr(args, flag.dest, None)
        if flag.state != UNSUPPORTED or value in (None, False, []):
            continue
        if flag.long == "--local-ips":
            continue  # options.py warns, for K6_LOCAL_IPS too
        if flag.long == "--traces-output" and value == "none":
            continue
        warnings.append(f"{flag.long} is not supported by k6host ({flag.note}); it has no effect")
    return warnings


def flag_table() -> str:
    """The README's list of ``k6host run`` flags, as markdown."""
    rows = ["| flag | what it does | k6host |", "|---|---|---|"]
    for flag in RUN_FLAGS:
        spelled = ", ".join(f"`{name}`" for name in flag.names)
        if flag.kind == "bool":
            spelled += " (`=true|false`)"
        elif flag.metavar:
            spelled = spelled.replace(f"`{flag.long}`", f"`{flag.long} {flag.metavar}`")
        state = flag.state + (f": {flag.note}" if flag.note else "")
        if flag.is_global:
            state += " (global: also before `run`)"
        rows.append(f"| {spelled} | {flag.help.replace('|', '/')} | {state} |")
    return "\n".join(rows) + "\n"
