"""The small subcommands: ``version``, ``new`` and ``completion``."""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import sys
from importlib import metadata
from typing import TextIO

from k6host import __version__
from k6host.run.runner import UsageError

_STARTER = """\
import { Socket } from "k6/x/tcp"
import { check } from "k6"

// k6host run --with-echo {name}   starts an echo server and puts its address in __ENV
const HOST = __ENV.TCP_ECHO_HOST || "127.0.0.1"
const PORT = Number(__ENV.TCP_ECHO_PORT || 9000)

export const options = {
  vus: 10,
  duration: "30s",
  thresholds: {
    checks: ["rate==1"],
  },
}

export default async function () {
  const socket = new Socket()
  const reply = new Promise((resolve) => socket.on("data", resolve))
  await socket.connect(PORT, HOST)
  await socket.write("Hello, server!")
  const data = await reply
  check(data, { "echoed": (d) => String.fromCharCode.apply(null, d) === "Hello, server!" })
  socket.destroy()
}
"""


_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm"}


def _engine_version() -> str:
    try:
        from dukpy import _dukpy

        get = ctypes.PyDLL(_dukpy.__file__).JS_GetVersion
        get.restype = ctypes.c_char_p
        quickjs = get().decode()
    except (ImportError, OSError, AttributeError):
        quickjs = "unknown"
    return f"quickjs-ng {quickjs} via dukpy {metadata.version('dukpy')}"


def version_text(as_json: bool = False) -> str:
    """As ``k6 version`` prints: ``k6host v1.2.3 (engine, python, os/arch)``."""
    python = f"python{platform.python_version()}"
    machine = platform.machine().lower()
    system = f"{sys.platform}/{_GO_ARCH.get(machine, machine)}"  # as Go names them, like k6
    if as_json:
        return json.dumps({"engine": _engine_version(), "os_arch": system, "python_version": python,
                           "version": f"v{__version__}"}, sort_keys=True)
    return f"k6host v{__version__} ({_engine_version()}, {python}, {system})\n"


def new_script(path: str, force: bool, out: TextIO) -> int:
    """``k6host new [FILE]``: a starter TCP script, as ``k6 new`` writes an HTTP one."""
    if os.path.exists(path) and not force:
        raise UsageError(f"{path} already exists. Use the `--force` flag to overwrite it")
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(_STARTER.replace("{name}", os.path.basename(path)))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    out.write(f"New script created: {path} (k6/x/tcp template).\n")
    return 0


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Each subcommand's option strings, from the parser itself."""
    found: dict[str, list[str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sorted(
                    s for a in sub._actions for s in a.option_strings if a.help != argparse.SUPPRESS
                )
    return found


def completion_script(shell: str, parser: argparse.ArgumentParser) -> str:
    """A completion script for ``shell``, built from the parser so that it lists every flag."""
    commands = _subcommands(parser)
    names = " ".join(commands)
    if shell == "bash":
        cases = "\n".join(f'        {name}) opts="{" ".join(flags)}" ;;' for name, flags in commands.items())
        return f"""# bash completion for k6host; source it, or put it in /etc/bash_completion.d/
_k6host() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} cmd=""
    local i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${{COMP_WORDS[i]}} in -*) ;; *) cmd=${{COMP_WORDS[i]}}; break ;; esac
    done
    if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "{names} -q -v -c --no-color --log-output --log-format --help --version" -- "$cur"))
        return
    fi
    local opts=""
    case $cmd in
{cases}
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}}
complete -o filenames -F _k6host k6host
"""
    if shell == "zsh":
        lines = ["#compdef k6host", "# zsh completion for k6host; put it on $fpath as _k6host", "_k6host() {",
                 "  local -a commands", f"  commands=({names})", "  if (( CURRENT == 2 )); then",
                 "    compadd -a commands; return", "  fi", "  case ${words[2]} in"]
        for name, flags in commands.items():
            lines.append(f"    {name}) _arguments '*:file:_files' {' '.join(repr(f) for f in flags)} ;;")
        lines += ["  esac", "}", 'compdef _k6host k6host', ""]
        return "\n".join(lines)
    lines = ["# fish completion for k6host; put it in ~/.config/fish/completions/k6host.fish"]
    lines.append(f"complete -c k6host -n __fish_use_subcommand -f -a '{names}'")
    for name, flags in commands.items():
        for flag in flags:
            option = f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}"
            lines.append(f"complete -c k6host -n '__fish_seen_subcommand_from {name}' {option}")
    return "\n".join(lines) + "\n"
