"""The Python API: run a k6 script from Python and look at what happened."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from k6host.report.log import Log
from k6host.run.metrics import Metrics
from k6host.run.runner import RunConfig, TestRun


@dataclass
class RunResult:
    """What one run produced; ``summary`` has the shape handleSummary receives."""

    exit_code: int
    summary: dict[str, Any] | None
    checks: list[dict[str, Any]]  # [{"name", "passes", "fails"}], same-named checks merged
    console: list[str]  # the messages the script logged, in order
    errors: list[str]  # iterations that ended in an exception, with their stacks
    output: str  # everything written to the log (k6's stderr) and the summary text
    metrics: Metrics = field(repr=False)
    iterations_interrupted: int = 0
    fail_calls: list[tuple[str, str]] = field(default_factory=list)  # test.fail(): (reason, where it was called)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def metric(self, name: str) -> dict[str, Any] | None:
        """``summary["metrics"][name]`` (type, contains, values, thresholds), if any."""
        return (self.summary or {}).get("metrics", {}).get(name)


def _count(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return {name: value}


def run(
    script: str | os.PathLike[str],
    *,
    vus: int | None = None,
    iterations: int | None = None,
    duration: str | float | None = None,
    env: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
    module_path: Sequence[str | os.PathLike[str]] = (),
) -> RunResult:
    """Run ``script`` as ``k6host run`` would, in this process, and return the result.

    ``vus``, ``iterations`` and ``duration`` act as the command-line flags do;
    ``options`` (k6's option names and JSON shape) rank just below them, above
    the script's own. ``env`` adds to ``__ENV`` (the process environment is
    there too, as in k6). ``module_path``: folders of modules written in
    Python (as ``--module-path``; K6HOST_MODULE_PATH adds to it). Problems k6 reports with an exit code (script
    errors, bad options, crossed thresholds) come back in the result; a
    missing script raises FileNotFoundError, wrong argument types TypeError.
    """
    path = os.fspath(script)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"script not found: {path}")
    if duration is not None and not isinstance(duration, (str, int, float)):
        raise TypeError(f"duration must be a string such as '30s' or a number of seconds, got {type(duration).__name__}")
    if env is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise TypeError("env must map strings to strings")
    if not isinstance(module_path, (list, tuple)) or not all(isinstance(p, (str, os.PathLike)) for p in module_path):
        raise TypeError("module_path must be a list of folder paths")
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"options must be a mapping of k6 options, got {type(options).__name__}")
    cli: dict[str, Any] = {**_count("vus", vus), **_count("iterations", iterations)}
    if duration is not None:
        cli["duration"] = f"{duration}s" if isinstance(duration, (int, float)) else duration
    return execute(path, cli=cli, env=env, overrides=options, module_path=tuple(os.fspath(p) for p in module_path))


def execute(
    path: str,
    *,
    cli: dict[str, Any],
    env: Mapping[str, str] | None,
    overrides: Mapping[str, Any] | None,
    module_path: tuple[str, ...] = (),
) -> RunResult:
    """Run with the given command-line flags, quietly, everything captured."""
    cli = {**cli, "quiet": True, "no_color": True}
    stream = io.StringIO()
    log = Log(stream, color=False)
    summary_out = io.StringIO()
    config = RunConfig(
        script=path,
        env={**os.environ, **(env or {})},
        cli=cli,
        process_env=dict(os.environ),
        overrides=dict(overrides or {}),
        stdout=summary_out,
        module_path=module_path,
    )
    test_run = TestRun(config, log)
    result = test_run.run()
    return RunResult(
        exit_code=result.exit_code,
        summary=result.summary,
        checks=test_run.test.groups.checks_by_name(),
        console=[message for _, message, source in log.lines if source == "console"],
        errors=list(result.errors),
        output=stream.getvalue() + summary_out.getvalue(),
        metrics=result.metrics,
        iterations_interrupted=test_run.test.iterations_interrupted,
        fail_calls=list(test_run.test.fail_calls),
    )
