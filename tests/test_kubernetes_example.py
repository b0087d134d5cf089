"""examples/kubernetes: the image's `k6` shim runs k6host for the commands
k6-operator uses, on the example test; the manifest and the Dockerfile agree.
(Building the image needs a Docker daemon, which the suite does not assume.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "kubernetes"


def shim(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`k6 ...` as the image runs it: the shim first on PATH, k6host beside it."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([str(EXAMPLE / "k6"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_shim_runs_the_operators_commands(tmp_path: Path, echo) -> None:
    version = shim("version")
    assert version.returncode == 0 and version.stdout.startswith("k6host ")
    archive = tmp_path / "archive.tar"
    made = shim("archive", str(EXAMPLE / "test.js"), "-O", str(archive))
    assert made.returncode == 0, made.stderr
    inspected = shim("inspect", "--execution-requirements", str(archive))
    assert inspected.returncode == 0, inspected.stderr
    requirements = json.loads(inspected.stdout)
    assert requirements["maxVUs"] == 40 and requirements["totalDuration"] == "1m30s"
    ran = shim("run", "--quiet", str(archive), "--address=", "-u", "2", "-d", "1s", "--tag", "instance_id=1",
               "-e", f"TCP_ECHO_HOST={echo.host}", "-e", f"TCP_ECHO_PORT={echo.port}", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr  # the checks threshold held: the echo answered
    assert "✓ 'rate>0.99' rate=100.00%" in ran.stdout, ran.stdout


def test_manifest_uses_the_image_the_dockerfile_builds() -> None:
    manifest = (EXAMPLE / "testrun.yaml").read_text()
    dockerfile = (EXAMPLE / "Dockerfile").read_text()
    assert re.search(r"^kind: TestRun$", manifest, re.M) and re.search(r"^  parallelism: 4$", manifest, re.M)
    tag = re.search(r"docker build -f examples/kubernetes/Dockerfile -t (\S+) \.", dockerfile).group(1)
    assert manifest.count(f"image: {tag}") == 2  # initializer and runners
    assert re.search(r"file: (\S+)", manifest).group(1) == "test.js" and (EXAMPLE / "test.js").is_file()
    for source in re.findall(r"^COPY (.+) \S+$", dockerfile, re.M):
        for path in source.split():
            assert (REPO / path).exists(), path
    assert os.access(EXAMPLE / "k6", os.X_OK)
