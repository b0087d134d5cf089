"""Bytes cross between Python and JavaScript beside dukpy's JSON boundary
(Engine.put_bytes / take_bytes): exact values, any size, wrong input refused."""

from __future__ import annotations

import pytest

from k6host.engine.interpreter import Engine, HostError
from k6host.engine.loader import ModuleMap
from k6host.modules.registry import Roots
from k6host.run import state
from k6host.vu.vu import _runtime_source

ALL_VALUES = bytes(range(256))


def _roots(script) -> Roots:
    return state.TestState(script=str(script), env={}, log=None).modules  # type: ignore[arg-type]


@pytest.fixture
def engine(tmp_path) -> Engine:
    script = tmp_path / "script.js"
    script.write_text("export default function () {}\n")
    modules = ModuleMap(str(script), _roots(script), lambda _name: None)
    engine = Engine(modules)
    modules.attach(engine)
    source, filename = _runtime_source()
    engine.eval(source, filename)
    return engine


def test_put_bytes_gives_javascript_the_exact_values(engine):
    big = ALL_VALUES * 16384  # 4 MiB
    engine.put_bytes([ALL_VALUES, b"", big])
    seen = engine.eval(
        "const box = __k6host.inbox;"
        "[box.length, box.every((u) => u instanceof Uint8Array), Array.from(box[0]), box[1].length,"
        " box[2].length, box[2].reduce((sum, b, i) => sum + (b === (i & 255) ? 1 : 0), 0)]"
    )
    assert seen == [3, True, list(range(256)), 0, len(big), len(big)]


def test_take_bytes_reads_a_view_where_it_starts_and_ends(engine):
    engine.eval(
        "const buffer = new Uint8Array(300).map((_, i) => i & 255).buffer;"
        "__k6host.outbox = new Uint8Array(buffer, 10, 256)"
    )
    assert engine.take_bytes() == bytes((i + 10) & 255 for i in range(256))


@pytest.mark.parametrize(
    "value", ["undefined", "null", "'text'", "[1, 2]", "new Int16Array(4)", "new ArrayBuffer(4)", "{ length: 3 }"]
)
def test_take_bytes_of_anything_but_a_uint8array_is_none(engine, value):
    engine.eval(f"__k6host.outbox = {value}")
    assert engine.take_bytes() is None
    # No exception is left behind in the context for the script to trip over.
    assert engine.eval("(function () { try { return 'fine' } catch (e) { return String(e) } })()") == "fine"


def test_take_bytes_of_a_detached_buffer_is_none(engine):
    engine.eval("const u = new Uint8Array(8); u.buffer.transfer(); __k6host.outbox = u")
    assert engine.take_bytes() is None
    assert engine.eval("1 + 1") == 2


def test_put_bytes_beyond_the_heap_is_refused_and_the_engine_lives_on(engine):
    with pytest.raises(HostError, match="out of memory"):
        engine.put_bytes([bytes(130 << 20)])  # the engine's heap is 128 MB
    engine.put_bytes([b"ok"])
    assert engine.eval("Array.from(__k6host.inbox[0])") == [111, 107]


def test_close_lets_go_and_the_engine_can_still_hand_over_bytes(engine):
    engine.put_bytes([b"a"])
    engine.close()
    engine.close()
    engine.put_bytes([b"b"])
    assert engine.eval("__k6host.inbox[0][0]") == ord("b")


def test_a_socket_writes_and_reads_every_byte_value(run_js):
    run = run_js(
        """
        import { Socket } from "k6/x/tcp"
        export default async function () {
          const socket = new Socket()
          const sent = new Uint8Array(3 * 65536 + 7).map((_, i) => (i * 7) & 255)
          const got = []
          let n = 0
          const done = new Promise((resolve) => socket.on("data", (d) => {
            got.push(d)
            n += d.length
            if (n >= sent.length) resolve()
          }))
          await socket.connect(__ENV.TCP_ECHO_PORT, __ENV.TCP_ECHO_HOST)
          await socket.write(sent.subarray(0, 5))
          await socket.write(sent.subarray(5).buffer.slice(5))
          await done
          const all = new Uint8Array(n)
          let at = 0
          for (const d of got) { all.set(d, at); at += d.length }
          report({ n, same: all.every((b, i) => b === sent[i]), read: socket.bytes_read, written: socket.bytes_written })
          socket.destroy()
        }
        """
    )
    assert run.exit_code == 0, run.output
    n = 3 * 65536 + 7
    assert run.report() == {"n": n, "same": True, "read": n, "written": n}


def test_writing_a_view_of_a_detached_buffer_rejects_and_the_socket_goes_on(run_js):
    run = run_js(
        """
        import { Socket } from "k6/x/tcp"
        export default async function () {
          const socket = new Socket()
          const echoed = new Promise((resolve) => socket.on("data", (d) => resolve(Array.from(d))))
          await socket.connect(__ENV.TCP_ECHO_PORT, __ENV.TCP_ECHO_HOST)
          const view = new Uint8Array(8)
          view.buffer.transfer()
          let error = null
          try { await socket.write(view) } catch (e) { error = String(e) }
          await socket.write(new Uint8Array([1, 2, 3]))
          report({ error, echoed: await echoed })
          socket.destroy()
        }
        """
    )
    assert run.exit_code == 0, run.output
    assert run.report() == {"error": "TypeError: ArrayBuffer is detached", "echoed": [1, 2, 3]}


def test_b64_of_a_view_encodes_only_its_bytes_and_decodes_back(run_js):
    run = run_js(
        """
        import { b64encode, b64decode } from "k6/encoding"
        export default function () {
          const all = new Uint8Array(256).map((_, i) => i)
          const view = all.subarray(250, 256)
          const text = b64encode(view)
          report([text, Array.from(new Uint8Array(b64decode(text))), b64decode(b64encode("héllo"), "std", "s")])
        }
        """
    )
    assert run.exit_code == 0, run.output
    assert run.report() == ["+vv8/f7/", [250, 251, 252, 253, 254, 255], "héllo"]


def test_bytes_before_the_runtime_is_loaded_are_refused(tmp_path):
    script = tmp_path / "script.js"
    script.write_text("export default function () {}\n")
    bare = Engine(ModuleMap(str(script), _roots(script), lambda _name: None))
    with pytest.raises(HostError, match="runtime is not loaded"):
        bare.put_bytes([b"x"])
    with pytest.raises(HostError, match="runtime is not loaded"):
        bare.take_bytes()
    assert bare.eval("typeof __k6host") == "undefined"  # and nothing was cached or left pending
