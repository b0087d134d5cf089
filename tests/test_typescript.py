"""TypeScript scripts (issue 14 item 7): k6host strips the types as k6 1.x does, with the
bundled sucrase (host/engine/vendor), and keeps the script's line numbers; compared with
the real k6 on the same .ts files."""

from __future__ import annotations

import re
import subprocess
import sys

from test_script_sources import k6, messages, needs_k6, ours

from k6host.engine import typescript
from k6host.engine.interpreter import ScriptError

LIB = """\
export interface Named {
  name: string;
  size?: number;
}
export type Pair<A, B> = [A, B];
export const twice = (n: number): number => n * 2;
export function named<T extends Named>(item: T): string {
  return item.name;
}
"""

MAIN = """\
import type { Named, Pair } from "./lib.ts";
import { twice, named, type Named as Also } from "./lib.ts";

interface Point {
  x: number;
  y: number;
}
enum Color { Red, Green = 5, Blue }
const enum Size { Small = "s", Large = "l" }
type Id = string | number;

class Counter<T> {
  private count: number = 0;
  constructor(public readonly label: string, private items: T[] = []) {}
  add(item: T): this {
    this.items.push(item);
    this.count++;
    return this;
  }
  get total(): number { return this.count; }
}

function first<T>(values: T[]): T | undefined {
  return values[0];
}

export const options = { vus: 1, iterations: 1 };

export default function (): void {
  const p = { x: 1, y: 2 } as Point;
  const id: Id = <string>"abc";
  const pair: Pair<number, string> = [twice(p.y), id];
  const item: Also = { name: "widget" } satisfies Named;
  const counter = new Counter<number>("c").add(1).add(2);
  const maybe = (first<Point>([]) as Point | undefined)?.x ?? "none";
  let later!: number;
  later = p.x!;
  console.log(JSON.stringify([pair, Color.Blue, Color[5], Size.Large, named(item), counter.label, counter.total,
    maybe, later]));
}
"""


def _write(tmp_path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)


def _compare(tmp_path, script: str):
    theirs = k6("run", "-q", "--no-summary", script, cwd=tmp_path)
    mine = ours("run", "-q", "--no-summary", script, cwd=tmp_path)
    return mine, theirs


@needs_k6
def test_typescript_script_and_module_run_as_in_k6(tmp_path):
    _write(tmp_path, {"lib.ts": LIB, "main.ts": MAIN})
    mine, theirs = _compare(tmp_path, "main.ts")
    assert mine.returncode == theirs.returncode == 0, mine.stderr + theirs.stderr
    assert messages(mine.stderr) == messages(theirs.stderr), mine.stderr
    assert messages(mine.stderr) == ['[[4,"abc"],6,"Green","l","widget","c",2,"none",1]']


@needs_k6
def test_javascript_importing_a_typescript_module_runs_as_in_k6(tmp_path):
    _write(tmp_path, {"lib.ts": LIB, "main.js": 'import { twice } from "./lib.ts"\n'
                      'import * as lib from "./lib.ts"\n'
                      'export default function () { console.log(twice(21), lib.named({ name: "n" })) }\n'})
    mine, theirs = _compare(tmp_path, "main.js")
    assert mine.returncode == theirs.returncode == 0, mine.stderr + theirs.stderr
    assert messages(mine.stderr) == messages(theirs.stderr) == ["42 n"]


def _stack_lines(stderr: str, name: str) -> list[int]:
    return [int(n) for n in re.findall(rf"{re.escape(name)}:(\d+):\d+", stderr)]


@needs_k6
def test_runtime_error_lines_are_the_typescript_lines_as_in_k6(tmp_path):
    lib = LIB + "export function fail(reason: string): never {\n  throw new Error(reason);\n}\n"
    main = MAIN.replace("import { twice, named,", "import { twice, named, fail,").replace(
        "  console.log(JSON.stringify([pair,", '  if (counter.total === 2) fail(<string>"boom");\n  console.log(JSON.stringify([pair,')
    _write(tmp_path, {"lib.ts": lib, "main.ts": main})
    mine, theirs = _compare(tmp_path, "main.ts")
    assert mine.returncode == theirs.returncode == 0, mine.stderr + theirs.stderr
    assert "Error: boom" in mine.stderr and "Error: boom" in theirs.stderr
    thrown = lib.splitlines().index("  throw new Error(reason);") + 1
    called = main.splitlines().index('  if (counter.total === 2) fail(<string>"boom");') + 1
    assert _stack_lines(theirs.stderr, "lib.ts") == _stack_lines(mine.stderr, "lib.ts") == [thrown], mine.stderr
    assert _stack_lines(theirs.stderr, "main.ts") == _stack_lines(mine.stderr, "main.ts") == [called], mine.stderr


def _where(stderr: str, name: str) -> str | None:
    found = re.search(rf"{re.escape(name)}: Line \d+:\d+", stderr)
    return found.group(0) if found else None


@needs_k6
def test_typescript_syntax_error_names_the_file_and_line_as_k6(tmp_path):
    _write(tmp_path, {"bad.ts": "const a: number = 1;\nlet x: number = ;\nexport default function (): void {}\n"})
    mine, theirs = _compare(tmp_path, "bad.ts")
    assert mine.returncode == theirs.returncode == 107, mine.stderr
    assert _where(theirs.stderr, "bad.ts") == _where(mine.stderr, "bad.ts") == "bad.ts: Line 2:16", mine.stderr
    assert "Traceback" not in mine.stderr


@needs_k6
def test_syntax_error_in_an_imported_typescript_module_names_that_module(tmp_path):
    _write(tmp_path, {"lib.ts": "export const n: number = 1;\n\nexport function f(: string) {}\n",
                      "main.ts": 'import { n } from "./lib.ts";\nexport default function (): void { console.log(n) }\n'})
    mine, theirs = _compare(tmp_path, "main.ts")
    assert mine.returncode == theirs.returncode == 107, mine.stderr
    assert _where(mine.stderr, "lib.ts") is not None, mine.stderr
    # the line as k6 names it (sucrase and esbuild may place the column differently)
    assert _where(mine.stderr, "lib.ts").split(":")[1] == _where(theirs.stderr, "lib.ts").split(":")[1] == " Line 3"
    assert "Traceback" not in mine.stderr


def test_mts_and_cts_are_typescript_too(tmp_path):
    # k6 1.1.0 strips only .ts; .mts and .cts are TypeScript files all the same.
    _write(tmp_path, {"lib.cts": "const size: number = 2;\nmodule.exports = { size };\n",
                      "main.mts": 'import lib from "./lib.cts";\nconst n: number = lib.size;\n'
                                  'export default function (): void { console.log(`size ${n as number}`) }\n'})
    mine = ours("run", "-q", "--no-summary", "main.mts", cwd=tmp_path)
    assert mine.returncode == 0, mine.stderr
    assert messages(mine.stderr) == ["size 2"]


def test_typescript_talks_to_the_echo_server(run_js):
    result = run_js("""\
        import { Socket } from "k6/x/tcp";
        import { check } from "k6";

        interface Reply { text: string; bytes: number }
        const HOST: string = __ENV.TCP_ECHO_HOST;
        const PORT: number = Number(__ENV.TCP_ECHO_PORT);

        export const options = { iterations: 2 };

        export default async function (): Promise<void> {
          const socket = new Socket();
          const reply = new Promise<Reply>((resolve, reject) => {
            socket.on("data", (data: ArrayBuffer) => {
              const bytes = new Uint8Array(data);
              resolve({ text: String.fromCharCode(...bytes), bytes: bytes.length });
            });
            socket.on("error", reject);
          });
          await socket.connect(PORT, HOST);
          await socket.write("typed hello" as string);
          const got: Reply = await reply;
          check(got, { "echoed": (r: Reply) => r.text === "typed hello" });
          report(got);
          socket.destroy();
        }
        """, name="echo.ts")
    assert result.exit_code == 0, result.output
    assert result.reported() == [{"text": "typed hello", "bytes": 11}] * 2


def test_the_transform_keeps_lines_and_is_cached_per_content():
    source = "interface A {\n  a: number;\n}\nconst x: A = { a: 1 };\nthrow new Error(`${x.a}`);\n"
    code = typescript.strip_types(source, "file:///s.ts")
    assert code.count("\n") == source.count("\n")
    assert code.splitlines()[4] == source.splitlines()[4]
    assert typescript.strip_types(source, "file:///s.ts") is code  # no second transform


def test_a_syntax_error_is_a_script_error_with_file_line_and_column():
    try:
        typescript.strip_types("let ok = 1;\n\nconst a: = 2;\n", "file:///x.ts")
    except ScriptError as exc:
        assert exc.text == "GoError: file:///x.ts: Line 3:9 Unexpected token", exc.text
    else:
        raise AssertionError("no error for a TypeScript syntax error")


def test_transform_cost_is_small():
    """The bundle loads once per process and each file then costs milliseconds (measured
    in a fresh interpreter so that the first call includes loading the bundle)."""
    probe = (
        "import time; t = time.perf_counter()\n"
        "from k6host.engine import typescript\n"
        "imported = time.perf_counter()\n"
        "typescript.strip_types('const a: number = 1;', 'file:///a.ts'); first = time.perf_counter()\n"
        "for i in range(5): typescript.strip_types(f'const n{i}: number = {i};\\n' + 'let y: string = \"\";\\n' * 300,"
        " f'file:///b{i}.ts')\n"
        "later = (time.perf_counter() - first) / 5\n"
        "print(first - imported, later)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    first, later = map(float, out.stdout.split())
    assert first < 2.0 and later < 0.5, (first, later)
