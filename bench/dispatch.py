"""The cost of one event dispatch into JavaScript: one data event, delivered
to a real socket's listener through the VU's batch entry.

    python bench/dispatch.py [--events N] [--heap OBJECTS]

Prints the median, over --repeat runs, of µs per dispatch. A reference for
the engine's floor is printed beside it: an empty evaljs("1") in the same
interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

from k6host.console import Log
from k6host.echo import EchoServer
from k6host.vu import VU, TestState

SCRIPT = """
import { Socket } from "k6/x/tcp"
globalThis.keep = Array.from({ length: Number(__ENV.HEAP || 0) }, (_, i) => ({ i }))
export default async function () {
  const s = new Socket()
  globalThis.received = 0
  s.on("data", (d) => { globalThis.received += d.length })
  await s.connect(__ENV.TCP_ECHO_PORT, __ENV.TCP_ECHO_HOST)
}
"""


def measure(events: int, heap: int) -> tuple[float, float]:
    with EchoServer() as echo, tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "dispatch.js")
        with open(path, "w") as f:
            f.write(SCRIPT)
        env = {"TCP_ECHO_HOST": echo.host, "TCP_ECHO_PORT": str(echo.port), "HEAP": str(heap)}
        test = TestState(script=path, env=env, log=Log(open(os.devnull, "w")))
        vu = VU(test, 1)
        vu.init()
        # Run the iteration until it has connected; the socket stays open.
        vu._settled = False
        vu.engine.eval("__k6host.iterate(__k6host.main.default, 0, undefined, false, {iter: 0})")
        deadline = time.monotonic() + 10
        while not vu._settled and time.monotonic() < deadline:
            vu.loop.run_once(0.01)
            if vu.loop.events:
                vu._dispatch()
        assert vu._settled and vu._result[0] is None, vu._result
        # Timed in tenths: if the host left live objects behind per event, each
        # entry's GC would grow and the last tenth would cost more than the first.
        tenth = max(events // 10, 1)
        tenths = []
        for _ in range(10):
            started = time.perf_counter()
            for _ in range(tenth):
                vu.loop.events.append(["d", 1, "ping"])
                vu._dispatch()
            tenths.append((time.perf_counter() - started) / tenth * 1e6)
        events = tenth * 10
        per_event = statistics.median(tenths)
        assert vu.engine.eval("received") == 4 * events
        started = time.perf_counter()
        for _ in range(events):
            vu.engine.eval("1")
        per_eval = (time.perf_counter() - started) / events * 1e6
        vu.close()
        return per_event, per_eval, tenths[0], tenths[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--heap", type=int, default=0, help="live objects the VU holds")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    runs = [measure(args.events, args.heap) for _ in range(args.repeat)]
    result = {
        "heap_objects": args.heap,
        "dispatch_us_median": round(statistics.median(r[0] for r in runs), 2),
        "empty_eval_us_median": round(statistics.median(r[1] for r in runs), 2),
        "first_tenth_us": round(statistics.median(r[2] for r in runs), 2),
        "last_tenth_us": round(statistics.median(r[3] for r in runs), 2),
    }
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
