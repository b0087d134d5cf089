"""The cost of one call from JavaScript into a host function, by its shape.

    python bench/crossing.py [--calls N]

Each shape runs N calls in one loop inside the engine (no VU, no network),
the host function doing nothing, and prints µs of CPU per call: what every
host call of a script pays on top of the function's own work.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from k6host.engine.interpreter import Engine

SHAPES = {
    "no arguments": "call_python('nothing')",
    "connect's six arguments": "call_python('nothing', 1, '127.0.0.1', 37359, false, {}, 0)",
    "write's arguments and result": "call_python('triple', 1, 'x'.repeat(64), 'utf8', {}, false)",
}


class _NoModules:
    def resolve(self, base: str, name: str) -> str:
        return name

    def esm_source(self, module_id: str) -> None:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    if args.calls < 1000:
        parser.error("--calls must be at least 1000")
    engine = Engine(_NoModules())
    engine.export("nothing", lambda *a: None)
    engine.export("triple", lambda *a: [64, None, True])
    result = {}
    for name, call in SHAPES.items():
        started = time.process_time()
        engine.eval("(function () { for (let i = 0; i < dukpy.n; i++) %s })(); undefined" % call, n=args.calls)
        result[name] = round((time.process_time() - started) / args.calls * 1e6, 2)
        print(f"{name:<32} {result[name]:6.2f} µs")
    print("RESULT " + json.dumps(result))
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
