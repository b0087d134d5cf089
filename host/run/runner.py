"""Running a test from start to end, as ``k6 run`` does.

init one VU (its exported options) -> options -> thresholds -> the other VUs
-> setup() -> scenarios -> teardown() -> thresholds -> summary -> exit code.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, TextIO

from k6host.report.log import Log, stack_for_log
from k6host.engine.interpreter import ScriptError
from k6host.engine.loader import file_url
from k6host.run.executors import EXECUTORS, Executor, VUPool
from k6host.run.groups import GroupTree
from k6host.run.metrics import Metrics, MetricError
from k6host.run.processes import ForwardingGroups, ForwardingMetrics, Workers
from k6host.run.segments import Segment, SegmentedIndex, Tuple, parse_sequence
from k6host.run.split import THRESHOLD_PERIOD, SplitRun
from k6host.run.options import ALL_SYSTEM_TAGS, Options, OptionsError, compatibility_mode, load_options
from k6host.report.outputs import OutputError, open_outputs
from k6host import __version__
from k6host.report.progress import Frame, Progress, stats_line
from k6host.run.durations import format_duration
from k6host.run.recursion import deep_enough
from k6host.report.summary import (
    UNDEFINED,
    SummaryError,
    SummaryOutput,
    js_json,
    render_summary,
    route_handle_summary,
    summary_data,
    summary_report,
    summary_result,
)
from k6host.run.thresholds import ThresholdError, crossed_message, declare_submetrics, evaluate, parse_thresholds
from k6host.modules.registry import module_path_from
from k6host.net.netconfig import NetConfig
from k6host.run.exitcodes import ExitCode
from k6host.run.state import TestState
from k6host.run.restapi import AddressError, Control, RestServer, RunView, Status
from k6host.vu.vu import IterationAborted
from k6host.vu.workers import VUWorker, start_workers
from k6host.net.tcpdebug import TcpDebug


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UsageError(Exception):
    """Bad input from the user (not the script); the message says what."""

    def __init__(self, message: str, exit_code: int = ExitCode.GENERIC_ERROR):
        super().__init__(message)
        self.exit_code = exit_code


def parse_env(pairs: list[str], source: str = "--env", bare: bool = False) -> dict[str, str]:
    """``-e KEY=VALUE`` pairs as a dict; a malformed pair is a UsageError naming ``source``.

    With ``bare``, ``KEY`` alone sets KEY to "", as ``k6 run -e KEY`` does.
    """
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep and not bare:
            raise UsageError(f"invalid {source} {pair!r}: expected KEY=VALUE")
        if not _ENV_NAME.match(key):
            # k6's words, then where it came from.
            raise UsageError(f"invalid environment variable name '{key}'" + ("" if bare else f" in {source} {pair!r}"))
        env[key] = value
    return env


@dataclass
class RunConfig:
    """Everything ``k6host run`` was told."""

    script: str
    env: dict[str, str]  # what the script sees as __ENV
    cli: dict[str, Any] = field(default_factory=dict)  # the option flags given
    config_file: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # options from the Python API
    process_env: Mapping[str, str] = field(default_factory=dict)  # where K6_* options come from
    record_samples: bool = False
    handle_signals: bool = False
    stdout: TextIO | None = None
    module_path: tuple[str, ...] = ()  # --module-path folders (K6HOST_MODULE_PATH adds to them)
    processes: int | None = 1  # worker processes (processes.py); None: one per core
    link: Any = None  # in a worker process: its ParentLink
    # The REST API (restapi.py): where to serve it (None or "": not at all), whether
    # the user named the address (then a busy port ends the run, as in k6), --paused.
    address: str | None = None
    address_explicit: bool = False
    paused: bool = False
    # An archive's options, in place of what the script exports (as k6 runs an archive).
    script_options: dict[str, Any] | None = None


@dataclass
class Result:
    exit_code: int
    metrics: Metrics
    log: Log
    options: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    summary: dict[str, Any] | None = None


class _Interrupts:
    """Ctrl-C: the first stops the test gracefully, a second ends the process."""

    def __init__(self, test: TestState, enabled: bool):
        self.test = test
        self.received = 0
        self.signal_name = ""
        self._previous: dict[int, Any] = {}
        if enabled and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        # Go's names for the signals, in k6's own words (scripts and log
        # readers written for k6 see the same lines).
        name = {signal.SIGINT: "interrupt", signal.SIGTERM: "terminated"}.get(signum, str(signum))
        self.received += 1
        if self.received > 1:
            self.test.log("error", "Aborting k6 in response to signal", sig=name)
            os._exit(ExitCode.EXTERNAL_ABORT)
        self.signal_name = name
        self.test.stop.set()

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class TestRun(SplitRun):
    def __init__(self, config: RunConfig, log: Log):
        self.config = config
        self.log = log
        self.stdout = config.stdout if config.stdout is not None else sys.stdout
        link = config.link
        self.test = TestState(
            script=config.script,
            env=dict(config.env),
            log=log,
            metrics=Metrics(record=config.record_samples) if link is None else ForwardingMetrics(link),
            groups=GroupTree() if link is None else ForwardingGroups(link),
            module_path=module_path_from(config.process_env, config.module_path),
        )
        self.result = Result(ExitCode.OK, self.test.metrics, log, errors=self.test.errors)
        self.workers: list[VUWorker] = []
        self.lifecycle: VUWorker | None = None  # the VU that runs setup/teardown/handleSummary
        self.pool: VUPool | None = None
        self.setup_json: str | None = None
        self.thresholds: list = []
        self.options: Options | None = None
        self.executors: list[Executor] = []
        self.collector: SummaryOutput | None = None  # --summary-mode=full's per-group results
        self.processes: Workers | None = None  # the worker processes, when the test is split
        self._worker_signal: str | None = None  # a signal that stopped a worker process
        self.thresholds_evaluated = False  # the REST API's "tainted" is null until then
        self.control = Control(paused=config.paused)  # from the start: a resume may come during init
        self.control.on_stop = self.test.stop.set
        self.control.first_executor = self._first_executor
        self.api: RestServer | None = None

    # -- the whole run ---------------------------------------------------------------
    def run(self) -> Result:
        if not os.path.isfile(self.config.script):
            raise UsageError(f"script not found: {self.config.script}")
        if self.config.address:
            try:
                self.api = RestServer(self.config.address, RunView(self))
            except AddressError as exc:
                # As k6: an address the user gave must work; the default one may be taken.
                if self.config.address_explicit:
                    self.log("error", "Error from API server", error=str(exc))
                    self.result.exit_code = ExitCode.CANNOT_START_REST_API
                    return self.result
                self.log("warning", "Error from API server", error=str(exc))
        interrupts = _Interrupts(self.test, self.config.handle_signals)
        try:
            self.result.exit_code = self._run()
        finally:
            if self.api is not None:
                self.api.close()
            interrupts.restore()
            # The pool holds the VUs arrival-rate scenarios added too.
            everyone = list(self.pool.all) if self.pool is not None else self.workers
            for worker in everyone + ([self.lifecycle] if self.lifecycle else []):
                worker.shutdown(1.0)
            if self.processes is not None:
                self.processes.stop()
                self.processes.close()
            self.test.hub.join(1.0)
            for output in self.test.metrics.outputs:
                output.close()
        stopped_by = ExitCode.OK
        signal_name = interrupts.signal_name if interrupts.received else self._worker_signal
        if signal_name:
            self.log("error", f"test run was aborted because k6 received a '{signal_name}' signal")
            stopped_by = ExitCode.EXTERNAL_ABORT
        elif self.control.stopped:
            self.log("error", "test run stopped from REST API")
            stopped_by = ExitCode.SCRIPT_STOPPED_FROM_REST_API
        if stopped_by and self.result.exit_code in (ExitCode.OK, ExitCode.THRESHOLDS_FAILED, ExitCode.MARKED_AS_FAILED):
            self.result.exit_code = stopped_by
        return self.result

    def _first_executor(self) -> tuple[str, str] | None:
        """The first scenario's (executor, name): the one k6 names when it refuses a pause."""
        scenarios = self.options.scenarios if self.options is not None else []
        return (scenarios[0].executor, scenarios[0].name) if scenarios else None

    def _run(self) -> int:
        modules = self.test.modules
        if modules.registry.conflicts:
            for conflict in modules.registry.conflicts:
                self.log("error", conflict)
            return ExitCode.SCRIPT_EXCEPTION
        # Said before any VU starts: a script that imports one of these fails
        # at init, and this says why.
        for problem in modules.problems() if self.config.link is None else ():  # a worker's parent said them
            self.log("warning", problem)
        self.control.status = Status.INIT_VUS
        try:
            # Known before any VU starts: it decides the globals a VU has.
            self.test.compatibility_mode = compatibility_mode(self.config.cli, self.config.process_env)
        except OptionsError as exc:
            self.log("error", str(exc))
            return exc.exit_code
        first_id = 1
        if self.config.link is not None:
            # A worker process's VUs are the run's VUs of its segment (its parent gave it one):
            # __VU, exec.vu.idInTest and the vu tag number them as one process would.
            cli = self.config.cli
            segment = Tuple.of(Segment.parse(cli["execution_segment"]), parse_sequence(cli["execution_segment_sequence"]))
            self._vu_index = SegmentedIndex(segment)
            first_id = self._vu_index.next()[1]
            self.test.split_run = True
        try:
            first = start_workers(self.test, range(first_id, first_id + 1))[0]
        except (ScriptError, OSError) as exc:
            return self._start_failed(exc)
        self.workers = [first]
        self._exported = set(first.call(lambda vu: vu.exported_functions()))
        if not self._exported:  # k6's words and exit code
            self.log("error", f"could not initialize '{self.config.script}': could not load JS test "
                              f"'{file_url(self.config.script)}': no exported functions in script")
            return ExitCode.GENERIC_ERROR
        try:
            self._configure(first)
        except (OptionsError, ThresholdError) as exc:
            self.log("error", str(exc))
            return exc.exit_code
        except MetricError as exc:
            self.log("error", str(exc))
            return ExitCode.INVALID_CONFIG
        if self.config.link is not None:
            return self._run_as_worker(first)  # its parent writes the outputs, with every sample
        try:
            self.test.metrics.outputs.extend(
                open_outputs(self.options.out, thresholds=self.thresholds, env=self.config.process_env, stdout=self.stdout,
                             log=self.log, script=self.config.script)
            )
        except OutputError as exc:
            self.log("error", str(exc))
            return ExitCode.GENERIC_ERROR
        assert self.options is not None
        count = self._process_count()
        try:
            if count > 1:
                self._start_processes(count)
            else:
                self.workers += start_workers(self.test, range(2, self.options.planned_vus() + 1))
            if self._exported & {"setup", "teardown", "handleSummary"}:
                # Made now: after a Ctrl-C, a new VU's init code would be interrupted.
                self._lifecycle_vu()
        except (ScriptError, OSError) as exc:
            return self._start_failed(exc)
        self.control.status = Status.INIT_DONE
        if not self.config.cli.get("quiet"):
            self.stdout.write(self._banner())
            self.stdout.flush()
        if self.processes is not None:
            code = self._processes_ready()
            if self.test.stop.is_set():  # a signal while the workers made their VUs: no setup, no teardown
                return self._stopped_during_init()
            if code:
                return code
            with self.test.lock:  # the workers made the test's VUs (the REST API's vus-max counts them)
                self.test.vus_initialized = self.options.planned_vus()
        code = ExitCode.OK
        self.control.pause_from_options(bool(self.options.raw.get("paused")))
        if self.control.paused and self.api is None:
            self.log("warning", "the test is paused and no REST API can resume it (see --address): only a signal ends it")
        if self.control.wait_for_start(self.test.stop):
            self.control.started = True
            self.control.status = Status.SETUP
            # As in k6: a setup() that failed means no scenarios and no teardown().
            code = self._setup()
            if code == ExitCode.OK:
                self.control.status = Status.RUNNING
                if self.processes is not None:
                    self._scenarios_in_processes()
                else:
                    self._scenarios()
                self.control.status = Status.TEARDOWN
                code = self._teardown()
        self.test.metrics.ended = time.time()
        if self.test.stop.is_set():  # a stop from outside, test.abort(), or a threshold's abort
            self.control.status = Status.INTERRUPTED
        else:
            self.control.ended = True
            self.control.status = Status.ENDED
        crossed = self._final_thresholds()
        with deep_enough():  # setup()'s data is in the summary, at its depth
            self._summary()
        if getattr(self, "progress", None) is not None:
            self.progress.stop()
        if code:
            return code
        if self.processes is not None and self.processes.dead():
            return ExitCode.GENERIC_ERROR  # the run is incomplete: its results are not the test's
        if self.test.abort_reason is not None:
            return ExitCode.SCRIPT_ABORTED if not self._aborted_by_threshold else ExitCode.THRESHOLDS_FAILED
        if crossed:
            return ExitCode.THRESHOLDS_FAILED
        if self.test.failed:
            self.log("error", "test run was marked as failed")
            return ExitCode.MARKED_AS_FAILED
        return ExitCode.OK

    def _start_failed(self, exc: ScriptError | OSError) -> int:
        """A VU could not start: its init code threw, or the machine refused it."""
        if self.test.stop.is_set():  # a signal interrupted the init code: no script error
            return self._stopped_during_init()
        if isinstance(exc, ScriptError):
            self.log("error", stack_for_log(exc.text), hint="script exception")
            return ExitCode.SCRIPT_EXCEPTION
        self.log("error", f"cannot start a VU: {exc.strerror or exc}")
        return ExitCode.GENERIC_ERROR

    def _stopped_during_init(self) -> int:
        """A signal came while VUs were being made: the summary, if the
        options are known, and k6's exit code (run() says why)."""
        if self.options is not None and ("handleSummary" not in self._exported or self.lifecycle is not None):
            self.test.metrics.ended = time.time()
            with deep_enough():
                self._summary()
        return ExitCode.EXTERNAL_ABORT

    # -- configuration ------------------------------------------------------------------
    def _configure(self, first: VUWorker) -> None:
        options = load_options(
            first.options if self.config.script_options is None else self.config.script_options,
            config_file=self.config.config_file,
            env=self.config.process_env,
            cli=self.config.cli,
            exports=sorted(self._exported),
            overrides=self.config.overrides,
        )
        self.options = options
        for warning in options.warnings + options.notices if self.config.link is None else ():
            self.log("warning", warning)
        if options.system_tags is not None:
            self.test.metrics.dropped_tags = frozenset(ALL_SYSTEM_TAGS - set(options.system_tags))
        if options.summary_mode == "full":
            self.collector = SummaryOutput()
            self.test.metrics.outputs.append(self.collector)
        if self.config.link is not None:
            # The segment is how the run was split, not an option the script was given.
            options.raw.update(executionSegment=None, executionSegmentSequence=None)
        self.result.options = options.raw
        self.test.options = options.raw
        self.test.tags = dict(options.tags)
        self.test.segment = options.segment
        self.test.net = NetConfig(options.raw)
        if options.tcp_debug:
            self.test.net.tcp_debug = TcpDebug(options.tcp_debug, self.log.stream, lambda: self.log.writer)
        if self.test.net.insecure:
            self.log("warning", "insecureSkipTLSVerify is on: TLS certificates are not verified in this run")
        self.test.modules.configure(options.raw)
        first.call(lambda vu: vu.state.retag())  # the first VU was made before the options were known
        if self.config.link is not None:
            pass  # the parent evaluates thresholds, on every process's samples
        elif options.no_thresholds:
            for warning in declare_submetrics(options.thresholds, self.test.metrics):
                self.log("warning", warning)
        else:
            self.thresholds = parse_thresholds(options.thresholds, self.test.metrics)
        self._aborted_by_threshold = False
        # k6 counts bytes in every iteration (and in setup), so its summary always has them.
        for name in ("data_sent", "data_received"):
            self.test.metrics.get(name).observed = True

    # -- setup and teardown ----------------------------------------------------------------
    def _lifecycle_vu(self) -> VUWorker:
        if self.lifecycle is None:
            self.lifecycle = start_workers(self.test, range(0, 1))[0]
        return self.lifecycle

    def _call_lifecycle(self, name: str, arg_json: str | None, timeout: float) -> tuple[str | None, str | None, bool]:
        """Run setup/teardown/handleSummary: (error, value JSON, timed out).

        A signal stops setup() at once, as in k6; teardown() and
        handleSummary run after one (interrupted only by its deadline).
        """
        worker = self._lifecycle_vu()
        done = self.test.stop if name == "setup" else threading.Event()
        deadline = time.monotonic() + timeout

        def job(vu: Any) -> tuple[str | None, str | None, bool]:
            vu.set_setup_data(arg_json)
            vu.enter_lifecycle(name if name in ("setup", "teardown") else "")
            try:
                error, value = vu.run(name, deadline=lambda: deadline, want_value=True, stop=done)
                return error, value, False
            except IterationAborted:
                return None, None, True
            finally:
                vu.metrics.flush()

        return worker.call(job)

    def _setup(self) -> int:
        assert self.options is not None
        if "setup" not in self._exported or self.options.no_setup:
            self._distribute(None)
            return ExitCode.OK
        assert self.options is not None
        code, value = self._run_lifecycle("setup", None, self.options.setup_timeout, ExitCode.SETUP_TIMEOUT)
        if code == ExitCode.OK:
            self.setup_json = value
            self._distribute(value)
        return code

    def _distribute(self, data_json: str | None) -> None:
        for worker in self.workers:
            worker.call(lambda vu: vu.set_setup_data(data_json))

    def _teardown(self) -> int:
        assert self.options is not None
        if "teardown" not in self._exported or self.options.no_teardown:
            return ExitCode.OK
        return self._run_lifecycle("teardown", self.setup_json, self.options.teardown_timeout, ExitCode.TEARDOWN_TIMEOUT)[0]

    def _run_lifecycle(self, name: str, arg_json: str | None, timeout: float, timeout_code: int) -> tuple[int, str | None]:
        """setup() or teardown() with k6's messages and exit codes: (code, value JSON)."""
        error, value, timed_out = self._call_lifecycle(name, arg_json, timeout)
        if timed_out and self.test.stop.is_set() and name == "setup":  # a signal: run() says so
            return ExitCode.EXTERNAL_ABORT, None
        if timed_out:
            option = f"{name}Timeout"
            self.log("error", f"{name}() execution timed out after {timeout:g} seconds",
                     hint=f"You can increase the time limit via the {option} option")
            return timeout_code, None
        if error is not None:
            return self._lifecycle_error(error), None
        return ExitCode.OK, value

    def _lifecycle_error(self, error: str) -> int:
        if error.startswith("AbortTest"):  # test.abort() logged it already
            return ExitCode.SCRIPT_ABORTED
        self.log("error", stack_for_log(error), hint="script exception")
        return ExitCode.SCRIPT_EXCEPTION

    # -- scenarios ----------------------------------------------------------------------------
    def _scenarios(self) -> None:
        assert self.options is not None
        pool = self.pool = VUPool(self.test, self.workers, lambda: self.setup_json, getattr(self, "_next_vu_id", None))
        self.executors = [EXECUTORS[s.executor](s, self.test, pool) for s in self.options.scenarios]
        threads = []
        started = time.monotonic()
        self.test.started = started
        self.test.metrics.started = time.time()
        for executor in self.executors:
            delay = executor.scenario.start_time

            def start(executor: Executor = executor, delay: float = delay) -> None:
                if delay > 0 and self.test.stop.wait(delay):
                    executor.finished.set()
                    return
                executor.run()

            thread = threading.Thread(target=start, name=f"scenario-{executor.scenario.name}", daemon=True)
            threads.append(thread)
            thread.start()
        worker = self.config.link is not None  # its parent samples and draws for every process
        self._start_progress(quiet=bool(self.config.cli.get("quiet")) or worker)
        # k6 samples vus and vus_max once a second, the first a second in.
        next_vus_sample = started + 1.0
        next_threshold = time.monotonic()
        try:
            while not all(e.finished.is_set() for e in self.executors):
                now = time.monotonic()
                if now >= next_vus_sample and not worker:
                    self.test.metrics.add("vus", self.test.vus_active, dict(self.test.tags))
                    self.test.metrics.add("vus_max", len(pool.all), dict(self.test.tags))
                    next_vus_sample += 1.0
                if now >= next_threshold and self.thresholds:
                    self._check_abort(now - started)
                    next_threshold = now + THRESHOLD_PERIOD
                self.test.metrics.drain()
                time.sleep(0.05)
        finally:
            self.log.writer = None
        for thread in threads:
            thread.join(5.0)

    def _start_progress(self, quiet: bool) -> None:
        """The progress display; not on a terminal, k6 prints it as lines every
        second (a CI log must not look frozen). A worker process draws nothing:
        its parent samples and draws for every process."""
        self.progress = Progress(self.stdout, self._frame, quiet=quiet, color=self._color())
        self.progress.start()
        if not quiet:
            self.log.writer = self.progress.write

    def _banner(self) -> str:
        """What k6 prints before a run (its logo aside)."""
        assert self.options is not None
        options = self.options
        outputs = ", ".join(o.description for o in self.test.metrics.outputs) or "-"
        pool = VUPool(self.test, [], lambda: None)
        count = len(options.scenarios)
        lines = [
            "",
            f"  k6host {__version__}",
            "",
            "     execution: local",
            f"        script: {self.config.script}",
            f"        output: {outputs}",
            "",
            f"     scenarios: ({float(options.segment.segment.length) * 100:.2f}%) {count} scenario{'s' if count != 1 else ''}, {options.max_vus()} max VUs, "
            f"{format_duration(options.total_duration())} max duration (incl. graceful stop):",
        ]
        for scenario in options.scenarios:
            executor = EXECUTORS[scenario.executor](scenario, self.test, pool)
            lines.append(f"              * {scenario.name}: {executor.describe()}")
        return "\n".join(lines) + "\n\n"

    def _stdout_is_tty(self) -> bool:
        return _isatty(self.stdout)

    def _color(self) -> bool:
        return _isatty(self.stdout) and not self.config.cli.get("no_color")

    def _frame(self) -> Frame:
        assert self.options is not None
        since = time.monotonic() - self.test.started
        longest = max((s.total_duration() for s in self.options.scenarios), default=0.0)
        stats = stats_line(
            since,
            longest,
            self.test.vus_active,
            self.test.vus_initialized,
            self.options.max_vus(),
            self.test.iterations_completed,
            self.test.iterations_interrupted,
        )
        return Frame(stats, [e.bar(since) for e in self.executors])

    # -- thresholds and summary -----------------------------------------------------------------
    def _check_abort(self, elapsed: float) -> None:
        failed = evaluate(self.thresholds, self.test.metrics, elapsed)
        # k6's first look is 2 s in: until then its API shows no verdict (tainted null).
        self.thresholds_evaluated = self.thresholds_evaluated or elapsed >= THRESHOLD_PERIOD
        if failed and self.test.abort_reason is None:
            self.log("error", crossed_message(failed, aborting=True))
            self._aborted_by_threshold = True
            self.test.abort_reason = "thresholds crossed"
            self.test.stop.set()

    def _final_thresholds(self) -> bool:
        if not self.thresholds:
            return False
        evaluate(self.thresholds, self.test.metrics, self.test.metrics.duration, final=True)
        self.thresholds_evaluated = True
        crossed = [t for t in self.thresholds if not t.ok]
        if crossed and not self._aborted_by_threshold:  # the abort said so already
            self.log("error", crossed_message(crossed))
        return bool(crossed)

    def _summary(self) -> None:
        """k6's end: handleSummary or the text summary (and --summary-export)."""
        assert self.options is not None
        options = self.options
        data = summary_data(
            self.test.metrics,
            self.thresholds,
            self.test.groups,
            options={"summaryTimeUnit": options.summary_time_unit or "", "noColor": bool(self.config.cli.get("no_color"))},
            duration_s=self.test.metrics.duration,
            trend_stats=options.summary_trend_stats,
            is_stdout_tty=_isatty(self.stdout),
            is_stderr_tty=self.log.terminal,
            setup_data=UNDEFINED if self.setup_json is None else json.loads(self.setup_json),
        )
        self.result.summary = data
        for output in self.test.metrics.outputs:  # the dashboard shows the summary's own numbers
            if hasattr(output, "end_of_test"):
                output.end_of_test(data)
        if options.no_summary:
            return
        returned = None
        if "handleSummary" in self._exported:
            error, value, _ = self._call_lifecycle("handleSummary", js_json(data), 60.0)
            if error is not None:
                self.log("error", stack_for_log(error), hint="script exception")
            elif value is not None:
                returned = json.loads(value)

        def default_text() -> str:
            report = summary_report(data, summary_mode=options.summary_mode, metrics=self.test.metrics,
                                    thresholds=self.thresholds, groups=self.test.groups, collector=self.collector)
            return render_summary(data, color=self._color(), summary_mode=options.summary_mode, report=report)

        result = summary_result(returned, data, default_text=default_text, summary_export=options.summary_export or "")
        try:
            route_handle_summary(result, stdout=self.stdout, stderr=self.log.stream, base_dir=os.getcwd())
        except SummaryError as exc:
            self.log("error", "failed to handle the end-of-test summary", error=str(exc))


def _isatty(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def run_script(
    script: str, env: dict[str, str] | None = None, log: Log | None = None, record_samples: bool = False, **config: Any
) -> Result:
    """Run ``script`` as ``k6host run`` would, in this process."""
    run_config = RunConfig(script=script, env=dict(os.environ if env is None else env), record_samples=record_samples, **config)
    return TestRun(run_config, log if log is not None else Log()).run()
