"""The module API as an extension author uses it: the example extension
(examples/k6host-redis) pip-installed into a fresh virtualenv, modules from
--module-path folders, and what goes wrong with either. An extension gets the
treatment a built-in gets: metrics in the summary, errors with file:line,
events, interrupted iterations cleaned up."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import textwrap
import time
from pathlib import Path

import pytest

import k6host
from conftest import REPO, k6host as run_k6host
from respserver import RespServer

EXAMPLE = REPO / "examples" / "k6host-redis"


@pytest.fixture(scope="module")
def redis():
    server = RespServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtualenv that sees this one's packages (k6host and what it
    needs: there is no network here) but has its own site-packages, where the
    extensions get installed by pip."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    # addsitedir also reads that folder's .pth files (the editable k6host install).
    Path(site, "outer.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return root


def pip_install(venv: Path, package: Path) -> None:
    done = subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps", str(package)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr


def in_venv(venv: Path, *args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [venv / "bin" / "python", "-m", "k6host", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


@pytest.fixture(scope="module")
def installed(venv) -> Path:
    pip_install(venv, EXAMPLE)
    return venv


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_the_example_extension_installs_with_pip_and_its_script_runs(installed, redis, tmp_path):
    export = tmp_path / "summary.json"
    done = in_venv(installed, "run", "-q", "-e", f"REDIS_ADDR={redis.address}", "--summary-export", str(export),
                   str(EXAMPLE / "script.js"))
    assert done.returncode == 0, done.stdout + done.stderr
    metrics = json.loads(export.read_text())["metrics"]
    assert metrics["iterations"]["count"] == 20
    assert metrics["redis_commands"]["count"] == 80  # set, get, incr, del per iteration
    assert metrics["redis_errors"]["count"] == 0
    assert metrics["redis_command_duration"]["avg"] > 0
    assert metrics["checks"]["passes"] == 40 and metrics["checks"]["fails"] == 0
    # One connection per VU, kept across iterations, counted by the TCP machinery.
    assert metrics["tcp_sockets"]["count"] == 2
    assert "redis_commands" in done.stdout  # the text summary lists it too
    assert int(redis.data["k6host:counter"]) >= 20


def test_the_example_is_not_there_without_installing_it(redis, tmp_path):
    done = run_k6host("run", "-q", "-e", f"REDIS_ADDR={redis.address}", str(EXAMPLE / "script.js"))
    assert done.returncode == 107
    assert "k6/x/redis" in done.stderr


def test_the_example_runs_from_module_path_unpackaged(redis):
    done = run_k6host("run", "-q", "--module-path", str(EXAMPLE), "-e", f"REDIS_ADDR={redis.address}",
                      str(EXAMPLE / "script.js"))
    assert done.returncode == 0, done.stderr
    assert "redis_commands" in done.stdout


def test_module_path_from_the_environment(redis):
    done = run_k6host("run", "-q", "-e", f"REDIS_ADDR={redis.address}", str(EXAMPLE / "script.js"),
                      env={"K6HOST_MODULE_PATH": str(EXAMPLE)})
    assert done.returncode == 0, done.stderr


def _redis_script(tmp_path: Path, body: str, options: str = "{ iterations: 1 }") -> Path:
    return write(tmp_path / "script.js", f"""\
        import {{ Client }} from "k6/x/redis"
        export const options = {options}
        const client = new Client(__ENV.REDIS_ADDR)
        {textwrap.dedent(body)}
    """)


def test_an_error_reply_rejects_with_the_script_line(redis, tmp_path):
    script = _redis_script(tmp_path, """\
        export default async function () {
          await client.command("NOSUCH")
        }
    """)
    done = run_k6host("run", "-q", "--module-path", str(EXAMPLE), "-e", f"REDIS_ADDR={redis.address}", str(script))
    assert done.returncode == 0  # as in k6: a failed iteration is not a failed test
    assert "RedisError: ERR unknown command 'NOSUCH'" in done.stderr
    assert f"{script.name}:5" in done.stderr  # where the script awaited it


def test_a_python_mistake_in_a_call_is_a_script_error_with_its_line(redis, tmp_path):
    script = _redis_script(tmp_path, """\
        export default async function () {
          await client.command("SET", {not: "a string"})
        }
    """)
    done = run_k6host("run", "-q", "--module-path", str(EXAMPLE), "-e", f"REDIS_ADDR={redis.address}", str(script))
    assert done.returncode == 0
    assert "GoError: a command is a name and arguments that are strings or numbers" in done.stderr
    assert f"{script.name}:5" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_interrupted_iteration_closes_the_extensions_connections(redis, tmp_path):
    script = _redis_script(tmp_path, """\
        export default async function () {
          if (__ITER === 0) await client.command("HANG")  // never answered
          else await client.ping()
        }
    """, options='{ scenarios: { s: { executor: "per-vu-iterations", iterations: 3, maxDuration: "1s", gracefulStop: "0s" } } }')
    before = redis.connections
    done = run_k6host("run", "-q", "--module-path", str(EXAMPLE), "-e", f"REDIS_ADDR={redis.address}",
                      "--summary-export", str(tmp_path / "s.json"), str(script))
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "s.json").read_text())["metrics"]
    # The hung iteration was cut at maxDuration and its connection dropped.
    assert "iterations" not in metrics  # none completed
    assert redis.connections == before + 1
    deadline = time.monotonic() + 5
    while redis.open_connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert redis.open_connections == 0


def test_a_failed_iteration_leaves_a_usable_client(redis, tmp_path):
    script = _redis_script(tmp_path, """\
        import { check } from "k6"
        export default async function () {
          if (__ITER === 0) throw new Error("boom")
          check(await client.ping(), { pong: (r) => r === "PONG" })
        }
    """, options="{ iterations: 3 }")
    done = run_k6host("run", "-q", "--module-path", str(EXAMPLE), "-e", f"REDIS_ADDR={redis.address}",
                      "--summary-export", str(tmp_path / "s.json"), str(script))
    assert done.returncode == 0, done.stderr
    checks = json.loads((tmp_path / "s.json").read_text())["metrics"]["checks"]
    assert checks["passes"] == 2 and checks["fails"] == 0


def test_a_refused_connection_rejects_every_waiting_command(tmp_path):
    script = _redis_script(tmp_path, """\
        export default async function () {
          try {
            await client.ping()
          } catch (e) {
            console.log("caught", e.name, e.message.includes("connection refused"))
          }
        }
    """)
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = run_k6host("run", "-q", "--module-path", str(EXAMPLE), "-e", f"REDIS_ADDR=127.0.0.1:{port}", str(script))
    assert done.returncode == 0
    assert 'msg="caught RedisError true"' in done.stderr


# -- modules from a folder --------------------------------------------------------

GREET_PY = """\
    from pathlib import Path
    from k6host.modules.api import Instance, Module

    class GreetInstance(Instance):
        def functions(self):
            return {"hello": lambda name: f"hello, {name} from VU {self.vu.id}"}

    class Greet(Module):
        name = "k6/x/greet"
        javascript = Path(__file__).with_name("greet.js")
        exports = ("hello",)

        def instance(self, vu):
            return GreetInstance(self, vu)
"""
GREET_JS = """\
    exports.hello = (name) => native.call("hello", String(name))
"""
GREET_SCRIPT = """\
    import { hello } from "k6/x/greet"
    const greet = require("k6/x/greet")
    export default function () {
      console.log(hello("you"), greet.hello === hello)
    }
"""


@pytest.fixture
def greet(tmp_path) -> Path:
    folder = tmp_path / "mods"
    write(folder / "greet.py", GREET_PY)
    write(folder / "greet.js", GREET_JS)
    return folder


def test_a_single_file_module_from_module_path(greet, tmp_path):
    script = write(tmp_path / "s.js", GREET_SCRIPT)
    done = run_k6host("run", "-q", "--module-path", str(greet), str(script))
    assert done.returncode == 0, done.stderr
    assert 'msg="hello, you from VU 1 true"' in done.stderr


def test_module_path_in_the_python_api(greet, tmp_path):
    script = write(tmp_path / "s.js", GREET_SCRIPT)
    result = k6host.run(script, module_path=[greet])
    assert result.exit_code == 0
    assert result.console == ["hello, you from VU 1 true"]


@pytest.mark.parametrize("bad", ["a/string", 42, [42]])
def test_the_python_api_refuses_a_bad_module_path(bad, tmp_path):
    script = write(tmp_path / "s.js", "export default function () {}\n")
    with pytest.raises(TypeError, match="module_path"):
        k6host.run(script, module_path=bad)


def test_a_module_path_that_is_not_a_folder_is_a_warning(tmp_path):
    script = write(tmp_path / "s.js", "export default function () {}\n")
    done = run_k6host("run", "-q", "--module-path", str(tmp_path / "nope"), str(script))
    assert done.returncode == 0
    assert "module path" in done.stderr and "is not a folder" in done.stderr


def test_a_module_file_that_fails_to_import_is_named_in_a_warning(greet, tmp_path):
    write(greet / "broken.py", "import no_such_package_here\n")
    script = write(tmp_path / "s.js", GREET_SCRIPT)
    done = run_k6host("run", "-q", "--module-path", str(greet), str(script))
    assert done.returncode == 0, done.stderr  # greet still works
    assert "broken.py" in done.stderr and "No module named 'no_such_package_here'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_module_whose_javascript_is_missing_fails_the_import_with_exit_107(greet, tmp_path):
    (greet / "greet.js").unlink()
    script = write(tmp_path / "s.js", GREET_SCRIPT)
    done = run_k6host("run", "-q", "--module-path", str(greet), str(script))
    assert done.returncode == 107
    assert "k6/x/greet" in done.stderr and "greet.js" in done.stderr


def test_two_modules_claiming_one_name_stop_the_run(greet, tmp_path):
    write(greet / "tcp_again.py", GREET_PY.replace('"k6/x/greet"', '"k6/x/tcp"').replace("class Greet(", "class Again("))
    script = write(tmp_path / "s.js", "export default function () {}\n")
    done = run_k6host("run", "-q", "--module-path", str(greet), str(script))
    assert done.returncode == 107
    assert "module 'k6/x/tcp' is provided twice" in done.stderr
    assert "tcp_again.py" in done.stderr


def install_broken(venv: Path, tmp_path: Path, name: str, python_module: str) -> None:
    """Install a package whose entry point for ``name`` names a class its module lacks."""
    package = tmp_path / python_module
    write(package / "pyproject.toml", f"""\
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "{python_module.replace('_', '-')}"
        version = "1"
        [project.entry-points."k6host.modules"]
        "{name}" = "{python_module}:Missing"
        [tool.setuptools]
        py-modules = ["{python_module}"]
    """)
    write(package / f"{python_module}.py", "VALUE = 1\n")
    pip_install(venv, package)


def test_an_installed_module_that_fails_to_load(venv, tmp_path):
    install_broken(venv, tmp_path, "k6/x/broken", "k6host_broken_example")
    importing = write(tmp_path / "imports.js", 'import "k6/x/broken"\nexport default function () {}\n')
    done = in_venv(venv, "run", "-q", str(importing))
    assert done.returncode == 107
    assert "cannot load module 'k6/x/broken'" in done.stderr and "Missing" in done.stderr
    other = write(tmp_path / "other.js", "export default function () {}\n")
    done = in_venv(venv, "run", "-q", str(other))
    assert done.returncode == 0
    assert "level=warning" in done.stderr and "k6/x/broken" in done.stderr


def test_the_builtins_are_registered_as_extensions_are():
    from importlib.metadata import entry_points

    names = {entry.name for entry in entry_points(group="k6host.modules")}
    assert {"k6", "k6/execution", "k6/metrics", "k6/encoding", "k6/data", "k6/timers", "k6/x/tcp", "console", "open"} <= names


def _readme_block(opening: str) -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(opening)
    return text[text.index("\n", start) + 1:text.index("```", start + len(opening))]


def test_the_readme_module_example_works_as_written(tmp_path):
    folder = tmp_path / "mods"
    write(folder / "greet.py", _readme_block("```python\n# greet.py"))
    write(folder / "greet.js", _readme_block("```js\n// greet.js"))
    script = write(tmp_path / "s.js", """\
        import { hello } from "k6/x/greet"
        export default function () {
          console.log(hello("you"))
          hello("")
        }
    """)
    export = tmp_path / "summary.json"
    done = run_k6host("run", "-q", "--module-path", str(folder), "--summary-export", str(export), str(script))
    assert done.returncode == 0, done.stderr
    assert 'msg="hello, you from VU 1"' in done.stderr
    assert "GoError: hello() needs a name" in done.stderr and "s.js:4" in done.stderr
    assert json.loads(export.read_text())["metrics"]["greetings"]["count"] == 1


# -- what the review of the API found -------------------------------------------------


def test_a_client_works_again_after_an_abandoned_iteration_that_held_its_connection(redis, tmp_path):
    script = _redis_script(tmp_path, """\
        import { check } from "k6"
        export default async function () {
          const pong = await client.ping()
          if (__ITER === 0) {
            setTimeout(() => {}, 10000)  // left pending: the iteration is abandoned with the connection open
            throw new Error("boom")
          }
          check(pong, { pong: (r) => r === "PONG" })
        }
    """, options="{ iterations: 3 }")
    done = run_k6host("run", "-q", "--module-path", str(EXAMPLE), "-e", f"REDIS_ADDR={redis.address}",
                      "--summary-export", str(tmp_path / "s.json"), str(script))
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "s.json").read_text())["metrics"]
    assert metrics["checks"]["passes"] == 2, done.stderr
    assert metrics["tcp_sockets"]["count"] == 2  # the first connection was dropped with its iteration


def test_a_client_connects_again_when_the_server_closed_it(redis, tmp_path):
    script = _redis_script(tmp_path, """\
        import { check, sleep } from "k6"
        export default async function () {
          check(await client.ping(), { pong: (r) => r === "PONG" })
          if (__ITER === 0) {
            await client.command("CLOSEAFTER")  // the test server answers, then closes the connection
            sleep(0.2)  // its FIN arrives while the client sits idle
          }
        }
    """, options="{ iterations: 3 }")
    done = run_k6host("run", "-q", "--module-path", str(EXAMPLE), "-e", f"REDIS_ADDR={redis.address}",
                      "--summary-export", str(tmp_path / "s.json"), str(script))
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "s.json").read_text())["metrics"]
    assert metrics["checks"]["passes"] == 3, done.stderr
    assert metrics["tcp_sockets"]["count"] == 2


BROKEN_HOOKS = """\
    from pathlib import Path
    from k6host.modules.api import Instance, Module

    class BadInstance(Instance):
        def functions(self):
            return {"hold": lambda: self.vu.loop.call_later(30, lambda: None) and None, "sample": self.sample}

        def sample(self, name):
            self.vu.add_sample(name, 1, {})

        def abandon(self):
            raise KeyError("abandon went wrong")

        def close(self):
            raise KeyError("close went wrong")

    class Bad(Module):
        name = "k6/x/bad"
        javascript = Path(__file__).with_name("bad.js")
        exports = ("hold", "sample")
        metrics = {"bad_declared": "counter"}

        def instance(self, vu):
            return BadInstance(self, vu)
"""
BROKEN_JS = """\
    exports.hold = () => native.call("hold")
    exports.sample = (name) => native.call("sample", name)
"""


def test_a_module_whose_hooks_raise_is_named_and_the_run_goes_on(tmp_path):
    folder = tmp_path / "mods"
    write(folder / "bad.py", BROKEN_HOOKS)
    write(folder / "bad.js", BROKEN_JS)
    script = write(tmp_path / "s.js", """\
        import { hold, sample } from "k6/x/bad"
        export const options = { iterations: 2 }
        export default function () {
          sample("bad_declared")
          hold()  // a pending timer, and the iteration fails: it is abandoned
          throw new Error("boom")
        }
    """)
    done = run_k6host("run", "-q", "--module-path", str(folder), "--summary-export", str(tmp_path / "s.json"), str(script))
    assert done.returncode == 0, done.stderr
    assert "module 'k6/x/bad': abandon() failed: KeyError" in done.stderr
    assert "module 'k6/x/bad': close() failed: KeyError" in done.stderr
    assert "Traceback" not in done.stderr
    metrics = json.loads((tmp_path / "s.json").read_text())["metrics"]
    assert metrics["iterations"]["count"] == 2 and metrics["bad_declared"]["count"] == 2


def test_a_sample_of_an_undeclared_metric_is_a_script_error(tmp_path):
    folder = tmp_path / "mods"
    write(folder / "bad.py", BROKEN_HOOKS)
    write(folder / "bad.js", BROKEN_JS)
    script = write(tmp_path / "s.js", """\
        import { sample } from "k6/x/bad"
        export default function () {
          sample("never_declared")
        }
    """)
    done = run_k6host("run", "-q", "--module-path", str(folder), str(script))
    assert done.returncode == 0, done.stderr
    assert "metric 'never_declared' is not declared" in done.stderr and "s.js:3" in done.stderr
    assert "internal error" not in done.stderr


def test_the_runtimes_own_modules_are_not_importable(tmp_path):
    for source in ['import c from "console"\nexport default function () {}\n',
                   'const o = require("open")\nexport default function () {}\n']:
        script = write(tmp_path / "s.js", source)
        done = run_k6host("run", "-q", str(script))
        assert done.returncode == 107, (source, done.stderr)


def test_a_global_claimed_twice_stops_the_run(greet, tmp_path):
    write(greet / "timers_again.py", GREET_PY.replace('"k6/x/greet"', '"k6/x/mytimers"')
          .replace('exports = ("hello",)', 'exports = ("setTimeout",)\n        globals = ("setTimeout",)')
          .replace("class Greet(", "class MyTimers("))
    script = write(tmp_path / "s.js", "export default function () {}\n")
    done = run_k6host("run", "-q", "--module-path", str(greet), str(script))
    assert done.returncode == 107
    assert "the global 'setTimeout' is claimed by module 'k6/timers' and by 'k6/x/mytimers'" in done.stderr


def test_a_named_import_of_a_module_that_failed_says_why(venv, tmp_path):
    install_broken(venv, tmp_path, "k6/x/brokentwo", "k6host_broken_two")
    script = write(tmp_path / "named.js", 'import { Client } from "k6/x/brokentwo"\nexport default function () {}\n')
    done = in_venv(venv, "run", "-q", str(script))
    assert done.returncode == 107
    assert "cannot load module 'k6/x/brokentwo'" in done.stderr and "Missing" in done.stderr
    assert "Could not find export" not in done.stderr


def test_two_folders_may_hold_files_of_one_name(tmp_path):
    for folder, name in (("a", "k6/x/greeta"), ("b", "k6/x/greetb")):
        write(tmp_path / folder / "greet.py", GREET_PY.replace('"k6/x/greet"', f'"{name}"'))
        write(tmp_path / folder / "greet.js", GREET_JS)
    script_a = write(tmp_path / "a.js", 'import { hello } from "k6/x/greeta"\nexport default function () { console.log(hello("a")) }\n')
    script_b = write(tmp_path / "b.js", 'import { hello } from "k6/x/greetb"\nexport default function () { console.log(hello("b")) }\n')
    assert k6host.run(script_a, module_path=[tmp_path / "a"]).console == ["hello, a from VU 1"]
    assert k6host.run(script_b, module_path=[tmp_path / "b"]).console == ["hello, b from VU 1"]
    done = run_k6host("run", "-q", "--module-path", str(tmp_path / "a"), "--module-path", str(tmp_path / "b"), str(script_b))
    assert done.returncode == 0, done.stderr


def test_a_root_that_fails_on_the_options_is_named_and_fails_only_its_importers(greet, tmp_path):
    write(greet / "picky.py", GREET_PY.replace('"k6/x/greet"', '"k6/x/picky"').replace("class Greet(", "class Picky(")
          .replace("        def instance(self, vu):", "        def configure(self, options):\n            raise KeyError('picky')\n\n        def instance(self, vu):"))
    script = write(tmp_path / "s.js", GREET_SCRIPT)
    done = run_k6host("run", "-q", "--module-path", str(greet), str(script))
    assert done.returncode == 0, done.stderr
    assert "module 'k6/x/picky' could not take the options:" in done.stderr and "KeyError: 'picky'" in done.stderr
