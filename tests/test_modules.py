"""Module systems: ES modules and CommonJS scripts, relative imports, built-ins, script errors."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

SCRIPT_EXCEPTION = 107


def write(folder: Path, name: str, source: str) -> Path:
    """Write a file the script imports, creating its folders."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def location(name: str, line: int) -> re.Pattern[str]:
    """``file:///.../name:LINE:COL`` as it appears in a stack or syntax error."""
    return re.compile(rf"file:///\S*/{re.escape(name)}:{line}:\d+")


def assert_ok(run) -> None:
    assert run.exit_code == 0, run.output
    assert "level=error" not in run.output, run.output


# -- script kinds ------------------------------------------------------------------------------------

ESM_SCRIPT = """
import { check } from "k6"
export const options = { iterations: 1 }
export default function () { report(["esm", typeof check, __VU, __ITER]) }
"""
CJS_EXPORTS = """
const k6 = require("k6")
exports.options = { iterations: 1 }
exports.default = function () { report(["cjs", typeof k6.check, __VU, __ITER]) }
"""
CJS_MODULE_EXPORTS = """
const k6 = require("k6")
module.exports = {
  options: { iterations: 1 },
  default: function () { report(["cjs", typeof k6.check, __VU, __ITER]) },
}
"""


@pytest.mark.parametrize(
    ("name", "source", "kind"),
    [
        ("script.js", ESM_SCRIPT, "esm"),
        ("script.mjs", ESM_SCRIPT, "esm"),
        ("script.js", CJS_EXPORTS, "cjs"),
        ("script.js", CJS_MODULE_EXPORTS, "cjs"),
        ("script.cjs", CJS_EXPORTS, "cjs"),
        ("script.cjs", CJS_MODULE_EXPORTS, "cjs"),
    ],
    ids=["esm.js", "esm.mjs", "exports.js", "module.exports.js", "exports.cjs", "module.exports.cjs"],
)
def test_script_kinds_run_their_default_function(run_js, name, source, kind):
    run = run_js(source, name=name)
    assert_ok(run)
    assert run.report() == [kind, "function", 1, 0]


# The `hosts` option maps a made-up name to the echo server: connecting by that name proves the
# options were read.
CONNECT_BY_OPTION = """
async function connectByName(Socket) {
  const socket = new Socket()
  await socket.connect(__ENV.TCP_ECHO_PORT, "echo.options.test")
  report(socket.remote_ip)
  socket.destroy()
}
"""


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("script.js", """
         import { Socket } from "k6/x/tcp"
         export const options = { hosts: { "echo.options.test": "127.0.0.1" } }
         export default () => connectByName(Socket)
         """),
        ("script.js", """
         const { Socket } = require("k6/x/tcp")
         exports.options = { hosts: { "echo.options.test": "127.0.0.1" } }
         exports.default = () => connectByName(Socket)
         """),
        ("script.cjs", """
         const { Socket } = require("k6/x/tcp")
         module.exports = { options: { hosts: { "echo.options.test": "127.0.0.1" } }, default: () => connectByName(Socket) }
         """),
    ],
    ids=["esm", "exports", "module.exports"],
)
def test_exported_options_are_honoured(run_js, name, source):
    run = run_js(CONNECT_BY_OPTION + textwrap.dedent(source), name=name)
    assert_ok(run)
    assert run.report() == "127.0.0.1"


def test_export_clause_as_default(run_js):
    run = run_js("""
    function iteration() { report("via export clause") }
    export { iteration as default }
    """)
    assert_ok(run)
    assert run.report() == "via export clause"


def test_async_default_function_runs_to_completion(run_js):
    run = run_js("""
    export default async function () {
      await null
      report(await Promise.resolve("awaited"))
    }
    """)
    assert_ok(run)
    assert run.report() == "awaited"


# -- the script's own relative imports ------------------------------------------------------------


def test_esm_script_imports_esm_libs_with_nested_relative_imports(run_js, tmp_path):
    write(tmp_path, "shared.js", 'export const shared = "shared"\n')
    write(tmp_path, "lib/inner/leaf.mjs", 'export default "leaf"\n')
    write(tmp_path, "lib/x.js", """
    import { shared } from "../shared.js"
    import leaf from "./inner/leaf.mjs"
    export const parts = [shared, leaf]
    export default function name() { return "x" }
    """)
    run = run_js("""
    import name, { parts } from "./lib/x.js"
    export default function () { report([name(), ...parts]) }
    """)
    assert_ok(run)
    assert run.report() == ["x", "shared", "leaf"]


def test_esm_script_requires_and_imports_cjs_libs(run_js, tmp_path):
    write(tmp_path, "lib/helper.js", "exports.twice = (n) => n * 2\n")
    write(tmp_path, "lib/start.js", "module.exports = 40\n")
    write(tmp_path, "lib/counter.cjs", 'module.exports = { start: require("./start.js") }\n')
    run = run_js("""
    import counter from "./lib/counter.cjs"
    const helper = require("./lib/helper.js")
    export default function () { report(helper.twice(counter.start) + 2) }
    """)
    assert_ok(run)
    assert run.report() == 82


def test_require_inside_an_esm_lib_resolves_from_the_lib(run_js, tmp_path):
    # As in k6: a relative require() is resolved from the file that calls it, not the main script.
    write(tmp_path, "y.js", 'module.exports = "y next to the script"\n')
    write(tmp_path, "lib/y.js", 'module.exports = "y next to the lib"\n')
    write(tmp_path, "lib/x.js", 'const y = require("./y.js")\nexport const got = y\n')
    run = run_js("""
    import { got } from "./lib/x.js"
    export default function () { report(got) }
    """)
    assert_ok(run)
    assert run.report() == "y next to the lib"


def test_cjs_script_requires_cjs_libs_with_nested_relative_requires(run_js, tmp_path):
    write(tmp_path, "top.js", 'module.exports = "top"\n')
    write(tmp_path, "lib/deep/leaf.cjs", 'exports.name = "leaf"\n')
    write(tmp_path, "lib/a.js", """
    const leaf = require("./deep/leaf.cjs")
    const top = require("../top.js")
    module.exports = { parts: ["a", leaf.name, top] }
    """)
    run = run_js("""
    const a = require("./lib/a.js")
    exports.default = function () { report(a.parts) }
    """, name="script.cjs")
    assert_ok(run)
    assert run.report() == ["a", "leaf", "top"]


def test_a_lib_is_evaluated_once_however_often_it_is_required(run_js, tmp_path):
    write(tmp_path, "lib/once.js", "globalThis.loads = (globalThis.loads || 0) + 1\nexports.same = {}\n")
    run = run_js("""
    const first = require("./lib/once.js")
    const second = require("./lib/../lib/once.js")
    exports.default = function () { report([globalThis.loads, first === second]) }
    """)
    assert_ok(run)
    assert run.report() == [1, True]


def test_missing_relative_import_names_the_file(run_js):
    run = run_js("""
    import x from "./lib/not-there.js"
    export default function () {}
    """)
    assert run.exit_code == SCRIPT_EXCEPTION, run.output
    assert "not-there.js" in run.output


# -- built-in modules: every way in gives the same objects ---------------------------------------

BUILTINS = [("k6/x/tcp", "Socket"), ("k6", "check"), ("k6/execution", "test"), ("k6/timers", "setTimeout")]


@pytest.mark.parametrize(("module", "member"), BUILTINS)
def test_builtin_named_default_and_require_are_identical_in_esm(run_js, module, member):
    run = run_js(f"""
    import {{ {member} as named }} from "{module}"
    import whole from "{module}"
    import * as namespace from "{module}"
    const required = require("{module}")
    export default function () {{
      report([typeof named, named === whole.{member}, named === required.{member}, named === namespace.{member}])
    }}
    """, name="script.mjs")
    assert_ok(run)
    assert run.report()[1:] == [True, True, True]
    assert run.report()[0] in ("function", "object")


@pytest.mark.parametrize(("module", "member"), BUILTINS)
def test_builtin_is_identical_across_esm_script_and_cjs_lib(run_js, tmp_path, module, member):
    write(tmp_path, "lib/via-require.cjs", f'module.exports = require("{module}")\n')
    write(tmp_path, "lib/via-import.mjs", f'export {{ {member} }} from "{module}"\n')
    run = run_js(f"""
    import {{ {member} as named }} from "{module}"
    import viaRequire from "./lib/via-require.cjs"
    import {{ {member} as viaImport }} from "./lib/via-import.mjs"
    export default function () {{
      report([named !== undefined, named === viaRequire.{member}, named === viaImport])
    }}
    """)
    assert_ok(run)
    assert run.report() == [True, True, True]


@pytest.mark.parametrize(("module", "member"), BUILTINS)
def test_builtin_is_identical_across_requires_in_cjs(run_js, tmp_path, module, member):
    write(tmp_path, "lib/again.js", f'module.exports = require("{module}")\n')
    run = run_js(f"""
    const first = require("{module}")
    const again = require("./lib/again.js")
    exports.default = function () {{
      report([first.{member} !== undefined, first === again, first.{member} === require("{module}").{member}])
    }}
    """, name="script.cjs")
    assert_ok(run)
    assert run.report() == [True, True, True]


def test_socket_from_each_import_form_constructs_working_sockets(run_js):
    run = run_js("""
    import { Socket } from "k6/x/tcp"
    import tcp from "k6/x/tcp"
    const required = require("k6/x/tcp")
    export default function () {
      report([new Socket(), new tcp.Socket(), new required.Socket()].map((s) => s.ready_state))
    }
    """)
    assert_ok(run)
    assert run.report() == ["disconnected"] * 3


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("script.js", 'import { Socket } from "k6/x/nope"\nexport default function () {}\n'),
        ("script.js", 'import nope from "k6/x/nope"\nexport default function () {}\n'),
        ("script.js", 'const nope = require("k6/x/nope")\nexports.default = function () {}\n'),
        ("script.mjs", 'const nope = require("k6/x/nope")\nexport default function () {}\n'),
    ],
    ids=["esm-named", "esm-default", "cjs-require", "esm-require"],
)
def test_unknown_builtin_module_is_a_script_exception(run_js, name, source):
    run = run_js(source, name=name, helper=False)
    assert run.exit_code == SCRIPT_EXCEPTION, run.output
    assert "k6/x/nope" in run.output


# -- syntax errors ------------------------------------------------------------------------------------

SYNTAX_ERROR_ESM = 'import { check } from "k6"\n\nexport const broken = (1 +;\nexport default function () {}\n'
SYNTAX_ERROR_CJS = 'const k6 = require("k6")\n\nconst broken = (1 +;\nexports.default = function () {}\n'


@pytest.mark.parametrize(("name", "source"), [("script.js", SYNTAX_ERROR_ESM), ("script.js", SYNTAX_ERROR_CJS)],
                         ids=["esm", "cjs"])
def test_syntax_error_in_main_script(run_js, name, source):
    run = run_js(source, name=name, helper=False)
    assert run.exit_code == SCRIPT_EXCEPTION, run.output
    assert "SyntaxError" in run.output
    assert location("script.js", 3).search(run.output), run.output


@pytest.mark.parametrize(
    ("lib", "source", "script"),
    [
        ("lib/bad.js", SYNTAX_ERROR_ESM, 'import { broken } from "./lib/bad.js"\nexport default function () {}\n'),
        ("lib/bad.js", SYNTAX_ERROR_CJS, 'const bad = require("./lib/bad.js")\nexports.default = function () {}\n'),
        ("lib/bad.js", SYNTAX_ERROR_CJS, 'const bad = require("./lib/bad.js")\nexport default function () {}\n'),
    ],
    ids=["esm-imports-esm", "cjs-requires-cjs", "esm-requires-cjs"],
)
def test_syntax_error_in_imported_lib(run_js, tmp_path, lib, source, script):
    write(tmp_path, lib, source)
    run = run_js(script, helper=False)
    assert run.exit_code == SCRIPT_EXCEPTION, run.output
    assert "SyntaxError" in run.output
    assert location("bad.js", 3).search(run.output), run.output


# -- exceptions at run time -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        'import { check } from "k6"\n\nthrow new Error("init went wrong")\nexport default function () {}\n',
        'const k6 = require("k6")\n\nthrow new Error("init went wrong")\nexports.default = function () {}\n',
    ],
    ids=["esm", "cjs"],
)
def test_exception_in_init_code_is_a_script_exception_with_stack(run_js, source):
    run = run_js(source, helper=False)
    assert run.exit_code == SCRIPT_EXCEPTION, run.output
    assert "Error: init went wrong" in run.output
    assert location("script.js", 3).search(run.output), run.output


def test_exception_in_lib_init_code_names_the_lib(run_js, tmp_path):
    write(tmp_path, "lib/throws.js", 'exports.a = 1\n\nthrow new Error("lib init failed")\n')
    run = run_js('import x from "./lib/throws.js"\nexport default function () {}\n', helper=False)
    assert run.exit_code == SCRIPT_EXCEPTION, run.output
    assert "lib init failed" in run.output
    assert location("throws.js", 3).search(run.output), run.output


@pytest.mark.parametrize(
    "source",
    [
        'export default function () {\n  report("before")\n  throw new Error("iteration went wrong")\n}\n',
        'exports.default = function () {\n  report("before")\n  throw new Error("iteration went wrong")\n}\n',
    ],
    ids=["esm", "cjs"],
)
def test_exception_in_default_function_ends_the_iteration_not_the_test(run_js, source):
    # k6 logs the error with its stack and still exits 0: an iteration error is not a test failure.
    run = run_js(source)
    assert run.exit_code == 0, run.output
    assert run.reported() == ["before"]
    assert "Error: iteration went wrong" in run.output
    assert location("script.js", 4).search(run.output), run.output  # line 4: run_js adds one line


def test_exception_thrown_in_a_lib_function_points_at_the_lib(run_js, tmp_path):
    write(tmp_path, "lib/boom.mjs", 'export function boom() {\n  throw new Error("deep trouble")\n}\n')
    run = run_js("""
    import { boom } from "./lib/boom.mjs"
    export default function () { boom() }
    """)
    assert run.exit_code == 0, run.output
    assert "Error: deep trouble" in run.output
    assert location("boom.mjs", 2).search(run.output), run.output


def test_rejected_async_default_function(run_js):
    run = run_js("""
    export default async function () {
      await new Promise((resolve) => setTimeout(resolve, 5))
      throw new Error("async went wrong")
    }
    """)
    assert run.exit_code == 0, run.output
    assert "Uncaught (in promise)" in run.output
    assert "async went wrong" in run.output


def test_unhandled_rejection_inside_sync_default_function(run_js):
    run = run_js("""
    export default function () {
      Promise.reject(new Error("nobody caught me"))
    }
    """)
    assert run.exit_code == 0, run.output
    assert "nobody caught me" in run.output


# -- require() of an ES module ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lib", "script"),
    [
        ("lib/esm.mjs", 'const lib = require("./lib/esm.mjs")\nexports.default = function () {}\n'),
        ("lib/esm.js", 'const lib = require("./lib/esm.js")\nexports.default = function () {}\n'),
        ("lib/esm.js", 'const lib = require("./lib/esm.js")\nexport default function () {}\n'),
    ],
    ids=["cjs-requires-mjs", "cjs-requires-esm-js", "esm-requires-esm-js"],
)
def test_require_of_es_module_fails_clearly(run_js, tmp_path, lib, script):
    write(tmp_path, lib, 'export const value = 1\n')
    run = run_js(script, helper=False)
    assert run.exit_code == SCRIPT_EXCEPTION, run.output
    assert re.search(r"require\(\)[^\n]*ES module", run.output, re.IGNORECASE), run.output
    assert Path(lib).name in run.output
