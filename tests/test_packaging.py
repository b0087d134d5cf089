"""The wheel carries the JavaScript modules: a run from outside the checkout works."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

from conftest import REPO


def test_wheel_runs_an_example_outside_the_checkout(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("k6host-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    assert (site / "k6host" / "jsmodules" / "k6" / "x" / "tcp.js").is_file()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import k6host, sys; print(k6host.__file__)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60,
    )
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    run = subprocess.run(
        [sys.executable, "-m", "k6host", "run", "--with-echo", str(REPO / "examples" / "hello.js")],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "received: Hello, server!" in run.stderr
