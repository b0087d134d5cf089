"""`k6host archive` and `k6host inspect`, compared with k6 1.1.0 byte for byte
where k6 can read the same script, and archives run by both."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.test_restapi import command, needs_k6

LIB = 'export function greet(name) { return "hello " + name }\n'
MAIN = """
import { greet } from "./lib/greet.js"
const words = open("./data/words.txt").trim().split("\\n")
export const options = {
  scenarios: {
    main: { executor: "shared-iterations", vus: 2, iterations: 6, maxDuration: "30s" },
    late: { executor: "constant-vus", vus: 1, duration: "2s", startTime: "1s", exec: "late" },
  },
  thresholds: { iterations: ["count>0"], "checks{a:b}": [{ threshold: "rate>=0.5", abortOnFail: true }] },
}
export default function () { console.log(greet(words[__ITER % words.length]) + " " + (__ENV.WHO || "")) }
export function late() {}
"""
SIMPLE = """
import { greet } from "./lib/greet.js"
const words = open("./data/words.txt").trim().split("\\n")
export const options = { vus: 2, iterations: 4, thresholds: { iterations: ["count<100"] } }
export default function () { console.log(greet(words[__ITER % words.length]) + " " + (__ENV.WHO || "")) }
"""


def make_project(folder: Path, main: str = MAIN) -> Path:
    (folder / "lib").mkdir(parents=True)
    (folder / "data").mkdir()
    (folder / "lib" / "greet.js").write_text(LIB)
    (folder / "data" / "words.txt").write_text("alpha\nbeta\n")
    (folder / "main.js").write_text(main)
    return folder / "main.js"


def run(program: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*command(program), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@needs_k6
@pytest.mark.parametrize("requirements", [False, True], ids=["options", "execution-requirements"])
def test_inspect_script_prints_what_k6_prints(tmp_path: Path, requirements: bool) -> None:
    script = make_project(tmp_path)
    flags = ["--execution-requirements"] if requirements else []
    k6, host = run("k6", "inspect", *flags, str(script)), run("k6host", "inspect", *flags, str(script))
    assert k6.returncode == host.returncode == 0, host.stderr
    assert host.stdout == k6.stdout  # byte for byte: key order, nulls, Go's escaping of <, >
    document = json.loads(host.stdout)
    if requirements:
        assert document["maxVUs"] == 3 and document["totalDuration"] == "1m0s"  # maxDuration + gracefulStop
        assert set(document["scenarios"]) == {"main", "late"}


@needs_k6
def test_archives_of_both_hold_the_same_options_and_run_anywhere(tmp_path: Path) -> None:
    """Flags after the script, --flag=value, repeated --tag and -e go into the
    archive; each tool inspects and runs the other's archive from another folder."""
    script = make_project(tmp_path / "project", SIMPLE)
    flags = ["--vus=3", "--tag", "team=a", "--tag=run=7", "-e", "WHO=archived", "--quiet", "-i", "6"]
    archives = {}
    for program in ("k6", "k6host"):
        target = tmp_path / f"{program}.tar"
        done = run(program, "archive", str(script), "-O", str(target), *flags)
        assert done.returncode == 0, done.stderr
        archives[program] = target
    with tarfile.open(archives["k6host"]) as tar:
        names = set(tar.getnames())
        metadata = json.load(tar.extractfile("metadata.json"))
    here = str(tmp_path / "project")
    assert {"metadata.json", "data", f"file{here}/main.js", f"file{here}/lib/greet.js", f"file{here}/data/words.txt"} <= names
    with tarfile.open(archives["k6"]) as tar:
        k6_metadata = json.load(tar.extractfile("metadata.json"))
    assert metadata["options"] == k6_metadata["options"]
    assert metadata["env"] == k6_metadata["env"] == {"WHO": "archived"}
    assert metadata["filename"] == k6_metadata["filename"]
    assert metadata["options"]["tags"] == {"team": "a", "run": "7"} and metadata["options"]["vus"] == 3
    shutil.rmtree(tmp_path / "project")  # the archive alone must be enough
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    inspected = {(reader, maker): run(reader, "inspect", "--execution-requirements", str(archive)).stdout
                 for reader in ("k6", "k6host") for maker, archive in archives.items()}
    assert len(set(inspected.values())) == 1, inspected
    for reader in ("k6", "k6host"):
        for maker, archive in archives.items():
            done = run(reader, "run", "--no-summary", str(archive), "--address", "", cwd=elsewhere)
            assert done.returncode == 0, (reader, maker, done.stderr)
            lines = [line for line in done.stderr.splitlines() if "hello" in line]
            assert len(lines) == 6, (reader, maker, done.stderr)  # -i 6 from the archive
            assert all("archived" in line for line in lines)
            # words.txt from the archive: each VU's first iteration greets its first word
            assert all("hello alpha" in line or "hello beta" in line for line in lines)
            assert any("hello alpha" in line for line in lines)


@needs_k6
def test_bad_input_to_archive_and_inspect_exits_as_k6(tmp_path: Path) -> None:
    script = make_project(tmp_path)
    (tmp_path / "broken.js").write_text("export default function( {\n")
    (tmp_path / "junk.tar").write_text("junk\n")
    cases = [
        ["inspect", str(tmp_path / "missing.js")],
        ["inspect", str(tmp_path / "broken.js")],
        ["archive", str(tmp_path / "broken.js"), "-O", str(tmp_path / "x.tar")],
        ["archive", str(script), "-O", str(tmp_path / "no" / "such" / "x.tar")],
        ["inspect", str(tmp_path / "junk.tar")],
        ["inspect", str(script), "--vus", "many"],
    ]
    for args in cases:
        k6, host = run("k6", *args), run("k6host", *args)
        assert k6.returncode == host.returncode != 0, (args, k6.returncode, host.returncode, host.stderr)
        assert "Traceback" not in host.stderr and host.stderr.strip(), args
        assert host.stdout == "", args  # only JSON ever goes to stdout


def test_a_damaged_archive_is_refused_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        info = tarfile.TarInfo("data")
        tar.addfile(info)
    for args in (["inspect", str(bad)], ["run", str(bad)]):
        done = run("k6host", *args)
        assert done.returncode == 255 and "not a k6 archive" in done.stderr and "Traceback" not in done.stderr
    escaping = tmp_path / "escaping.tar"
    with tarfile.open(escaping, "w") as tar:
        data = json.dumps({"filename": "file:///x/main.js", "options": {}}).encode()
        info = tarfile.TarInfo("metadata.json")
        info.size = len(data)
        import io

        tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("file/x/main.js")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    done = run("k6host", "inspect", str(escaping))
    assert done.returncode == 255 and "cannot read the archive" in done.stderr, done.stderr


def test_run_only_flags_are_named_when_archiving(tmp_path: Path) -> None:
    script = make_project(tmp_path, SIMPLE)
    done = run("k6host", "archive", str(script), "-O", str(tmp_path / "a.tar"), "--with-echo", "--paused")
    assert done.returncode == 0
    assert "--with-echo has no effect on k6host archive" in done.stderr
    assert "--paused has no effect on k6host archive" in done.stderr


@needs_k6
def test_run_takes_k6_operators_flag_forms_after_the_script(tmp_path: Path) -> None:
    """Flags after the script, --flag=value, repeated --tag, --quiet and
    --no-usage-report, as the operator's runner passes them: same samples as k6."""
    script = make_project(tmp_path, SIMPLE)
    seen = {}
    for program in ("k6", "k6host"):
        out = tmp_path / f"{program}.json"
        done = run(program, "run", str(script), "--vus=3", "--iterations", "6", "--tag", "instance_id=2",
                   "--tag=testrun_name=t", "--quiet", "--no-usage-report", "--address=", "--no-summary",
                   f"--out=json={out}", cwd=tmp_path)
        assert done.returncode == 0, (program, done.stderr)
        samples = [json.loads(line) for line in out.read_text().splitlines()]
        iterations = [s for s in samples if s["type"] == "Point" and s["metric"] == "iterations"]
        seen[program] = (len(iterations), {(s["data"]["tags"]["instance_id"], s["data"]["tags"]["testrun_name"])
                                           for s in iterations})
    assert seen["k6"] == seen["k6host"] == (6, {("2", "t")})
