"""k6-operator's part played on one machine, against the real k6 and k6host.

What the operator's jobs run (github.com/grafana/k6-operator, pkg/resources/jobs
and pkg/resources/containers): the initializer `k6 archive SCRIPT -O ARCHIVE`
then `k6 inspect --execution-requirements ARCHIVE` (stdout must be JSON alone);
N runners `k6 run --quiet [segment flags] ARCHIVE --address=HOST:6565 --paused
--tag instance_id=I --tag testrun_name=NAME`; the controller polls GET /v1/status
until every runner answers; the starter PATCHes /v1/status of each with
{"data":{"attributes":{"paused":false,"stopped":false},"id":"default","type":"status"}}.

Each runner here gets its own port on 127.0.0.1 and its execution segment, as
the operator gives them: runner I of N runs (I-1)/N:I/N of the sequence
0,1/N,...,1, so each owns its share of the VUs and iterations.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.test_restapi import Runner, command, needs_k6, runners

RUNNERS = 3
SCRIPT = """
import exec from "k6/execution"
export const options = {
  scenarios: { work: { executor: "per-vu-iterations", vus: 4, iterations: 3, maxDuration: "60s" } },
  thresholds: { iterations: ["count>=3"] },  // each runner's own share
}
export default function () { console.log("VU " + exec.vu.idInTest + " ITER " + exec.scenario.iterationInTest) }
"""
START = {"data": {"attributes": {"paused": False, "stopped": False}, "id": "default", "type": "status"}}


def segment_flags(index: int, total: int) -> list[str]:
    """k6-operator's --execution-segment/--execution-segment-sequence for runner `index` of `total`."""
    points = ",".join(["0"] + [f"{i}/{total}" for i in range(1, total)] + ["1"])
    start = "0" if index == 1 else f"{index - 1}/{total}"
    end = "1" if index == total else f"{index}/{total}"
    return [f"--execution-segment={start}:{end}", f"--execution-segment-sequence={points}"]


def play_operator(program: str, folder: Path) -> list[dict]:
    script = folder / "test.js"
    script.write_text(SCRIPT)
    archive = folder / "archive.tar"
    made = subprocess.run([*command(program), "archive", str(script), "-O", str(archive)],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    inspected = subprocess.run([*command(program), "inspect", "--execution-requirements", str(archive)],
                               capture_output=True, text=True, timeout=120)
    assert inspected.returncode == 0 and "level=error" not in inspected.stderr, inspected.stderr
    requirements = json.loads(inspected.stdout)  # stdout is JSON and nothing else
    assert requirements["maxVUs"] >= RUNNERS  # the operator refuses parallelism > maxVUs

    started = [
        Runner(program, archive, "--quiet", *segment_flags(i, RUNNERS), "--paused", "--tag", f"instance_id={i}",
               "--tag", "testrun_name=flow", "--out", f"json={folder / f'out-{i}.json'}")
        for i in range(1, RUNNERS + 1)
    ]
    results = []
    with runners(*started):
        for runner in started:  # the controller: every runner answers before any starts
            status = runner.wait_for_api()["data"]["attributes"]
            assert status["paused"] is True
        for runner in started:  # the starter
            runner.wait_for_status(4)
            code, document = runner.request("PATCH", "/v1/status", START)
            assert code == 200 and document["data"]["attributes"]["paused"] is False
        deadline = time.monotonic() + 90
        for index, runner in enumerate(started, 1):
            exit_code, _, err = runner.finish(timeout=max(1.0, deadline - time.monotonic()))
            seen = re.findall(r"VU (\d+) ITER (\d+)", err)
            tags = set()
            for line in (folder / f"out-{index}.json").read_text().splitlines():
                sample = json.loads(line)
                if sample.get("type") == "Point" and sample["metric"] == "iterations":
                    tags.add((sample["data"]["tags"].get("instance_id"), sample["data"]["tags"].get("testrun_name")))
            results.append({
                "exit": exit_code,
                "vus": sorted({int(vu) for vu, _ in seen}),
                "iterations": sorted(int(i) for _, i in seen),
                "tags": tags,
            })
    return results


@needs_k6
def test_k6_operator_flow_same_for_k6_and_k6host(tmp_path: Path) -> None:
    k6_folder, host_folder = tmp_path / "k6", tmp_path / "k6host"
    k6_folder.mkdir()
    host_folder.mkdir()
    k6, host = play_operator("k6", k6_folder), play_operator("k6host", host_folder)
    assert k6 == host  # per runner: exit code, its VU ids, its iterations, its tags
    for index, runner in enumerate(host, 1):
        assert runner["exit"] == 0
        assert runner["tags"] == {(str(index), "flow")}
    # Together the runners ran the whole test: each VU once, 4 VUs x 3 iterations.
    vus = [vu for runner in host for vu in runner["vus"]]
    assert sorted(vus) == [1, 2, 3, 4]
    assert sum(len(runner["iterations"]) for runner in host) == 12
    assert [len(runner["vus"]) for runner in host] == [2, 1, 1]  # k6's split of 4 VUs in thirds


def test_runner_that_is_stopped_by_the_operator_exits_103(tmp_path: Path) -> None:
    """The operator's stop: PATCH stopped:true to a runner still paused."""
    script = tmp_path / "test.js"
    script.write_text(SCRIPT)
    with runners(Runner("k6host", script, "--quiet", "--paused")) as (runner,):
        runner.wait_for_status(4)
        code, _ = runner.request("PATCH", "/v1/status", {"data": {"attributes": {"paused": False, "stopped": True},
                                                                   "id": "default", "type": "status"}})
        assert code == 200
        exit_code, _, err = runner.finish(timeout=30)
    assert exit_code == 103 and "ITER" not in err


@pytest.mark.parametrize("body", [b'{"data": {"attributes": {"paused": "no"}}}', b'[1, 2]', b''])
def test_malformed_start_requests_are_refused(tmp_path: Path, body: bytes) -> None:
    script = tmp_path / "test.js"
    script.write_text(SCRIPT)
    with runners(Runner("k6host", script, "--quiet", "--paused")) as (runner,):
        runner.wait_for_status(4)
        code, document = runner.request("PATCH", "/v1/status", body)
        assert code == 400 and document["errors"][0]["title"] == "Invalid data"
        assert runner.request("GET", "/v1/status")[1]["data"]["attributes"]["paused"] is True  # still waiting
