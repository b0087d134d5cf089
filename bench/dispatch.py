"""The cost of one event dispatch into JavaScript: one data event delivered
to a real socket's listener by the VU's event loop (VU._drive, one direct
call into the engine per wake-up).

    python bench/dispatch.py [--events N] [--heap OBJECTS] [--repeat R]

The events are synthetic (each turn of the loop queues a 4-byte data event)
so that only the host's and the engine's cost is measured, not the
network. Prints medians over R runs of µs per event, and of the first and
the last tenth of the events: if the host left live objects behind per event,
the engine's GC would grow and the last tenth would cost more.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

from k6host.report.log import Log
from k6host.testing.echo import EchoServer
from k6host.run.state import TestState
from k6host.vu.vu import VU

SCRIPT = """
import { Socket } from "k6/x/tcp"
globalThis.keep = Array.from({ length: Number(__ENV.HEAP || 0) }, (_, i) => ({ i }))
export default async function () {
  const s = new Socket()
  const want = Number(__ENV.EVENTS) * 4
  let received = 0
  const all = new Promise((resolve) => s.on("data", (d) => { received += d.length; if (received >= want) resolve() }))
  await s.connect(__ENV.TCP_ECHO_PORT, __ENV.TCP_ECHO_HOST)
  globalThis.call_python("bench.connected")
  await all
  s.destroy()
}
"""


def measure(events: int, heap: int) -> list[float]:
    """µs per event for each tenth of ``events``."""
    with EchoServer() as echo, tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "dispatch.js")
        with open(path, "w") as f:
            f.write(SCRIPT)
        env = {"TCP_ECHO_HOST": echo.host, "TCP_ECHO_PORT": str(echo.port), "HEAP": str(heap), "EVENTS": str(events)}
        vu = VU(TestState(script=path, env=env, log=Log(open(os.devnull, "w"))), 1)
        vu.init()
        real_turn = vu.loop.run_once
        stamps: list[float] = []
        connected: list[bool] = []
        vu.engine.export("bench.connected", lambda: connected.append(True))

        def turn(wait):
            # Once connected, every turn of the loop queues one data event.
            if connected and len(stamps) < events + 1:
                stamps.append(time.perf_counter())
                if len(stamps) <= events:
                    vu.loop.events.append(["k6/x/tcp", "data", 1, b"ping"])
                    return None
            return real_turn(wait)

        vu.loop.run_once = turn
        error, _ = vu.run("default", deadline=lambda: None)
        stamps.append(time.perf_counter())  # the last event's dispatch ended the iteration
        assert error is None, error
        vu.close()
        tenth = events // 10
        return [(stamps[(k + 1) * tenth] - stamps[k * tenth]) / tenth * 1e6 for k in range(10)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--heap", type=int, default=0, help="live objects the VU holds")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.events < 10 or args.heap < 0 or args.repeat < 1:
        parser.error("--events must be at least 10, --heap at least 0, --repeat at least 1")
    runs = [measure(args.events, args.heap) for _ in range(args.repeat)]
    result = {
        "heap_objects": args.heap,
        "dispatch_us_median": round(statistics.median(statistics.median(r) for r in runs), 2),
        "first_tenth_us": round(statistics.median(r[0] for r in runs), 2),
        "last_tenth_us": round(statistics.median(r[-1] for r in runs), 2),
    }
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
