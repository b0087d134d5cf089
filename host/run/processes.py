"""One test over several processes: every core of the machine.

The VUs of one process share one thread (the GIL), so ``k6host run`` splits
the test into execution segments (segments.py) and runs each in a worker
process, as k6 instances split a distributed test. The parent process is the
test as the user sees it: it runs setup() and teardown(), draws the progress,
evaluates thresholds and prints the summary. Workers send it every metric
sample, group, check and log line they make, so its metrics are exactly those
of a single-process run (Trend percentiles from all the values).

Wire: the parent writes JSON lines to a worker's stdin (``start`` with the
setup data, ``stop``); the worker writes pickled frames on a pipe of its own
(``ready``, ``events``, ``status``, ``done``). A worker whose pipe ends before
``done`` died; one whose stdin ends (the parent is gone) ends at once.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable

from k6host.report import stdio
from k6host.report.log import Log
from k6host.run.groups import GroupTree
from k6host.run.metrics import Metrics

_HEADER = struct.Struct("!I")
# How often a worker sends what it has gathered (samples, checks, logs, its counters).
_FLUSH = 0.05


def process_count(text: str | int | None) -> int | None:
    """``--processes``: a whole number of at least 1, or ``auto`` (None: one per core)."""
    if text is None or text == "auto":
        return None
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ValueError(f'invalid argument "{text}" for "--processes" flag: expected a whole number or auto') from None
    if value < 1:
        raise ValueError(f'invalid argument "{text}" for "--processes" flag: at least 1 process is needed')
    return value


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def segment_points(count: int) -> str:
    """The execution segment sequence that splits a test into ``count`` equal parts."""
    return ",".join(["0"] + [f"{i}/{count}" for i in range(1, count)] + ["1"])


def _write_frame(stream: BinaryIO, lock: threading.Lock, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    with lock:
        stream.write(_HEADER.pack(len(data)) + data)
        stream.flush()


def _read_frame(stream: BinaryIO) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


# -- the worker's side ---------------------------------------------------------------------


class ParentLink:
    """A worker's line to its parent: what it gathers goes there in batches."""

    def __init__(self, channel: BinaryIO, commands: Any):
        self._channel = channel
        self._commands = commands
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()
        self._events: list[tuple] = []
        self.started = threading.Event()
        self.setup_json: str | None = None
        self.stop_requested = threading.Event()
        self.status: Callable[[], dict[str, Any]] = dict
        self.signal_name: str | None = None  # the signal that stopped this worker
        self._closed = False

    def add(self, event: tuple) -> None:
        with self._lock:
            self._events.append(event)

    def send(self, message: Any) -> None:
        self.flush()
        _write_frame(self._channel, self._write_lock, message)

    def flush(self) -> None:
        with self._lock:
            events, self._events = self._events, []
        if events:
            _write_frame(self._channel, self._write_lock, ("events", events))

    def run_in_background(self, on_stop: Callable[[], None]) -> None:
        """Read the parent's commands and send batches until the worker ends."""

        def read_commands() -> None:
            for line in self._commands:
                command = json.loads(line)
                if command["type"] == "start":
                    self.setup_json = command.get("setup")
                    self.started.set()
                elif command["type"] == "stop":
                    self.stop_requested.set()
                    on_stop()
                    self.started.set()
            # The parent is gone (or ended the run at once): nothing to report to.
            os._exit(1)

        def send_batches() -> None:
            while not self._closed:
                time.sleep(_FLUSH)
                try:
                    self.flush()
                    _write_frame(self._channel, self._write_lock, ("status", self.status()))
                except (OSError, ValueError):
                    os._exit(1)

        threading.Thread(target=read_commands, name="parent-commands", daemon=True).start()
        threading.Thread(target=send_batches, name="parent-batches", daemon=True).start()

    def close(self, message: Any) -> None:
        self._closed = True
        self.send(message)


class ForwardingMetrics(Metrics):
    """A worker's metrics: samples go to the parent, which keeps the sinks."""

    def __init__(self, link: ParentLink):
        self._link: ParentLink | None = None  # the built-in metrics need no telling
        super().__init__()
        self._link = link

    def define(self, name: str, kind: str, contains: str = "default") -> Any:
        metric = super().define(name, kind, contains)
        if self._link is not None:
            self._link.add(("define", name, kind, contains))
        return metric

    def add_many(self, samples: list[tuple[str, float, dict[str, str], float]]) -> None:
        self._link.add(("samples", samples))

    submit = add_many  # straight to the link: its lock is only ever held for an append


class ForwardingGroups(GroupTree):
    def __init__(self, link: ParentLink):
        super().__init__()
        self._link = link

    def group(self, path: str) -> None:
        self._link.add(("group", path))

    def check(self, group_path: str, name: str, ok: bool) -> None:
        self._link.add(("check", group_path, name, ok))


class ForwardingLog(Log):
    """Log lines go to the parent, which writes them where its own go."""

    def __init__(self, link: ParentLink, verbose: bool):
        super().__init__(verbose=verbose)
        self._link = link

    def __call__(self, level: str, message: str, **fields: str) -> None:
        if level == "debug" and not self.verbose:
            return
        self.lines.append((level, message, fields.get("source", "")))
        self._link.add(("log", level, message, fields))


def worker_main() -> int:
    """``python -m k6host _worker``: the parent's configuration comes on stdin's first line."""
    from k6host.run.runner import RunConfig, TestRun

    commands = sys.stdin
    config = json.loads(commands.readline())
    channel = os.fdopen(config.pop("channel_fd"), "wb", buffering=0)
    link = ParentLink(channel, commands)
    verbose = config.pop("verbose")
    run_config = RunConfig(**config, link=link)
    run = TestRun(run_config, ForwardingLog(link, verbose))

    # A Ctrl-C in a terminal (or a SIGTERM to the group) reaches every process: each
    # worker stops as its parent would, and says why; a second one ends the parent,
    # and with it the workers (their stdin ends).
    def stop(signum: int, _frame: Any) -> None:
        link.signal_name = {signal.SIGINT: "interrupt", signal.SIGTERM: "terminated"}.get(signum, str(signum))
        run.test.stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    result = run.run()
    link.close(("done", {"code": int(result.exit_code), "failed": run.test.failed, "abort": run.test.abort_reason,
                         "signal": link.signal_name}))
    channel.close()
    return 0


# -- the parent's side ---------------------------------------------------------------------


@dataclass
class Worker:
    index: int
    segment: str
    process: subprocess.Popen
    channel: BinaryIO
    ready: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    result: dict[str, Any] | None = None
    status: dict[str, Any] = field(default_factory=dict)
    died: int | None = None  # the exit status of a worker that ended without saying it was done


class Workers:
    """The parent's worker processes: started, fed, listened to, stopped."""

    def __init__(self, count: int, config: dict[str, Any], apply: Callable[[list[tuple]], None],
                 on_problem: Callable[[], None]):
        self.count = count
        self.apply = apply  # records a batch of events in the parent's test
        self.on_problem = on_problem  # a worker died or aborted the test: stop the others
        self.workers: list[Worker] = []
        self._lock = threading.Lock()
        points = segment_points(count)
        bounds = points.split(",")
        for index in range(count):
            read_fd, write_fd = os.pipe()
            segment = f"{bounds[index]}:{bounds[index + 1]}"
            cli = dict(config["cli"], execution_segment=segment, execution_segment_sequence=points)
            message = {**config, "cli": cli, "channel_fd": write_fd}
            process = subprocess.Popen(
                [sys.executable, "-m", "k6host", "_worker"],
                stdin=subprocess.PIPE,
                pass_fds=(write_fd,),
                text=True,
                start_new_session=False,
            )
            os.close(write_fd)
            assert process.stdin is not None
            process.stdin.write(json.dumps(message) + "\n")
            process.stdin.flush()
            worker = Worker(index, segment, process, os.fdopen(read_fd, "rb"))
            self.workers.append(worker)
            threading.Thread(target=self._listen, args=(worker,), name=f"worker-{index}", daemon=True).start()

        stdio.at_death(self.end_now)  # a parent dying of SIGPIPE takes its workers along

    def end_now(self) -> None:
        """Kill every worker and wait for them (briefly): nothing of the run outlives its parent."""
        for worker in self.workers:
            worker.process.kill()
        deadline = time.monotonic() + 1.0
        for worker in self.workers:
            try:
                worker.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass

    def _listen(self, worker: Worker) -> None:
        while True:
            message = _read_frame(worker.channel)
            if message is None:
                break
            kind, body = message
            if kind == "events":
                with self._lock:  # one worker's batch at a time: metrics see whole batches
                    self.apply(body)
            elif kind == "status":
                worker.status = body
            elif kind == "ready":
                worker.ready.set()
            elif kind == "done":
                worker.result = body
        worker.channel.close()
        if worker.result is None:
            worker.died = worker.process.wait()
        worker.ready.set()
        worker.done.set()
        if worker.died is not None or (worker.result or {}).get("abort"):
            self.on_problem()

    def _send(self, worker: Worker, command: dict[str, Any]) -> None:
        try:
            assert worker.process.stdin is not None
            worker.process.stdin.write(json.dumps(command) + "\n")
            worker.process.stdin.flush()
        except (OSError, ValueError):
            pass  # it ended already; its listener reports how

    def wait_ready(self, stop: threading.Event) -> None:
        for worker in self.workers:
            while not worker.ready.wait(0.05):
                if stop.is_set():
                    return

    def start(self, setup_json: str | None) -> None:
        for worker in self.workers:
            self._send(worker, {"type": "start", "setup": setup_json})

    def stop(self) -> None:
        for worker in self.workers:
            if not worker.done.is_set():
                self._send(worker, {"type": "stop"})

    def all_done(self) -> bool:
        return all(w.done.is_set() for w in self.workers)

    def dead(self) -> list[Worker]:
        return [w for w in self.workers if w.died is not None]

    def statuses(self) -> list[dict[str, Any]]:
        return [w.status for w in self.workers if w.status]

    def close(self, timeout: float = 5.0) -> None:
        """Wait for the workers to end; end the ones that do not."""
        stdio.forget(self.end_now)
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            try:
                worker.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            if worker.process.stdin is not None:
                try:
                    worker.process.stdin.close()
                except OSError:
                    pass
