"""The wheel carries the JavaScript modules and the dashboard's assets: a run from outside the checkout works."""

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
    for asset in ("dashboard.html", "dashboard.js", "uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"):
        assert (site / "k6host" / "report" / "static" / asset).is_file(), asset
    # TypeScript support: the bundled sucrase, its licences and how it was built.
    vendor = site / "k6host" / "engine" / "vendor"
    for asset in ("sucrase.js", "sucrase.LICENSE", "ts-interface-checker.LICENSE", "README.md"):
        assert (vendor / asset).is_file(), asset

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
    # A TypeScript script runs from the wheel alone (its types stripped by the bundled sucrase).
    typed = elsewhere / "hello.ts"
    typed.write_text((REPO / "examples" / "hello.js").read_text().replace(
        "const HOST =", "interface Greeting { text: string }\nconst HOST: string ="))
    run = subprocess.run([sys.executable, "-m", "k6host", "run", "--with-echo", str(typed)],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "received: Hello, server!" in run.stderr
    # The dashboard's report is made from the wheel's own assets.
    report = subprocess.run(
        [sys.executable, "-m", "k6host", "run", "--with-echo", "-q", "--out", "web-dashboard=port=-1&export=r.html",
         str(REPO / "examples" / "hello.js")], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60,
    )
    assert report.returncode == 0, report.stderr
    assert "uPlot" in (elsewhere / "r.html").read_text()
