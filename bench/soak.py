"""Soak: does k6host's memory stay flat under connection churn?

    python bench/soak.py [--minutes 10] [--vus 10] [--warmup SECONDS] [--every 10]

Runs ``k6host run --with-echo`` for the given minutes, 10 VUs each going
round connect / write / read the echo / destroy as fast as they can, and
samples the k6host process's resident memory (and its open descriptors)
every 10 s. Prints the samples and the least-squares slope of RSS after the
warm-up, in MB per minute, and the part of it that Trend values explain
(every value is kept, as k6 keeps them, so that part grows with the rate of
iterations); exits 1 when the rest reaches the target of 1 MB/min (or the
run fails), so it can gate a build. Not part of the test
suite: it takes as long as it is told to.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MB_PER_MIN = 1.0
TRENDS_PER_ITERATION = 4

SCRIPT = """
import { Socket } from "k6/x/tcp"
import { check } from "k6"
export const options = { vus: Number(__ENV.SOAK_VUS), duration: __ENV.SOAK_DURATION }
export default async function () {
  const s = new Socket({ tags: { soak: "yes" } })
  const size = 64 + ((__ITER * 131) % 4032)  // 64 B .. 4 KiB, varying
  const message = "x".repeat(size)
  let received = 0, done
  const echoed = new Promise((resolve, reject) => {
    done = resolve
    s.on("error", reject)
  })
  s.on("data", (d) => { received += d.length; if (received >= 3 * size) done() })
  s.setTimeout(5000)
  await s.connect(Number(__ENV.TCP_ECHO_PORT), __ENV.TCP_ECHO_HOST)
  await s.write(message)
  await s.write(message, { tags: { part: "2" } })
  await s.write(new Uint8Array(size).fill(120))
  await echoed
  check(received, { "all echoed": (n) => n === 3 * size })
  s.destroy()
}
"""


def rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


def open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def summary_line(stdout: str, name: str) -> str:
    for line in stdout.splitlines():
        if line.strip().startswith(name + "."):
            return " ".join(line.split())
    return f"{name}: none (not in the summary)"


def summary_count(stdout: str, name: str) -> float:
    match = re.search(rf"^\s*{name}\.+: (\d+)", stdout, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to churn (default 10)")
    parser.add_argument("--vus", type=int, default=10, help="VUs churning connections (default 10)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples (default 10)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds left out of the slope (default: a quarter of the run, at most 120)")
    args = parser.parse_args()
    seconds = args.minutes * 60
    warmup = args.warmup if args.warmup is not None else min(120.0, seconds / 4)
    if seconds - warmup < 3 * args.every:
        parser.error("too short: the slope needs at least three samples after the warm-up")

    with tempfile.TemporaryDirectory(prefix="k6host-soak-") as folder:
        script = Path(folder) / "soak.js"
        script.write_text(SCRIPT)
        out_path = Path(folder) / "stdout.txt"
        err_path = Path(folder) / "stderr.txt"
        command = [sys.executable, "-m", "k6host", "run", "--with-echo", "--quiet", "--no-color",
                   "-e", f"SOAK_VUS={args.vus}", "-e", f"SOAK_DURATION={seconds:g}s", str(script)]
        print(f"soak: {args.vus} VUs, {args.minutes:g} min, a sample every {args.every:g} s, warm-up {warmup:g} s")
        print(f"{'t (s)':>7} {'RSS (MB)':>9} {'fds':>5}")
        samples: list[tuple[float, float]] = []
        with out_path.open("w") as out, err_path.open("w") as err:
            process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
            started = time.monotonic()
            limit = started + seconds + 120  # k6host's own start and graceful stop included
            try:
                next_sample = started
                while process.poll() is None and time.monotonic() < limit:
                    now = time.monotonic()
                    if now >= next_sample:
                        rss, fds = rss_mb(process.pid), open_fds(process.pid)
                        elapsed = now - started
                        if rss is not None and elapsed <= seconds:  # the run itself, not its summary
                            samples.append((elapsed, rss))
                            print(f"{elapsed:7.0f} {rss:9.1f} {fds if fds is not None else '-':>5}", flush=True)
                        next_sample += args.every
                    time.sleep(0.2)
            finally:
                if process.poll() is None:
                    process.kill()
                code = process.wait()
        stdout, stderr = out_path.read_text(), err_path.read_text()

    print()
    for name in ("iterations", "tcp_sockets", "tcp_errors", "tcp_timeouts", "checks_succeeded", "data_sent"):
        print("  " + summary_line(stdout, name))
    errors = [line for line in stderr.splitlines() if "level=error" in line]
    if code != 0 or errors:
        print(f"\nk6host exited {code} with {len(errors)} error lines:\n" + "\n".join(errors[:10] or stderr.splitlines()[-10:]))
        return 1
    steady = [(t / 60, mb) for t, mb in samples if t >= warmup]
    if len(steady) < 3:
        print(f"\nonly {len(steady)} samples after the warm-up: no slope")
        return 1
    rate = slope(steady)
    first, last = steady[0][1], steady[-1][1]
    print(f"\nRSS after warm-up: {first:.1f} MB -> {last:.1f} MB over {steady[-1][0] - steady[0][0]:.1f} min, "
          f"slope {rate:+.3f} MB/min (target: under {TARGET_MB_PER_MIN:g})")
    # Trend sinks keep every value (as k6's do): 4 bytes (the built-in time
    # Trends keep 32-bit values) per sample of iteration_duration and
    # tcp_socket_resolving/connecting/duration. That grows with the rate of
    # iterations, by design; what is left is the host's own growth.
    by_design = summary_count(stdout, "iterations") * TRENDS_PER_ITERATION * 4 / 2**20 / args.minutes
    own = rate - by_design
    print(f"of which Trend values, kept by design: about {by_design:.2f} MB/min; the rest: {own:+.3f} MB/min")
    print("verdict: " + ("flat" if own < TARGET_MB_PER_MIN else "GROWING"))
    return 0 if own < TARGET_MB_PER_MIN else 1


if __name__ == "__main__":
    sys.exit(main())
