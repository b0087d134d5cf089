"""What ``--out experimental-prometheus-rw`` costs on W2 (connection churn): CPU seconds per iteration.

    python bench/rw_overhead.py [--runs 3] [--duration 20s]

Runs bench/churn.js (10 VUs) against the Node.js echo server, alternately
without and with the output pushing to a real Prometheus (Debian's package,
started here on a free loopback port, default 5 s push interval), and prints
the medians of k6host's own CPU time (user + system, from getrusage of the
child) per iteration and of iterations per second. Prometheus' CPU is not
counted: it is another process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import RESULT, start_echo  # noqa: E402  (the harness' own echo server and result line)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_prometheus(workdir: Path) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("prometheus")
    if binary is None:
        sys.exit("no prometheus program (apt-get install prometheus)")
    (workdir / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\n")
    port = free_port()
    proc = subprocess.Popen([binary, f"--config.file={workdir / 'prometheus.yml'}",
                             f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                             "--web.enable-remote-write-receiver"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(150):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1).close()
            return proc, f"http://127.0.0.1:{port}/api/v1/write"
        except OSError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("prometheus did not become ready")


def run_once(env: dict[str, str], with_rw: bool) -> tuple[float, float]:
    """(CPU seconds per iteration, iterations per second) of one run."""
    command = [sys.executable, "-m", "k6host", "run", "-q", *(["--out", "experimental-prometheus-rw"] if with_rw else []),
               str(HERE / "churn.js")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    match = RESULT.search(done.stdout + done.stderr)
    if done.returncode != 0 or not match:
        raise RuntimeError(f"run failed ({done.returncode}): {done.stderr[-2000:]}")
    if "dropped" in done.stderr:
        raise RuntimeError(f"the output dropped samples: {done.stderr[-2000:]}")
    result = json.loads(match.group(1))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu / result["iterations"], result["iterations"] / result["seconds"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", default="20s")
    args = parser.parse_args()
    echo, port = start_echo()
    workdir = Path(tempfile.mkdtemp(prefix="k6host-rw-"))
    prometheus, url = start_prometheus(workdir)
    env = {**os.environ, "TCP_ECHO_HOST": "127.0.0.1", "TCP_ECHO_PORT": str(port), "DURATION": args.duration,
           "K6_PROMETHEUS_RW_SERVER_URL": url}
    figures: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    try:
        for _ in range(args.runs):
            for with_rw in (False, True):
                figures[with_rw].append(run_once(env, with_rw))
    finally:
        prometheus.terminate()
        prometheus.wait(10)
        echo.terminate()
        echo.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    for with_rw, label in ((False, "without"), (True, "with --out experimental-prometheus-rw")):
        cpu = [c * 1e6 for c, _ in figures[with_rw]]
        rate = [r for _, r in figures[with_rw]]
        print(f"{label:40} CPU per iteration {statistics.median(cpu):6.0f} µs (runs: "
              f"{', '.join(f'{c:.0f}' for c in cpu)}); {statistics.median(rate):6.0f} iterations/s "
              f"(runs: {', '.join(f'{r:.0f}' for r in rate)})")
    base = statistics.median(c for c, _ in figures[False])
    rw = statistics.median(c for c, _ in figures[True])
    print(f"overhead: {(rw - base) * 1e6:+.0f} µs CPU per iteration ({(rw / base - 1) * 100:+.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
