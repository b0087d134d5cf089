"""The REST API (--address, --paused) and the status/pause/resume/stats commands,
compared with the real k6 1.1.0 over real sockets on 127.0.0.1.

Every run here names its own free port; the rest of the suite has the API off
(conftest.py sets K6_ADDRESS=""). Each process runs in its own process group
and is killed at the end of its test whatever happened.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.test_signals import K6

needs_k6 = pytest.mark.skipif(K6 is None, reason="no k6 binary to compare with")

PROGRAMS = [
    pytest.param("k6host", id="k6host"),
    pytest.param("k6", id="k6", marks=needs_k6),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(program: str) -> list[str]:
    return [K6] if program == "k6" else [sys.executable, "-m", "k6host"]


class Runner:
    """One `k6 run` or `k6host run` with its REST API on a port of its own."""

    def __init__(self, program: str, script: Path, *flags: str, port: int | None = None):
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [*command(program), "run", "--address", self.address, *flags, str(script)],
            cwd=script.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )

    def request(self, method: str, path: str, body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
            connection.request(method, path, body=data)
            response = connection.getresponse()
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None)
        finally:
            connection.close()

    def wait_for_api(self, timeout: float = 30.0) -> dict:
        """Poll GET /v1/status until it answers, as k6-operator's starter does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the runner exited {self.proc.returncode}: {self.proc.stderr.read()}")
            try:
                return self.request("GET", "/v1/status", timeout=1.0)[1]
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the REST API never answered")

    def wait_for_status(self, wanted: int, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        document = self.wait_for_api(timeout)
        while time.monotonic() < deadline:
            document = self.request("GET", "/v1/status")[1]
            if document["data"]["attributes"]["status"] == wanted:
                return document
            time.sleep(0.05)
        raise AssertionError(f"status never became {wanted}: {document}")

    def patch(self, **attributes: Any) -> tuple[int, Any]:
        return self.request("PATCH", "/v1/status", {"data": {"type": "status", "id": "default", "attributes": attributes}})

    def finish(self, timeout: float = 60.0) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.communicate()


@contextmanager
def runners(*started: Runner) -> Iterator[tuple[Runner, ...]]:
    try:
        yield started
    finally:
        for runner in started:
            runner.kill()


def shape(value: Any) -> Any:
    """A JSON value's keys and types, not its numbers (1 and 1.5 are both numbers)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


SCRIPT = """
import { sleep, group, check } from "k6"
import { Counter } from "k6/metrics"
const hits = new Counter("hits")
export const options = {
  scenarios: { main: { executor: "per-vu-iterations", vus: 2, iterations: 3, maxDuration: "60s" } },
  thresholds: { hits: ["count>=0"] },
}
export default function () {
  group("outer", () => {
    hits.add(1)
    check(1, { "is one": (v) => v === 1 })
    group("inner", () => { check(2, { "is two": (v) => v === 2 }) })
  })
}
export function teardown() { sleep(Number(__ENV.TEARDOWN_SLEEP || 0)) }
"""

LONG = """
import { sleep } from "k6"
export const options = { vus: 2, duration: "60s" }
export default function () { sleep(0.1) }
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "script.js"
    path.write_text(SCRIPT)
    return path


@needs_k6
def test_paused_status_resume_and_exit_match_k6(script: Path) -> None:
    """--paused on distinct ports: the same status document shape and values,
    the same refusals, then resumed with PATCH paused:false, the same exit."""
    with runners(Runner("k6", script, "--paused", "--quiet"), Runner("k6host", script, "--paused", "--quiet")) as (k6, host):
        documents = [k6.wait_for_api(), host.wait_for_api()]
        for runner in (k6, host):
            runner.wait_for_status(4)
        documents = [runner.request("GET", "/v1/status")[1] for runner in (k6, host)]
        assert shape(documents[0]) == shape(documents[1])
        assert documents[0] == documents[1]  # paused, 0 VUs active, vus-max 2, not running...
        assert documents[1]["data"]["attributes"] == {
            "status": 4, "paused": True, "vus": 0, "vus-max": 2, "stopped": False, "running": False, "tainted": False,
        }
        # Refusals: pausing a paused test, changing VUs, a body that is not JSON.
        for attributes in ({"paused": True}, {"vus": 5}):
            answers = [runner.patch(**attributes) for runner in (k6, host)]
            assert answers[0] == answers[1], attributes
        answers = [runner.request("PATCH", "/v1/status", b"{not json") for runner in (k6, host)]
        assert answers[0][0] == answers[1][0] == 400
        assert shape(answers[0][1]) == shape(answers[1][1])
        assert [runner.request("GET", "/v1/metrics/no_such_metric") for runner in (k6, host)] == [
            (404, {"errors": [{"status": "404", "title": "Not Found", "detail": "No metric with that ID was found"}]})
        ] * 2
        for runner in (k6, host):
            code, document = runner.patch(paused=False)
            assert code == 200 and document["data"]["attributes"]["paused"] is False
        results = [runner.finish() for runner in (k6, host)]
    assert results[0][0] == results[1][0] == 0, results


@needs_k6
def test_groups_metrics_and_status_during_teardown_match_k6(script: Path) -> None:
    """While teardown() sleeps, /v1/groups and the counters are final: compare them whole."""
    with runners(Runner("k6", script, "--quiet", "-e", "TEARDOWN_SLEEP=3"),
                 Runner("k6host", script, "--quiet", "-e", "TEARDOWN_SLEEP=3")) as (k6, host):
        statuses = [runner.wait_for_status(8) for runner in (k6, host)]  # 8: teardown
        assert statuses[0] == statuses[1]
        groups = [runner.request("GET", "/v1/groups") for runner in (k6, host)]
        assert groups[0] == groups[1]
        assert len(groups[1][1]["data"]) == 3  # root, ::outer, ::outer::inner
        for name in ("hits", "iterations", "checks"):
            metrics = [runner.request("GET", f"/v1/metrics/{name}") for runner in (k6, host)]
            assert metrics[0][0] == metrics[1][0] == 200
            assert shape(metrics[0][1]) == shape(metrics[1][1]), name
            attributes = [m[1]["data"]["attributes"] for m in metrics]
            key = "rate" if name == "checks" else "count"  # a counter's rate depends on the clock
            assert attributes[0]["sample"][key] == attributes[1]["sample"][key], name
            assert attributes[0]["tainted"] == attributes[1]["tainted"], name
        listed = [runner.request("GET", "/v1/metrics")[1]["data"] for runner in (k6, host)]
        for row in listed[1]:
            assert set(row) == {"type", "id", "attributes"} and row["type"] == "metrics"
            assert set(row["attributes"]) == {"type", "contains", "tainted", "sample"}
        assert {"hits", "iterations", "checks", "group_duration"} <= {row["id"] for row in listed[1]}
        results = [runner.finish() for runner in (k6, host)]
    assert results[0][0] == results[1][0] == 0


@needs_k6
@pytest.mark.parametrize("when", ["running", "paused"])
def test_stopped_from_rest_api_exits_as_k6(tmp_path: Path, when: str) -> None:
    path = tmp_path / "long.js"
    path.write_text(LONG)
    flags = ("--quiet",) + (("--paused",) if when == "paused" else ())
    with runners(Runner("k6", path, *flags), Runner("k6host", path, *flags)) as (k6, host):
        for runner in (k6, host):
            runner.wait_for_status(4 if when == "paused" else 7)
        if when == "running":  # a running test cannot be paused, in k6's words
            answers = [runner.patch(paused=True) for runner in (k6, host)]
            assert answers[0] == answers[1]
            assert answers[1][0] == 500
            assert "doesn't support pause and resume operations after its start" in answers[1][1]["errors"][0]["detail"]
        stopped = [runner.patch(stopped=True) for runner in (k6, host)]
        assert [s[0] for s in stopped] == [200, 200]
        assert stopped[0][1]["data"]["attributes"]["stopped"] is stopped[1][1]["data"]["attributes"]["stopped"] is True
        started = time.monotonic()
        results = [runner.finish(timeout=30) for runner in (k6, host)]
        assert time.monotonic() - started < 30
    assert results[0][0] == results[1][0] == 103, results
    assert "test run stopped from REST API" in results[1][2]


@needs_k6
@pytest.mark.parametrize("address", ["nonsense", "127.0.0.1:99999"])
def test_bad_address_exits_106_as_k6(tmp_path: Path, address: str) -> None:
    path = tmp_path / "long.js"
    path.write_text(LONG)
    codes = []
    for program in ("k6", "k6host"):
        done = subprocess.run([*command(program), "run", "--quiet", "--address", address, str(path)],
                              capture_output=True, text=True, timeout=60)
        codes.append(done.returncode)
        assert "Error from API server" in done.stderr
    assert codes == [106, 106]


@needs_k6
def test_address_in_use_106_when_given_warning_when_default(tmp_path: Path) -> None:
    path = tmp_path / "one.js"
    path.write_text("export default function () {}\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for program in ("k6", "k6host"):
            done = subprocess.run([*command(program), "run", "--quiet", "--address", f"127.0.0.1:{port}", str(path)],
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 106, (program, done.stderr)
            assert "address already in use" in done.stderr
    # The default address: k6 only warns. Hold 6565 (or find it held already).
    with socket.socket() as held:
        try:
            held.bind(("127.0.0.1", 6565))
            held.listen()
        except OSError:
            pass  # someone else holds it: just as good
        env = {k: v for k, v in os.environ.items() if k != "K6_ADDRESS"}
        for program in ("k6", "k6host"):
            done = subprocess.run([*command(program), "run", "--quiet", "--no-summary", str(path)],
                                  capture_output=True, text=True, timeout=60, env=env)
            assert done.returncode == 0, (program, done.stderr)
            assert "Error from API server" in done.stderr and "level=warning" in done.stderr


def test_rest_api_answers_under_full_load(tmp_path: Path) -> None:
    """20 VUs that never wait keep the hub busy; /v1/status still answers quickly."""
    path = tmp_path / "busy.js"
    path.write_text("""
export const options = { vus: 20, duration: "6s" }
export default function () { const end = Date.now() + 50; while (Date.now() < end) {} }
""")
    with runners(Runner("k6host", path, "--quiet", "--no-summary")) as (host,):
        host.wait_for_status(7)
        time.sleep(1.0)  # every VU busy
        slowest, answers, iterations = 0.0, 0, []
        for _ in range(15):
            started = time.monotonic()
            code, document = host.request("GET", "/v1/status")
            slowest = max(slowest, time.monotonic() - started)
            assert code == 200 and document["data"]["attributes"]["vus"] == 20
            answers += 1
            iterations.append(host.request("GET", "/v1/metrics/iterations")[1]["data"]["attributes"]["sample"]["count"])
            time.sleep(0.2)
        code, _, err = host.finish()
    assert code == 0, err
    assert answers == 15 and slowest < 1.0, slowest
    assert iterations[-1] > iterations[0] > 0  # the counters move while the test runs


@needs_k6
def test_status_pause_resume_stats_commands_talk_to_either(script: Path) -> None:
    """k6host's commands read k6's API, k6's commands read k6host's: the same text."""
    with runners(Runner("k6", script, "--paused", "--quiet"), Runner("k6host", script, "--paused", "--quiet")) as (k6, host):
        for runner in (k6, host):
            runner.wait_for_status(4)
        outputs = {}
        for client in ("k6", "k6host"):
            for runner in (k6, host):
                done = subprocess.run([*command(client), "status", "--address", runner.address],
                                      capture_output=True, text=True, timeout=30)
                outputs[client, runner is host] = (done.returncode, done.stdout)
        assert len(set(outputs.values())) == 1, outputs
        assert outputs["k6host", True][1].startswith("status: 4\npaused: \"true\"\n")
        paused = [subprocess.run([*command(client), "pause", "-a", host.address], capture_output=True, text=True, timeout=30)
                  for client in ("k6", "k6host")]
        assert [p.returncode for p in paused] == [255, 255]
        assert "execution is already paused" in paused[0].stderr and "execution is already paused" in paused[1].stderr
        stats = subprocess.run([*command("k6host"), "stats", "-a", k6.address], capture_output=True, text=True, timeout=30)
        assert stats.returncode == 0 and "- name: hits\n  type:\n    type: counter\n" in stats.stdout
        for runner in (k6, host):
            done = subprocess.run([*command("k6host"), "resume", "-a", runner.address], capture_output=True, text=True, timeout=30)
            assert done.returncode == 0 and 'paused: "false"' in done.stdout, done.stderr
        results = [runner.finish() for runner in (k6, host)]
    assert results[0][0] == results[1][0] == 0


@pytest.mark.parametrize("args, message", [
    (["status", "--address", "127.0.0.1:1"], "connection refused"),
    (["stats", "--address", "nonsense"], "missing port in address"),
    (["resume", "--address", ""], "no rest api address"),
])
def test_commands_without_an_api_fail_clearly(args: list[str], message: str) -> None:
    done = subprocess.run([*command("k6host"), *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 255
    assert message in done.stderr.lower() and "Traceback" not in done.stderr


def test_address_empty_turns_the_api_off_and_k6_address_is_read(tmp_path: Path) -> None:
    """K6_ADDRESS names the address (a busy one only warns, as it was not a flag);
    --address "" wins over it and turns the API off."""
    path = tmp_path / "one.js"
    path.write_text("export default function () {}\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env = {**os.environ, "K6_ADDRESS": f"127.0.0.1:{busy.getsockname()[1]}"}
        from_env = subprocess.run([*command("k6host"), "run", "--quiet", str(path)],
                                  capture_output=True, text=True, timeout=60, env=env)
        off = subprocess.run([*command("k6host"), "run", "--quiet", "--address", "", str(path)],
                             capture_output=True, text=True, timeout=60, env=env)
    assert from_env.returncode == 0 and "Error from API server" in from_env.stderr
    assert off.returncode == 0 and "API server" not in off.stderr, off.stderr


def test_paused_without_an_api_says_so_and_a_signal_ends_it(tmp_path: Path) -> None:
    path = tmp_path / "one.js"
    path.write_text("export default function () { console.log('RAN') }\n")
    proc = subprocess.Popen([*command("k6host"), "run", "--quiet", "--paused", "--address", "", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = ""
        deadline = time.monotonic() + 30
        while "paused" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
        assert "no REST API can resume it" in line, line
        time.sleep(0.3)
        assert proc.poll() is None  # still waiting
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 105 and "RAN" not in err


@needs_k6
def test_resume_that_comes_during_init_starts_the_test_as_k6(tmp_path: Path) -> None:
    """k6-operator's starter may PATCH paused:false while the VUs still initialize."""
    path = tmp_path / "slow.js"
    path.write_text("""
const end = Date.now() + 700
while (Date.now() < end) {}  // a slow init, in every VU
export const options = { vus: 3, iterations: 3 }
export default function () { console.log("RAN") }
""")
    with runners(Runner("k6", path, "--quiet", "--paused"), Runner("k6host", path, "--quiet", "--paused")) as (k6, host):
        early = []
        for runner in (k6, host):
            runner.wait_for_api()
            code, document = runner.patch(paused=False)
            early.append((code, document["data"]["attributes"]["status"]))
        results = [runner.finish(timeout=60) for runner in (k6, host)]
    assert [code for code, _ in early] == [200, 200]
    assert early[1][1] < 4  # k6host answered before its VUs were ready
    assert results[0][0] == results[1][0] == 0
    assert results[0][2].count("RAN") == results[1][2].count("RAN") == 3


@needs_k6
def test_status_during_setup_matches_k6(tmp_path: Path) -> None:
    path = tmp_path / "setup.js"
    path.write_text("""
import { sleep } from "k6"
export const options = { vus: 2, iterations: 2 }
export function setup() { sleep(2) }
export default function () {}
""")
    with runners(Runner("k6", path, "--quiet"), Runner("k6host", path, "--quiet")) as (k6, host):
        statuses = [runner.wait_for_status(6) for runner in (k6, host)]  # 6: setup
        results = [runner.finish() for runner in (k6, host)]
    assert statuses[0] == statuses[1]
    assert statuses[1]["data"]["attributes"]["running"] is True
    assert results[0][0] == results[1][0] == 0
