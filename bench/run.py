"""Benchmarks: k6host beside its references, in one command.

    python bench/run.py [--runs 5] [--only w1,w6]

Each workload runs its contenders alternately (A B A B ...), each in its own
process, against one Node.js echo server on 127.0.0.1 that this harness
starts, and prints the median of every contender and its ratio to k6host.
Every run is bounded by a timeout, and starts once the last one's closed
sockets have left TIME_WAIT (at most 65 s later; see settle).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
RESULT = re.compile(r"RESULT (\{.*?\})")
TIMEOUT = 300


@dataclass
class Contender:
    name: str
    command: list[str]
    # From what a run gave (its RESULT record, and "wall_s" and "maxrss_kb"
    # measured here) to the figure the table shows.
    figure: Callable[[dict], float]
    needs_result: bool = True
    env: dict[str, str] | None = None  # added to the workload's for this contender


@dataclass
class Workload:
    key: str
    title: str
    unit: str
    higher_is_better: bool
    contenders: list[Contender]
    env: dict[str, str]
    # The RESULT key that counts the work done (iterations, round trips,
    # bytes): each contender's process CPU time is shown per unit of it.
    per: str = ""
    per_scale: float = 1.0  # e.g. 1e6: per MB of "bytes"


def k6host(script: str, *flags: str) -> list[str]:
    return [sys.executable, "-m", "k6host", "run", "-q", *flags, str(HERE / script)]


def k6(script: str, *flags: str) -> list[str]:
    return [_k6_binary(), "run", "-q", "--no-summary", "--address=", *flags, str(HERE / script)]


def _k6_binary() -> str:
    beside = Path(sys.executable).with_name("k6")
    return str(beside) if beside.exists() else "k6"


def wall(record: dict) -> float:
    return record["wall_s"]


def rss_per_vu(vus: int) -> Callable[[dict], float]:
    return lambda r: r["maxrss_kb"] / 1024 / vus


def per_second(key: str, scale: float = 1.0) -> Callable[[dict], float]:
    return lambda r: r[key] / r["seconds"] / scale


def workloads() -> list[Workload]:
    trips = per_second("round_trips")
    iterations = per_second("iterations")
    mbps = per_second("bytes", 1e6)
    vus = 1000
    return [
        Workload(
            "w1", "W1 ping-pong, 4-byte message, one socket", "round trips/s", True,
            [
                Contender("k6host", k6host("pingpong.js"), trips),
                Contender("node", ["node", str(HERE / "pingpong_node.js")], trips),
                Contender("asyncio", [sys.executable, str(HERE / "pingpong_asyncio.py")], trips),
            ],
            {"ROUND_TRIPS": "20000"},
            per="round_trips",
        ),
        Workload(
            "w2", "W2 churn: 10 VUs, connect + 64 B + echo + destroy, 20 s", "iterations/s", True,
            [
                Contender("k6host", k6host("churn.js", "--processes", "1"), iterations),
                Contender("node", ["node", str(HERE / "churn_node.js")], iterations),
                Contender("asyncio", [sys.executable, str(HERE / "churn_asyncio.py")], iterations),
                # What 10 VUs (tasks) cost over 1: compare the CPU µs per iteration.
                Contender("k6host 1 VU", k6host("churn.js", "--processes", "1"), iterations, env={"VUS": "1"}),
                Contender("asyncio 1 task", [sys.executable, str(HERE / "churn_asyncio.py")], iterations, env={"VUS": "1"}),
                Contender("locust", [sys.executable, "-m", "locust", "-f", str(HERE / "churn_locust.py"), "--headless",
                                     "-u", "10", "-r", "10", "-t", "20s", "--only-summary", "--loglevel", "ERROR"],
                          iterations),
            ],
            {"VUS": "10", "DURATION": "20s"},
            per="iterations",
        ),
        Workload(
            # The same run on every core: k6host's default (one process per core) and Locust's
            # --processes -1; the "k6host 1 process" row's ratio is the speed-up of all cores over one.
            "w2all", f"W2 on all cores ({os.cpu_count()}): churn, 10 VUs, 20 s", "iterations/s", True,
            [
                Contender("k6host", k6host("churn.js"), iterations),
                Contender("k6host 1 process", k6host("churn.js", "--processes", "1"), iterations),
                Contender("locust -1", [sys.executable, "-m", "locust", "-f", str(HERE / "churn_locust.py"), "--headless",
                                        "-u", "10", "-r", "10", "-t", "20s", "--only-summary", "--loglevel", "ERROR",
                                        "--processes", "-1"], iterations),
            ],
            {"VUS": "10", "DURATION": "20s"},
            per="iterations",
        ),
        Workload(
            "w3", "W3 bulk: one socket, 64 KiB writes, 64 MiB echoed back", "MB/s", True,
            [
                Contender("k6host", k6host("bulk.js"), mbps),
                Contender("node", ["node", str(HERE / "bulk_node.js")], mbps),
                Contender("asyncio", [sys.executable, str(HERE / "bulk_asyncio.py")], mbps),
            ],
            {"BULK_MIB": "64"},
            per="bytes",
            per_scale=1e6,
        ),
        Workload(
            "w4", f"W4 memory: {vus} VUs each holding an open socket and sleeping", "peak MiB of RSS per VU", False,
            [
                # One process: the peak RSS measured is one process's (see _MEASURE).
                Contender("k6host", k6host("sleepers.js", "--no-summary", "--processes", "1"), rss_per_vu(vus),
                          needs_result=False),
                Contender("k6 (no TCP)", k6("sleepers_k6.js"), rss_per_vu(vus), needs_result=False),
            ],
            {"VUS": str(vus), "HOLD": "15"},
        ),
        Workload(
            "w5", "W5 start-up: run a one-iteration script that does nothing", "s wall time", False,
            [
                Contender("k6host", k6host("noop.js", "--no-summary"), wall, needs_result=False),
                Contender("k6", k6("noop.js"), wall, needs_result=False),
            ],
            {},
        ),
        Workload(
            "w6", "W6 one data event into a VU holding N live objects", "µs per event", False,
            [
                Contender(f"k6host N={n}", [sys.executable, str(HERE / "dispatch.py"), "--heap", str(n), "--repeat", "1", "--events", "2000"],
                          lambda r: r["dispatch_us_median"])
                for n in (0, 10_000, 100_000)
            ],
            {},
        ),
        Workload(
            "w7", "W7 empty iterations: one VU, `export default function () {}`, 5 s", "iterations/s", True,
            [
                Contender("k6host", k6host("empty.js", "--processes", "1"), iterations),
                Contender("k6host 100k records", k6host("empty.js", "--processes", "1"), iterations,
                          env={"RECORDS_FILE": str(RECORDS)}),
                # --no-summary would skip handleSummary, which prints the count.
                Contender("k6", [_k6_binary(), "run", "-q", "--address=", str(HERE / "empty.js")], iterations),
            ],
            {},
            per="iterations",
        ),
    ]


# W7's records, written once per run of this harness (see main).
RECORDS = Path(os.environ.get("TMPDIR", "/tmp")) / f"k6host-bench-records-{os.getpid()}.json"


def write_records(count: int = 100_000) -> None:
    records = [{"id": i, "name": f"user{i}", "email": f"user{i}@example.com", "active": i % 2 == 0} for i in range(count)]
    RECORDS.write_text(json.dumps(records))


def start_echo() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(["node", str(HERE / "echo_server.js")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, port


# Runs a command and prints its peak RSS and the CPU time it used (user +
# system, its own child processes included): RUSAGE_CHILDREN of a process
# with exactly one child is that child's own figure.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print('MAXRSS_KB', u.ru_maxrss, 'CPU_S', u.ru_utime + u.ru_stime, file=sys.stderr)\n"
    "sys.exit(code)\n"
)
_MEASURED = re.compile(r"MAXRSS_KB (\d+) CPU_S ([0-9.]+)")


def settle(limit: float = 65.0) -> None:
    """Wait (at most ``limit`` s) until the sockets the last contender closed
    have left TIME_WAIT: a churn run fills the port range (Node's leaves
    ~28,000 of 28,232 ports waiting), and the next contender's connect() then
    pays for the search, whoever it is."""
    until = time.monotonic() + limit
    while time.monotonic() < until:
        try:
            fields = Path("/proc/net/sockstat").read_text().split()
            waiting = int(fields[fields.index("tw") + 1])
        except (OSError, ValueError, IndexError):
            return
        if waiting < 1000:
            return
        time.sleep(1.0)


def run_once(contender: Contender, env: dict[str, str], per: str, scale: float) -> tuple[float, float | None]:
    """The contender's figure, and its CPU µs per ``scale`` units of ``per`` (None without)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *contender.command], env={**env, **(contender.env or {})},
        capture_output=True, text=True, timeout=TIMEOUT,
    )
    record: dict = {"wall_s": time.perf_counter() - started}
    measured = _MEASURED.search(done.stderr)
    record["maxrss_kb"] = int(measured.group(1)) if measured else 0
    record["cpu_s"] = float(measured.group(2)) if measured else 0.0
    # k6host's console lines quote the message as logfmt does: unescape it.
    text = (done.stdout + done.stderr).replace('\\"', '"')
    match = RESULT.search(text)
    if done.returncode != 0 or (contender.needs_result and not match):
        raise RuntimeError(f"{contender.name} failed ({done.returncode}):\n{text[-2000:]}")
    if match:
        record.update(json.loads(match.group(1)))
    units = record.get(per) / scale if per and record.get(per) else None
    cpu = record["cpu_s"] * 1e6 / units if units else None
    return contender.figure(record), cpu


Row = tuple[str, float, list[float], float | None]  # name, median, runs, median CPU µs per unit


def run_workload(workload: Workload, runs: int, port: int) -> list[Row]:
    env = {**os.environ, "TCP_ECHO_HOST": "127.0.0.1", "TCP_ECHO_PORT": str(port), **workload.env}
    samples: dict[str, list[float]] = {c.name: [] for c in workload.contenders}
    cpus: dict[str, list[float]] = {c.name: [] for c in workload.contenders}
    for _ in range(runs):
        for contender in workload.contenders:
            settle()
            figure, cpu = run_once(contender, env, workload.per, workload.per_scale)
            samples[contender.name].append(figure)
            if cpu is not None:
                cpus[contender.name].append(cpu)
    return [
        (name, statistics.median(values), values, statistics.median(cpus[name]) if cpus[name] else None)
        for name, values in samples.items()
    ]


def _figure(value: float) -> str:
    """Three significant digits for small figures, whole numbers for large ones."""
    return f"{value:,.3g}" if value < 100 else f"{value:,.0f}"


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per contender (default 5)")
    parser.add_argument("--only", default="", help="comma-separated workload keys, e.g. w1,w6")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    chosen = {k.strip() for k in args.only.split(",") if k.strip()}
    known = {w.key for w in workloads()}
    if chosen - known:
        parser.error(f"unknown workload(s) {sorted(chosen - known)}; known: {sorted(known)}")
    print(f"machine: {machine()}")
    if not chosen or "w7" in chosen:
        write_records()
    echo, port = start_echo()
    try:
        for workload in workloads():
            if chosen and workload.key not in chosen:
                continue
            rows = run_workload(workload, args.runs, port)
            base = rows[0][1]
            unit = "MB" if workload.per_scale == 1e6 else workload.per.rstrip("s").replace("_", " ")
            per = f", CPU µs per {unit}" if workload.per else ""
            print(f"\n{workload.title} ({workload.unit}{per}, median of {args.runs})")
            for name, median, values, cpu in rows:
                # k6host's figure over this contender's: for speeds >1 is better,
                # for memory and time <1 is.
                ratio = base / median if median else float("nan")
                runs = ", ".join(_figure(v) for v in values)
                cpu_text = f"   CPU {cpu:8.3g} µs" if cpu is not None else ""
                print(f"  {name:<20} {_figure(median):>12}   k6host/this = {ratio:5.2f}{cpu_text}   runs: {runs}")
    finally:
        RECORDS.unlink(missing_ok=True)
        echo.terminate()
        echo.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
