"""Where one VU's churn iteration spends its CPU, by part.

    python bench/breakdown.py [--iterations N] [--vus 1]

Runs bench/churn.js in this process (no hub: each VU blocks in its own loop,
one after another) against a Node.js echo server it starts, and reports CPU
µs per iteration (process CPU time, user + system) for:

- JavaScript: time inside the engine's direct calls (QuickJS running the
  iteration, its promise jobs and its event listeners, plus dukpy's part of
  each host call: JSON on the way in and out), host functions excluded;
- each host function JavaScript called (Python, and the system calls it
  made: socket, connect, send, close);
- the event loop's turns (waiting on epoll, reading, connect completions);
- the rest: the VU's own plumbing between those.

The parts are measured with time.process_time() around each, which adds a
little to every part; the total is measured without it.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from k6host.engine import interpreter
from k6host.report.log import Log
from k6host.run.state import TestState
from k6host.vu.vu import VU

HERE = Path(__file__).resolve().parent


def make_vus(count: int, port: int) -> list[VU]:
    env = {"TCP_ECHO_HOST": "127.0.0.1", "TCP_ECHO_PORT": str(port)}
    test = TestState(script=str(HERE / "churn.js"), env=env, log=Log(open(os.devnull, "w")))
    vus = [VU(test, i + 1) for i in range(count)]
    for vu in vus:
        vu.init()
    return vus


def total(vus: list[VU], iterations: int) -> float:
    """CPU µs per iteration, nothing instrumented."""
    started = time.process_time()
    for i in range(iterations):
        error, _ = vus[i % len(vus)].run("default")
        assert error is None, error
    return (time.process_time() - started) / iterations * 1e6


def parts(vus: list[VU], iterations: int) -> dict[str, float]:
    clock = time.process_time
    spent: collections.Counter[str] = collections.Counter()
    nested: list[float] = []  # time of host functions inside the current engine call

    real_call = interpreter.Engine.call
    real_host = interpreter._Interpreter._call_python

    def call(self, function, *args):
        started = clock()
        nested.append(0.0)
        try:
            return real_call(self, function, *args)
        finally:
            inner = nested.pop()
            spent["JavaScript"] += clock() - started - inner
            if nested:
                nested[-1] += clock() - started

    def host(self, name, args):
        started = clock()
        try:
            return real_host(self, name, args)
        finally:
            took = clock() - started
            spent["host " + name.decode()] += took
            if nested:
                nested[-1] += took

    for vu in vus:
        real_turn = vu.loop.run_once

        def turn(wait, real_turn=real_turn):
            started = clock()
            try:
                return real_turn(wait)
            finally:
                spent["event loop turns"] += clock() - started

        vu.loop.run_once = turn
    interpreter.Engine.call = call
    interpreter._Interpreter._call_python = host
    try:
        started = clock()
        for i in range(iterations):
            vus[i % len(vus)].run("default")
        whole = clock() - started
    finally:
        interpreter.Engine.call = real_call
        interpreter._Interpreter._call_python = real_host
    spent["rest (VU plumbing)"] = whole - sum(spent.values())
    return {name: seconds / iterations * 1e6 for name, seconds in spent.most_common()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--vus", type=int, default=1)
    args = parser.parse_args()
    if args.iterations < 100 or args.vus < 1:
        parser.error("--iterations must be at least 100, --vus at least 1")
    echo = subprocess.Popen(["node", str(HERE / "echo_server.js")], stdout=subprocess.PIPE, text=True)
    try:
        assert echo.stdout is not None
        port = int(echo.stdout.readline())
        vus = make_vus(args.vus, port)
        total(vus, 200)  # warm up
        times = os.times()
        whole = total(vus, args.iterations)
        used = os.times()
        user = (used.user - times.user) / args.iterations * 1e6
        system = (used.system - times.system) / args.iterations * 1e6
        split = parts(vus, args.iterations)
        print(f"CPU per churn iteration, {args.vus} VU(s), {args.iterations} iterations: {whole:.0f} µs "
              f"(user {user:.0f}, system {system:.0f})")
        for name, micros in split.items():
            print(f"  {name:<28} {micros:6.1f} µs")
        print("RESULT " + json.dumps({"total_us": round(whole, 1), **{k: round(v, 1) for k, v in split.items()}}))
        for vu in vus:
            vu.close()
    finally:
        echo.terminate()
        echo.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
