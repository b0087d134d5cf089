"""The direct engine path: after init, iterations and events enter JavaScript
through QuickJS's own API (Engine.call), not evaljs, so the host owns what an
eval did around each entry. Each test here fails if one of those duties is
dropped: throwing away the jobs an interrupt left queued, reporting and
forgetting unhandled rejections, collecting cyclic garbage between
iterations, compiling a module first required mid-iteration without running
the iteration's queued jobs inside that compile, and the stack's limits.
"""

from __future__ import annotations

import os
import selectors
import socket
import threading
import time

import pytest

from test_modules import assert_ok
from k6host.engine.interpreter import Engine, Json, ScriptError
from k6host.report.log import Log
from k6host.run.state import TestState as _TestState
from k6host.vu.hub import Hub
from k6host.vu.loop import EventLoop
from k6host.vu.vu import VU, IterationAborted


class _NoModules:
    def resolve(self, base: str, name: str) -> str:
        return name

    def esm_source(self, module_id: str) -> None:
        return None


@pytest.fixture
def engine():
    e = Engine(_NoModules())
    e.eval("globalThis.__k6host = {}; undefined")
    yield e
    e.close()


def test_call_passes_arguments_and_returns_primitives(engine):
    engine.eval("__k6host.echo = (...a) => JSON.stringify(a); __k6host.add = (a, b) => a + b; undefined")
    echo = engine.function("echo")
    assert engine.call(echo, None, True, 7, -2.5, "é\U0001F600", Json('{"k": [1, null]}')) == (
        '[null,true,7,-2.5,"é\U0001F600",{"k":[1,null]}]'
    )
    assert engine.call(engine.function("add"), 2**31, 1) == 2**31 + 1  # past int32: a double
    with pytest.raises(TypeError, match="cannot pass"):
        engine.call(echo, object())


def test_call_runs_the_jobs_it_queued_before_returning(engine):
    engine.eval("__k6host.later = () => { Promise.resolve().then(() => { globalThis.ran = 1 }); return 0 }; undefined")
    engine.call(engine.function("later"))
    assert engine.eval("globalThis.ran") == 1


def test_a_thrown_error_comes_back_as_script_error_with_its_stack(engine):
    engine.eval("__k6host.errorText = (e) => String(e) + '\\n' + e.stack; __k6host.boom = function boom() { throw new TypeError('no') }; undefined")
    with pytest.raises(ScriptError) as caught:
        engine.call(engine.function("boom"))
    assert caught.value.headline == "TypeError: no"
    assert "at boom" in caught.value.text
    assert not engine.interrupted


def test_function_names_what_is_missing(engine):
    with pytest.raises(Exception, match="nothing is not a function"):
        engine.function("nothing", "there")


def test_an_unhandled_rejection_is_reported_once_and_then_forgotten(engine):
    engine.eval("__k6host.errorText = (e) => String(e); __k6host.reject = () => { Promise.reject(new Error('nobody')) }; undefined")
    engine.call(engine.function("reject"))
    assert engine.has_unhandled_rejection()
    assert engine.take_rejection() == "Error: nobody"
    assert not engine.has_unhandled_rejection()
    assert engine.take_rejection() is None


def test_a_rejection_handled_later_in_the_same_drain_is_not_reported(engine):
    engine.eval("__k6host.handled = () => { const p = Promise.reject(new Error('x')); Promise.resolve().then(() => p.catch(() => 0)) }; undefined")
    engine.call(engine.function("handled"))
    assert engine.take_rejection() is None


def test_an_interrupt_throws_away_the_jobs_it_left_queued(engine):
    """Jobs queued behind the one interrupted would otherwise run at the next
    entry: the aborted iteration's code inside the next one."""
    stop = [False]
    engine.on_interrupt_check(lambda: stop[0])
    engine.eval("""
    globalThis.stale = 0
    __k6host.spin = () => {
      Promise.resolve().then(() => { while (true) {} })
      for (let i = 0; i < 50; i++) Promise.resolve().then(() => { globalThis.stale++ })
    }
    __k6host.read = () => globalThis.stale
    undefined""")
    import threading

    threading.Timer(0.3, lambda: stop.__setitem__(0, True)).start()
    with pytest.raises(ScriptError, match="interrupted"):
        engine.call(engine.function("spin"))
    assert engine.interrupted
    stop[0] = False
    assert engine.call(engine.function("read")) == 0  # the 50 queued jobs never ran
    assert not engine.jobs_pending()


def test_garbage_collection_runs_between_iterations_once_the_heap_has_grown(engine):
    engine.eval("__k6host.cycles = (n) => { for (let i = 0; i < n; i++) { const a = {}; const b = { a }; a.b = b } }; undefined")
    cycles = engine.function("cycles")
    engine.collect_garbage()  # the first call sets the base: growth is measured from here
    engine.call(cycles, 10)
    assert not engine.collect_garbage()  # a little garbage: not yet
    before = engine._heap_size.value
    engine.call(cycles, 20_000)  # a few MB of cycles only the cycle collector frees
    assert engine._heap_size.value - before > 1 << 20
    assert engine.collect_garbage()
    assert engine._heap_size.value - before < 256 << 10


def test_a_little_cyclic_garbage_is_collected_every_hundred_iterations(engine):
    """It may hold Python resources (a k6/crypto hasher) the heap's size does not show."""
    engine.eval("__k6host.cycles = (n) => { for (let i = 0; i < n; i++) { const a = {}; const b = { a }; a.b = b } }; undefined")
    cycles = engine.function("cycles")
    engine.collect_garbage()  # the first call sets the base
    engine.call(cycles, 500)  # tens of KB: under the 1 MB step
    ran = [engine.collect_garbage() for _ in range(100)]
    assert ran.index(True) == 99 and ran.count(True) == 1


def test_growth_that_is_live_data_makes_collections_rarer(engine):
    engine.eval("globalThis.kept = []; __k6host.keep = (n) => { for (let i = 0; i < n; i++) kept.push({ i }) }; undefined")
    keep = engine.function("keep")
    engine.collect_garbage()
    waits = []
    for _ in range(3):
        engine.call(keep, 1000)
        calls = 0
        while not engine.collect_garbage():
            calls += 1
        waits.append(calls + 1)
    assert waits == [100, 200, 400]


def _vu(tmp_path, source: str, **files: str) -> VU:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    script = tmp_path / "script.js"
    script.write_text(source)
    vu = VU(_TestState(script=str(script), env={}, log=Log(open(os.devnull, "w"))), 1)
    vu.init()
    return vu


def test_cyclic_garbage_of_many_iterations_is_collected_before_quickjs_would(tmp_path):
    """QuickJS's own trigger (dukpy sets it at 8 MB) would let the heap grow
    that far; the host collects once it has grown by about 1 MB."""
    vu = _vu(tmp_path, """
    export default function () {
      for (let i = 0; i < 2000; i++) { const a = {}; const b = { a }; a.b = b }
    }
    """)
    try:
        vu.run("default")
        start = vu.engine._heap_size.value
        peak = 0
        for _ in range(100):  # ~20 MB of cycles in all
            assert vu.run("default") == (None, None)
            peak = max(peak, vu.engine._heap_size.value)
        assert peak - start < 3 << 20, f"the heap grew by {(peak - start) >> 10} KB"
    finally:
        vu.close()


def test_a_module_first_required_during_an_iteration_does_not_run_its_queued_jobs(tmp_path):
    """Compiling it nested in the iteration used to be an evaljs, which runs
    every queued job inside the require() call (or refused, mid-drain)."""
    vu = _vu(tmp_path, """
    export default async function () {
      const order = []
      Promise.resolve().then(() => order.push("job"))
      await null
      Promise.resolve().then(() => order.push("later job"))
      const lib = require("./lib.js")   // first required here, inside a job
      order.push("required " + lib.hello())
      await null
      if (order.join(",") !== "job,required hi,later job") throw new Error("order: " + order.join(","))
    }
    """, **{"lib.js": "exports.hello = () => 'hi'\n"})
    try:
        assert vu.run("default") == (None, None)
        assert vu.run("default") == (None, None)  # cached the second time
    finally:
        vu.close()


def test_a_syntax_error_in_a_module_required_mid_iteration_fails_that_iteration(tmp_path):
    vu = _vu(tmp_path, """
    export default async function () {
      await null
      require("./broken.js")
    }
    """, **{"broken.js": "exports.x = (\n"})
    try:
        error, _ = vu.run("default")
        assert error is not None and "SyntaxError" in error and "broken.js" in error
    finally:
        vu.close()


def test_an_interrupted_iteration_leaves_nothing_for_the_next_scenario(run_js):
    """The same VU runs two scenarios one after the other; the first is cut
    off mid-drain with jobs queued behind the busy one."""
    run = run_js("""
    import exec from "k6/execution"
    export const options = {
      scenarios: {
        first: { executor: "constant-vus", vus: 1, duration: "1s", gracefulStop: "0s", exec: "spin" },
        second: { executor: "per-vu-iterations", vus: 1, iterations: 1, startTime: "2s", exec: "check" },
      },
    }
    export function spin() {
      Promise.resolve().then(() => { while (true) {} })
      Promise.resolve().then(() => report("stale job ran in " + exec.scenario.name))
    }
    export function check() { report("check ran on VU " + exec.vu.idInTest) }
    """)
    assert_ok(run)
    assert run.reported() == ["check ran on VU 1"]


def test_an_unhandled_rejection_fails_its_own_iteration_only(run_js):
    run = run_js("""
    import exec from "k6/execution"
    export const options = { iterations: 3, vus: 1 }
    export default async function () {
      if (exec.vu.iterationInInstance === 0) Promise.reject(new Error("nobody handled this"))
      await null
      report(exec.vu.iterationInInstance)
    }
    """)
    assert run.exit_code == 0, run.output
    assert run.reported() == [0, 1, 2]
    failed = [line for line in run.output.splitlines() if "level=error" in line]
    assert len(failed) == 1, run.output
    assert 'msg="Uncaught (in promise) Error: nobody handled this' in failed[0]


def test_a_failed_iterations_continuations_never_run_in_the_next(run_js):
    run = run_js("""
    import exec from "k6/execution"
    export const options = { iterations: 2, vus: 1 }
    export default async function () {
      const mine = exec.vu.iterationInInstance
      if (mine === 0) setTimeout(() => { throw new Error("listener failed") }, 10)
      await new Promise((resolve) => setTimeout(resolve, 100))
      report("continued " + mine)
    }
    """)
    assert run.exit_code == 0, run.output
    assert run.reported() == ["continued 1"]
    failed = [line for line in run.output.splitlines() if "level=error" in line]
    assert len(failed) == 1 and "listener failed" in failed[0], run.output


def test_deep_recursion_works_on_every_vu_and_runaway_recursion_is_a_range_error(run_js):
    """QuickJS measures its stack from a top the host sets on every entry (a
    VU is a greenlet, whose stack is not where the runtime was made)."""
    run = run_js("""
    export const options = { vus: 5, iterations: 20 }
    function depth(n) { return n === 0 ? 0 : 1 + depth(n - 1) }
    function forever(n) { return forever(n + 1) + 1 }
    export default async function () {
      await null
      if (depth(500) !== 500) throw new Error("wrong depth")
      try { forever(0) } catch (e) { if (!(e instanceof RangeError)) throw e; return }
      throw new Error("no RangeError")
    }
    """)
    assert_ok(run)
    assert run.metrics.sink_of("iterations").count == 20


# -- found in review: each failed before its fix -----------------------------------------------


@pytest.mark.parametrize("getter", [
    "p.catch(() => 0)",                            # the record is dropped while its text is made
    "Promise.reject(new Error('second'))",         # a new record comes while the list is read
])
def test_making_a_rejections_text_may_change_the_list_safely(engine, getter):
    engine.eval("__k6host.errorText = (e) => String(e.message); __k6host.go = () => { const p = Promise.reject({ get message() { %s; return 'first' } }) }; undefined" % getter)
    engine.call(engine.function("go"))
    assert engine.take_rejection() == "first"  # the first rejected, not the last


def test_the_first_of_several_rejections_is_reported(engine):
    engine.eval("__k6host.errorText = (e) => String(e); __k6host.go = () => { Promise.reject(new Error('one')); Promise.reject(new Error('two')) }; undefined")
    engine.call(engine.function("go"))
    assert engine.take_rejection() == "Error: one"
    assert engine.take_rejection() is None


def test_a_job_that_throws_leaves_nothing_queued_for_the_next_iteration(tmp_path):
    vu = _vu(tmp_path, """
    let n = 0
    export default async function () {
      n++
      if (n === 1) {
        queueMicrotask(() => { throw new Error("boom in iteration 1") })
        Promise.resolve().then(() => setTimeout(() => { globalThis.stale = "iteration 1's timer ran in " + n }, 0))
      }
      await new Promise((resolve) => setTimeout(resolve, 30))
      if (globalThis.stale) throw new Error(globalThis.stale)
    }
    """)
    try:
        error, _ = vu.run("default")
        assert "boom in iteration 1" in error
        assert vu.run("default") == (None, None)
        assert vu.run("default") == (None, None)
    finally:
        vu.close()


def test_a_rejection_of_an_interrupted_iteration_is_not_blamed_on_the_next(tmp_path):
    vu = _vu(tmp_path, """
    let n = 0
    export default function () {
      n++
      if (n === 1) { Promise.reject(new Error("rejected in iteration 1")); while (true) {} }
    }
    """)
    try:
        until = time.monotonic() + 0.3
        with pytest.raises(IterationAborted):
            vu.run("default", deadline=lambda: until)
        assert vu.run("default") == (None, None)
    finally:
        vu.close()


def test_a_module_whose_body_throws_mid_iteration_is_an_error_the_script_can_catch(tmp_path):
    vu = _vu(tmp_path, """
    export default async function () {
      await null
      try { require("./throws.js") } catch (e) { if (!String(e).includes("module body threw")) throw e; return }
      throw new Error("no error from require")
    }
    """, **{"throws.js": "throw new Error('module body threw')\n"})
    try:
        assert vu.run("default") == (None, None)  # and no unhandled rejection left behind
    finally:
        vu.close()


def test_a_ready_socket_of_a_vu_waiting_for_something_else_does_not_spin_the_hub():
    """Level-triggered: until the VU's next turn, every poll would report it again."""
    hub = Hub()
    done = threading.Event()
    result = {}

    def vu():
        loop = EventLoop(hub)
        a, b = socket.socketpair()
        a.setblocking(False)
        got = []
        loop.watch(a, selectors.EVENT_READ, lambda mask: got.append(a.recv(10)))
        b.send(b"x")
        started = time.process_time()
        hub.wait(0.5)  # sleep(), say: not a wait on the loop
        result["cpu"] = time.process_time() - started
        loop.run_once(0)  # the VU's next turn handles it
        result["got"] = got
        loop.unwatch(a)
        a.close()
        b.close()
        done.set()

    hub.spawn(vu)
    assert done.wait(10)
    hub.join(1)
    assert result["got"] == [b"x"]
    assert result["cpu"] < 0.2, f"{result['cpu']:.2f} s of CPU in a 0.5 s wait"
