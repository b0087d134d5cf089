"""One test over several processes: the parent's part and a worker's part of a run.

``TestRun`` (runner.py) takes these methods: when ``k6host run`` splits a test
(processes.py has the mechanics), the parent process starts the workers, hands
them setup()'s data, merges what they report and shows the run as one; a
worker runs its execution segment's VUs through the scenarios.
"""

from __future__ import annotations

import time
from typing import Any

from k6host.engine.interpreter import ScriptError
from k6host.run.exitcodes import ExitCode
from k6host.run.executors import EXECUTORS, VUPool
from k6host.run.metrics import MetricError
from k6host.run.processes import Workers, cores
from k6host.run.segments import WHOLE
from k6host.vu.workers import VUWorker, start_workers

# How often thresholds with abortOnFail are looked at, as k6 does.
THRESHOLD_PERIOD = 2.0


class SplitRun:
    """Mixed into TestRun: uses its test, options, log, executors, progress and thresholds."""

    def _process_count(self) -> int:
        """How many processes run the scenarios: one per core unless told, never more than VUs."""
        assert self.options is not None
        requested = self.config.processes
        if requested == 1:
            return 1
        if not self.options.segment.whole:
            if requested is not None:
                self.log("warning", f"--processes {requested} is not used: a test given an execution segment "
                                    "runs in one process")
            return 1
        return max(1, min(requested or cores(), self.options.max_vus()))

    def _start_processes(self, count: int) -> None:
        config = {
            "script": self.config.script,
            "env": self.config.env,
            "cli": {k: v for k, v in self.config.cli.items() if k not in ("out", "summary_export")},
            "config_file": self.config.config_file,
            "process_env": dict(self.config.process_env),
            "module_path": list(self.config.module_path),
            "verbose": self.log.verbose,
            "overrides": dict(self.config.overrides),  # the Python API's options
            "script_options": self.config.script_options,  # an archive's options, in place of the script's
        }
        self.processes = Workers(count, config, self._apply_events, self._on_worker_problem)

    def _apply_events(self, events: list[tuple]) -> None:
        """What a worker process gathered, recorded as if it happened here."""
        metrics, groups = self.test.metrics, self.test.groups
        for event in events:
            kind = event[0]
            if kind == "samples":
                metrics.add_many(event[1])
            elif kind == "check":
                groups.check(event[1], event[2], event[3])
            elif kind == "group":
                groups.group(event[1])
            elif kind == "log":
                self.log(event[1], event[2], **event[3])
            elif kind == "define":
                try:
                    metrics.define(event[1], event[2], event[3])
                except MetricError as exc:
                    self.log("error", str(exc))

    def _on_worker_problem(self) -> None:
        self.test.stop.set()

    def _processes_ready(self) -> int:
        """Wait until every worker process has its VUs; a failed one ends the run with its code."""
        assert self.processes is not None
        self.processes.wait_ready(self.test.stop)
        for worker in self.processes.workers:
            if worker.done.is_set():
                self.processes.stop()
                if worker.died is not None:
                    self._report_dead([worker])
                    return ExitCode.GENERIC_ERROR
                return int((worker.result or {}).get("code") or ExitCode.GENERIC_ERROR)
        return ExitCode.OK

    def _report_dead(self, dead: list) -> None:
        for worker in dead:
            self.log("error", f"worker process {worker.index + 1} (execution segment {worker.segment}) ended "
                              f"unexpectedly with exit status {worker.died}; the test run is incomplete")

    def _scenarios_in_processes(self) -> None:
        """The scenarios, run by the worker processes; this one watches, merges and draws."""
        assert self.options is not None and self.processes is not None
        processes = self.processes
        display = VUPool(self.test, [], lambda: None)
        # Never run: they show the whole test's bars from the workers' counts.
        self.executors = [EXECUTORS[s.executor](s, self.test, display) for s in self.options.scenarios]
        started = time.monotonic()
        self.test.started = started
        self.test.metrics.started = time.time()
        processes.start(self.setup_json)
        self._start_progress(quiet=bool(self.config.cli.get("quiet")))
        next_vus_sample = started + 1.0
        next_threshold = time.monotonic()
        stopping = False
        reported: set[int] = set()
        try:
            while not processes.all_done():
                now = time.monotonic()
                vus_max = self._merge_statuses(processes.statuses())
                dead = [w for w in processes.dead() if w.index not in reported]
                if dead:
                    self._report_dead(dead)
                    reported.update(w.index for w in dead)
                if now >= next_vus_sample:
                    self.test.metrics.add("vus", self.test.vus_active, dict(self.test.tags))
                    self.test.metrics.add("vus_max", vus_max, dict(self.test.tags))
                    next_vus_sample += 1.0
                if now >= next_threshold and self.thresholds:
                    self._check_abort(now - started)
                    next_threshold = now + THRESHOLD_PERIOD
                if self.test.stop.is_set() and not stopping:
                    stopping = True
                    processes.stop()
                time.sleep(0.05)
        finally:
            self.log.writer = None
        self._merge_statuses(processes.statuses())
        dead = [w for w in processes.dead() if w.index not in reported]
        self._report_dead(dead)
        for worker in processes.workers:
            result = worker.result or {}
            self.test.failed = self.test.failed or bool(result.get("failed"))
            if result.get("abort") and self.test.abort_reason is None:
                self.test.abort_reason = result["abort"]
            if result.get("signal") and self._worker_signal is None:
                self._worker_signal = result["signal"]
        for executor in self.executors:
            executor.finished.set()

    def _merge_statuses(self, statuses: list[dict[str, Any]]) -> int:
        """The workers' counters summed, for the progress display; returns vus_max."""
        test = self.test
        test.vus_active = sum(s["vus_active"] for s in statuses)
        # Initialized VUs only grow (a worker that has ended reports none): as in one process.
        test.vus_initialized = max(test.vus_initialized, sum(s["vus"] for s in statuses))
        test.iterations_completed = sum(s["completed"] for s in statuses)
        test.iterations_interrupted = sum(s["interrupted"] for s in statuses)
        for s in statuses:
            if s.get("signal") and self._worker_signal is None:
                self._worker_signal = s["signal"]  # as if it came here: every process stops
                test.stop.set()
            if s.get("abort") and test.abort_reason is None:
                test.abort_reason = s["abort"]  # test.abort() in one process stops them all
                test.stop.set()
        count = len(self.processes.workers) if self.processes is not None else 1
        for executor in self.executors:
            parts = [s["scenarios"][executor.scenario.name] for s in statuses if executor.scenario.name in s["scenarios"]]
            if not parts:
                continue
            elapsed = max(p["elapsed"] for p in parts)
            if elapsed and not executor.started_at:
                executor.started_at = time.monotonic() - elapsed
                executor.start_ms = int(time.time() * 1000 - elapsed * 1000)
            executor.iterations_completed = sum(p["completed"] for p in parts)
            executor.iterations_interrupted = sum(p["interrupted"] for p in parts)
            executor.active = [None] * sum(p["active"] for p in parts)  # type: ignore[list-item]
            executor._running_jobs = sum(p["running"] for p in parts)
            if len(parts) == count and all(p["finished"] for p in parts):
                executor.finished.set()
        return sum(s["vus_max"] for s in statuses)

    def _worker_status(self) -> dict[str, Any]:
        """What a worker process tells its parent every few moments."""
        test = self.test
        scenarios = {
            e.scenario.name: {
                "elapsed": e.elapsed, "completed": e.iterations_completed, "interrupted": e.iterations_interrupted,
                "active": len(e.active), "running": e._running_jobs, "finished": e.finished.is_set(),
            }
            for e in list(self.executors)
        }
        pool = self.pool
        vus = len(pool.all) if pool is not None else len(self.workers)
        return {
            "vus_active": test.vus_active, "vus": len(self.workers), "vus_max": vus,
            "completed": test.iterations_completed, "interrupted": test.iterations_interrupted,
            "scenarios": scenarios, "abort": test.abort_reason, "signal": self.config.link.signal_name,
        }

    def _run_as_worker(self, first: VUWorker) -> int:
        """A worker process: this segment's VUs, numbered as in the whole test, run the scenarios."""
        assert self.options is not None
        link = self.config.link
        link.status = self._worker_status
        link.run_in_background(on_stop=self.test.stop.set)
        index = self._vu_index
        self.test.segment = WHOLE  # its VU ids are the run's already
        try:
            ids = [index.next()[1] for _ in range(self.options.planned_vus() - 1)]
            self.workers += start_workers(self.test, ids)  # type: ignore[arg-type]
        except (ScriptError, OSError) as exc:
            return self._start_failed(exc)
        self._next_vu_id = lambda: index.next()[1]
        link.send(("ready", None))
        link.started.wait()
        if link.stop_requested.is_set() or self.test.stop.is_set():
            return ExitCode.OK
        self.setup_json = link.setup_json
        self._distribute(self.setup_json)
        self._scenarios()
        return ExitCode.OK
