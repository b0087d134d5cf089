"""`k6host archive` and `k6host inspect`, and running a test from an archive.

An archive is a tar laid out as k6's: ``metadata.json`` (the consolidated
options, with the command line's overrides, the ``-e`` variables, the main
script's ``file://`` URL), ``data`` (the main script) and every local file the
script read at init under ``file/`` and its absolute path. ``run`` and
``inspect`` accept it (and k6's own archives of scripts k6host can run).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any, Mapping
from urllib.parse import unquote, urlparse

from k6host import __version__
from k6host.engine import loader
from k6host.engine.interpreter import ScriptError
from k6host.report.log import Log, stack_for_log
from k6host.modules.registry import module_path_from
from k6host.run.durations import format_duration
from k6host.run.exitcodes import ExitCode
from k6host.run.metrics import MetricError
from k6host.run.options import (
    Options,
    OptionsError,
    consolidated_options_json,
    exported_options_json,
    load_options,
)
from k6host.run.state import TestState
from k6host.vu.workers import start_workers


K6_VERSION = "1.1.0"  # the k6 whose behaviour k6host follows


class ArchiveError(Exception):
    """A script that cannot be archived or inspected, or a bad archive; carries k6's exit code."""

    def __init__(self, message: str, exit_code: int = ExitCode.GENERIC_ERROR):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Loaded:
    """A script after its init code ran once: its options and the files it read."""

    script: str
    exported: dict[str, Any]  # the options the script exports (or an archive holds)
    options: Options
    files: set[str] = field(default_factory=set)
    env: dict[str, str] = field(default_factory=dict)  # -e variables


def load(script: str, *, env: Mapping[str, str], user_env: Mapping[str, str], cli: Mapping[str, Any],
         config_file: str | None, process_env: Mapping[str, str], log: Log,
         exported: Mapping[str, Any] | None = None, module_path: tuple[str, ...] = ()) -> Loaded:
    """Run the init code of one VU (as a run does first) and consolidate the options."""
    if not os.path.isfile(script):
        raise ArchiveError(f"script not found: {script}")
    test = TestState(script=script, env=dict(env), log=log, module_path=module_path_from(process_env, module_path))
    files: set[str] = set()
    loader.FILE_RECORDERS.append(files)
    workers = []
    try:
        try:
            workers = start_workers(test, range(1, 2))
        except ScriptError as exc:
            log("error", stack_for_log(exc.text), hint="script exception")
            raise ArchiveError("", ExitCode.SCRIPT_EXCEPTION) from None  # logged just above
        first = workers[0]
        functions = first.call(lambda vu: vu.exported_functions())
        script_options = dict(first.options if exported is None else exported)
        try:
            options = load_options(script_options, config_file=config_file, env=process_env, cli=cli,
                                   exports=sorted(functions))
        except OptionsError as exc:
            raise ArchiveError(str(exc), exc.exit_code) from None
        except MetricError as exc:
            raise ArchiveError(str(exc), ExitCode.INVALID_CONFIG) from None
    finally:
        loader.FILE_RECORDERS.remove(files)
        for worker in workers:
            worker.shutdown(1.0)
        test.hub.join(1.0)
    for warning in options.warnings:
        log("warning", warning)
    files.add(os.path.abspath(script))
    return Loaded(script, script_options, options, files, dict(user_env))


# -- writing -----------------------------------------------------------------------------------
def _file_url(path: str) -> str:
    return "file://" + os.path.abspath(path)


def write_archive(loaded: Loaded, target: str) -> None:
    metadata = {
        "type": "js",
        "options": consolidated_options_json(loaded.options, derived_scenarios=False),
        "filename": _file_url(loaded.script),
        "pwd": _file_url(os.path.dirname(os.path.abspath(loaded.script))),
        "env": loaded.env,
        "compatibilityMode": "extended",
        # k6 reads an archive only with these two: the k6 release k6host follows, and Go's OS name.
        "k6version": K6_VERSION,
        "goos": {"darwin": "darwin", "win32": "windows"}.get(sys.platform, "linux"),
        "k6hostVersion": __version__,
    }
    now = time.time()

    def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), now, 0o644
        tar.addfile(info, BytesIO(data))

    try:
        with open(loaded.script, "rb") as f:
            main = f.read()
        with tarfile.open(target, "w") as tar:
            add(tar, "metadata.json", json.dumps(metadata, indent=2).encode())
            add(tar, "data", main)
            for path in sorted(loaded.files):
                with open(path, "rb") as f:
                    add(tar, "file" + path, f.read())
    except OSError as exc:
        raise ArchiveError(f"cannot write the archive {target}: {exc.strerror or exc}") from None


# -- reading -----------------------------------------------------------------------------------
@dataclass
class Opened:
    """An archive unpacked into a temporary folder, until close()."""

    script: str
    options: dict[str, Any]
    env: dict[str, str]
    folder: str

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def is_archive(path: str) -> bool:
    return os.path.isfile(path) and not path.endswith((".js", ".mjs", ".cjs")) and tarfile.is_tarfile(path)


def open_archive(path: str) -> Opened:
    folder = tempfile.mkdtemp(prefix="k6host-archive-")
    try:
        with tarfile.open(path) as tar:
            try:
                metadata = json.load(tar.extractfile("metadata.json"))  # type: ignore[arg-type]
            except (KeyError, AttributeError, ValueError) as exc:
                raise ArchiveError(f"{path} is not a k6 archive: no readable metadata.json ({exc})") from None
            # The data filter refuses absolute paths, links out of the folder and devices.
            tar.extractall(folder, filter="data")
        url = urlparse(str(metadata.get("filename", "")))
        if url.scheme != "file":
            raise ArchiveError(f"{path}: the archived script {metadata.get('filename')!r} is not a local file")
        script = os.path.join(folder, "file", unquote(url.path).lstrip("/"))
        if not os.path.isfile(script):  # k6 links the main script to "data"
            os.makedirs(os.path.dirname(script), exist_ok=True)
            shutil.copyfile(os.path.join(folder, "data"), script)
        options = metadata.get("options") or {}
        env = metadata.get("env") or {}
        if not isinstance(options, dict) or not isinstance(env, dict):
            raise ArchiveError(f"{path}: metadata.json has malformed options or env")
        return Opened(script, options, {str(k): str(v) for k, v in env.items()}, folder)
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise ArchiveError(f"cannot read the archive {path}: {exc}") from None
    except ArchiveError:
        shutil.rmtree(folder, ignore_errors=True)
        raise


# -- inspect -----------------------------------------------------------------------------------
def inspect_json(loaded: Loaded, execution_requirements: bool) -> str:
    if execution_requirements:
        shown = consolidated_options_json(loaded.options, derived_scenarios=True)
        shown["totalDuration"] = format_duration(loaded.options.total_duration())
        shown["maxVUs"] = loaded.options.max_vus()
    else:
        shown = exported_options_json(loaded.exported)
    return go_json(shown)


def go_json(value: Any) -> str:
    """JSON as k6 prints it (Go's encoder): <, > and & escaped, two-space indent."""
    text = json.dumps(_go_maps(value), indent=2)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# Options that are Go maps (json.Marshal sorts their keys), at the top level and in each scenario.
_MAPS = ("scenarios", "thresholds", "tags", "hosts", "env")


def _go_maps(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    shown = dict(value)
    for key in _MAPS:
        if isinstance(shown.get(key), dict):
            shown[key] = {name: _go_maps(item) for name, item in sorted(shown[key].items())}
    return shown
