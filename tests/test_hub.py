"""The hub: VUs as greenlets on one thread (host/hub.py), over real sockets and timers."""

from __future__ import annotations

import selectors
import socket
import threading
import time

import greenlet

from k6host.vu.hub import Hub
from k6host.vu.loop import EventLoop
from test_faults import open_fds, run_bounded


def _in_hub(hub: Hub, fns) -> list:
    """Run each of ``fns`` as a VU greenlet; wait for all; their results (or exceptions)."""
    results: list = [None] * len(fns)
    finished = [threading.Event() for _ in fns]

    def runner(i, fn):
        def run():
            try:
                results[i] = fn()
            except Exception as exc:  # handed back to the test
                results[i] = exc
            finally:
                finished[i].set()  # never block here: it would stop the hub's thread

        return run

    for i, fn in enumerate(fns):
        hub.spawn(runner(i, fn))
    for event in finished:
        assert event.wait(10), "a VU did not finish"
    hub.join(5)
    return results


def test_a_vu_waiting_on_its_socket_lets_the_others_run_and_wakes_when_data_comes():
    hub = Hub()
    a, b = socket.socketpair()
    order = []

    def reader():
        loop = EventLoop(hub)  # its sockets are in the hub's epoll
        got = []
        loop.watch(a, selectors.EVENT_READ, lambda mask: got.append(a.recv(10)))
        order.append("reader waits")
        while not got:
            loop.run_once(5.0)
        order.append("reader woke")
        loop.unwatch(a)
        return got[0]

    def writer():
        order.append("writer runs")
        b.send(b"hello")
        return "sent"

    try:
        results = _in_hub(hub, [reader, writer])
    finally:
        a.close()
        b.close()
    assert results == [b"hello", "sent"]
    assert order == ["reader waits", "writer runs", "reader woke"]


def test_a_wait_ends_at_its_timeout_or_when_its_stop_flag_is_set():
    hub = Hub()
    stop = threading.Event()

    def timed():
        started = time.monotonic()
        hub.wait(0.1)
        return time.monotonic() - started

    def stopped():
        started = time.monotonic()
        hub.wait(30.0, stop)
        return time.monotonic() - started

    threading.Timer(0.2, stop.set).start()
    timed_s, stopped_s = _in_hub(hub, [timed, stopped])
    assert 0.09 <= timed_s < 1.0
    assert 0.15 <= stopped_s < 2.0  # not the 30 s it asked for


def test_a_busy_vu_gives_way_to_the_others():
    hub = Hub()
    ticks = []

    def busy():
        until = time.monotonic() + 0.3
        while time.monotonic() < until:
            hub.share()
        return "busy done"

    def ticker():
        for _ in range(5):
            ticks.append(time.monotonic())
            hub.wait(0.01)
        return "ticker done"

    started = time.monotonic()
    # The ticker first: a second spawn from this thread can wait for the GIL
    # behind a busy VU that started already.
    assert _in_hub(hub, [ticker, busy]) == ["ticker done", "busy done"]
    # The ticker got its turns while the busy VU ran, not after it.
    assert ticks[-1] - started < 0.25


def test_a_blocking_call_runs_on_a_helper_thread_and_hands_back_its_result_or_error():
    hub = Hub()
    threads = []

    def lookup():
        return hub.call_blocking(lambda: (threads.append(threading.current_thread().name), "result")[1])

    def fail():
        raise OSError("no such host")

    def failing():
        return hub.call_blocking(fail)

    def hanging():
        started = time.monotonic()
        release = threading.Event()
        try:
            hub.call_blocking(lambda: release.wait(30), should_stop=lambda: time.monotonic() - started > 0.3)
        finally:
            release.set()

    results = _in_hub(hub, [lookup, failing, hanging])
    assert results[0] == "result"
    assert isinstance(results[1], OSError) and str(results[1]) == "no such host"
    assert isinstance(results[2], InterruptedError)  # it stopped waiting: the test was stopping
    assert threads and threads[0].startswith("vus-blocking")
    # Outside the hub it is a plain call.
    assert hub.call_blocking(lambda: threading.current_thread().name) == threading.current_thread().name


def test_a_wake_for_another_reason_does_not_cut_a_wait_short():
    hub = Hub()

    def sleeper():
        me = greenlet.getcurrent()
        hub.post(lambda: hub.wake(me, "some other wait"))
        started = time.monotonic()
        hub.wait(0.3, reason="this wait")
        return time.monotonic() - started

    (slept,) = _in_hub(hub, [sleeper])
    assert slept >= 0.29


def test_a_wait_with_its_stop_flag_already_set_returns_at_once():
    hub = Hub()
    stop = threading.Event()
    stop.set()

    def waiter():
        started = time.monotonic()
        hub.wait(10.0, stop)
        return time.monotonic() - started

    (waited,) = _in_hub(hub, [waiter])
    assert waited < 0.05


def test_share_and_call_blocking_outside_the_hub_are_harmless():
    hub = Hub()
    hub.share()  # not a hub VU: nothing to give way to, no error
    assert not hub.on_hub()
    hub.join(0.1)  # never started: returns at once


def test_a_failing_callback_is_reported_and_the_hub_goes_on(monkeypatch):
    seen = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.exc_value))
    hub = Hub()
    hub.post(lambda: 1 / 0)
    assert _in_hub(hub, [lambda: "still running"]) == ["still running"]
    assert [type(e) for e in seen] == [ZeroDivisionError]


def test_the_hub_thread_ends_with_its_last_vu_and_closes_what_it_opened():
    before = set(open_fds())
    hub = Hub()
    assert _in_hub(hub, [lambda: 1, lambda: 2]) == [1, 2]
    hub.join(2)
    assert hub._thread is None
    assert set(open_fds()) - before == set()
    # And it starts again for the next VU.
    assert _in_hub(hub, [lambda: 3]) == [3]


def test_an_exception_escaping_a_vu_is_reported_like_a_dying_threads(monkeypatch):
    seen = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.exc_value))
    hub = Hub()
    boom = ValueError("boom")

    def fails():
        raise boom

    hub.spawn(fails)
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    hub.join(2)
    assert seen == [boom]


def test_a_vu_in_a_busy_loop_does_not_stop_the_other_vus(tmp_path, echo):
    script = tmp_path / "busy.js"
    script.write_text(
        """
        import exec from "k6/execution"
        import { Counter } from "k6/metrics"
        const quickOnes = new Counter("quick_iterations")
        export const options = { scenarios: {
          busy: { executor: "per-vu-iterations", vus: 1, iterations: 1, exec: "busy" },
          quick: { executor: "constant-vus", vus: 1, duration: "1s", exec: "quick" },
        } }
        export function busy() { const until = Date.now() + 1500; while (Date.now() < until) {} }
        export function quick() { quickOnes.add(1) }
        """
    )
    run = run_bounded(script, {}, 30)
    assert run.exit_code == 0, run.output
    # The quick VU kept iterating while the other spun for 1.5 s.
    assert run.metrics.total("quick_iterations") > 50, run.output


def test_vus_an_arrival_rate_scenario_added_are_shut_down_with_the_rest(tmp_path):
    script = tmp_path / "grow.js"
    script.write_text(
        """
        import { sleep } from "k6"
        export const options = { scenarios: { grow: {
          executor: "constant-arrival-rate", rate: 20, timeUnit: "1s", duration: "1s",
          preAllocatedVUs: 1, maxVUs: 6,
        } } }
        export default function () { sleep(0.2) }
        """
    )
    run = run_bounded(script, {}, 30)
    assert run.exit_code == 0, run.output
    assert "vus_max" in run.output
    # Every VU ended, so the hub's thread did too (a thread left switching
    # greenlets while the interpreter exits can crash it).
    assert not [t for t in threading.enumerate() if t.name == "vus"]
