"""k6/crypto and the global crypto, compared with the real k6 1.1.0 on the same scripts.

Each test runs one script under k6 and under k6host and compares what both
report: digests, HMACs and error messages are k6's, never literals here.
Random output is compared by shape (type, length, format). Where k6 1.1.0
itself crashes (a Go panic) the test says so and checks k6host's error.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from test_k6_modules import K6, TRY, k6_run

from k6host.modules.k6 import crypto as crypto_module

ALGORITHMS = ["md4", "md5", "sha1", "sha256", "sha384", "sha512", "sha512_224", "sha512_256", "ripemd160"]
ENCODINGS = ["hex", "base64", "base64url", "base64rawurl", "binary"]


def _offered(algorithm: str) -> bool:
    try:
        hashlib.new(algorithm)
    except ValueError:
        return False
    return True


# What this machine's hashlib lacks (OpenSSL 3 keeps md4 in its legacy provider):
# k6host answers each use with an error naming the algorithm.
MISSING = [a for a in ALGORITHMS if not _offered(a)]

# JavaScript shared by the scripts: inputs of every kind k6 accepts, and a
# report-friendly view of results (an ArrayBuffer as its bytes).
INPUTS = TRY + """
const INPUTS = {
  ascii: "abc",
  empty: "",
  unicode: "hi?>\\u00fc\\u20ac ~\\ud83d\\ude00",
  loneSurrogate: "a\\ud800b",
  nul: "\\u0000x",
  long: "x".repeat(10000),
  buffer: new Uint8Array([0, 1, 2, 250, 255]).buffer,
  view: new Uint8Array(new Uint8Array([9, 97, 98, 99, 9]).buffer, 1, 3),
  clamped: new Uint8ClampedArray([255, 0, 128]),
}
function show(r) { return r instanceof ArrayBuffer ? { arrayBuffer: Array.from(new Uint8Array(r)) } : r }
const BOOM = { toString() { throw new Error("boom") } }
const HEX = { toString() { return "hex" } }
function outcome(f) { const r = attempt(f); return r[0] === "ok" ? ["ok", show(r[1])] : r }
"""

# Values k6 refuses as data or key, with the Go type its message names.
BAD_VALUES = (
    "[5, -3, 1.5, -0, NaN, 2 ** 60, true, null, undefined, {}, [1, 2], new Int8Array(2), new Uint16Array(2),"
    " new Int32Array(1), new Float64Array(1), new BigInt64Array(1), new DataView(new ArrayBuffer(2)), () => 1,"
    " 10n, new Date(0), new Map(), new Set(), new String('abc'), new Number(1), new Boolean(true), /x/]"
)


def both(run_js, tmp_path, source: str) -> tuple[object, object]:
    """What k6 and k6host report for ``source`` (one report each), both runs having ended with 0."""
    assert K6 is not None, "the real k6 (the test extra) is the oracle of these tests"
    k6 = k6_run(tmp_path, source)
    assert k6.exit_code == 0 and len(k6.reported) == 1, k6.output
    ours = run_js(source)
    assert ours.exit_code == 0, ours.output
    return k6.reported[0], ours.report()


def missing_error(algorithm: str) -> str:
    return f"GoError: {algorithm} is not available: this Python's hashlib"


def set_aside_missing(k6: dict, ours: dict) -> None:
    """Check the algorithms hashlib lacks here give k6host's error everywhere, then drop them."""
    for algorithm in MISSING:
        cells = ours.pop(algorithm)
        k6.pop(algorithm)
        assert cells and all(c[0] == "throw" and c[1].startswith(missing_error(algorithm)) for c in cells), cells


# == hashes ==========================================================================================


def test_every_hash_in_every_encoding_of_every_input_kind_matches_k6(run_js, tmp_path):
    k6, ours = both(run_js, tmp_path, INPUTS + f"""
    import crypto from "k6/crypto"
    export default function () {{
      const out = {{}}
      for (const algorithm of {json.dumps(ALGORITHMS)}) {{
        out[algorithm] = []
        for (const input of Object.values(INPUTS)) {{
          for (const encoding of {json.dumps(ENCODINGS)}) out[algorithm].push(outcome(() => crypto[algorithm](input, encoding)))
        }}
      }}
      report(out)
    }}
    """)
    set_aside_missing(k6, ours)
    assert ours == k6
    assert len(ours["sha256"]) == 9 * 5 and all(cell[0] == "ok" for cell in ours["sha256"])


def test_named_imports_and_require_reach_the_same_functions(run_js, tmp_path):
    k6, ours = both(run_js, tmp_path, """
    import { sha256, createHash, hmac, randomBytes } from "k6/crypto"
    import * as all from "k6/crypto"
    const required = require("k6/crypto")
    export default function () {
      report([sha256("abc", "hex"), required.sha256("abc", "base64"), createHash("sha1").digest("hex"),
              hmac("md5", "k", "d", "hex"), randomBytes(2).byteLength,
              Object.keys(required).sort(), Object.keys(all).filter((k) => k !== "default").sort()])
    }
    """)
    assert ours == k6


def test_a_hasher_takes_several_updates_and_digests_without_resetting(run_js, tmp_path):
    k6, ours = both(run_js, tmp_path, INPUTS + f"""
    import crypto from "k6/crypto"
    export default function () {{
      const out = {{}}
      for (const algorithm of {json.dumps([a for a in ALGORITHMS if a not in MISSING])}) {{
        const h = crypto.createHash(algorithm)
        const other = crypto.createHash(algorithm)
        const steps = [Object.keys(h).sort()]
        for (const input of Object.values(INPUTS)) {{
          steps.push(h.update(input))
          other.update("interleaved")
          steps.push(h.digest("hex"))
        }}
        for (const encoding of {json.dumps(ENCODINGS)}) steps.push(show(h.digest(encoding)))
        steps.push(other.digest("base64"))
        out[algorithm] = steps
      }}
      report(out)
    }}
    """)
    assert ours == k6


# == HMAC ============================================================================================


def test_hmac_for_each_algorithm_key_and_encoding_matches_k6(run_js, tmp_path):
    k6, ours = both(run_js, tmp_path, INPUTS + f"""
    import crypto from "k6/crypto"
    const KEYS = ["key", "", "k".repeat(300), new Uint8Array([0, 255, 7]).buffer, new Uint8Array([1, 2, 3, 4]).subarray(1),
                  "\u00fc\u20ac"]
    export default function () {{
      const out = {{}}
      for (const algorithm of {json.dumps(ALGORITHMS)}) {{
        out[algorithm] = []
        for (const key of KEYS) {{
          for (const encoding of {json.dumps(ENCODINGS)}) {{
            out[algorithm].push(outcome(() => crypto.hmac(algorithm, key, INPUTS.unicode, encoding)))
          }}
          for (const data of [INPUTS.buffer, INPUTS.view, INPUTS.empty]) {{
            out[algorithm].push(outcome(() => crypto.hmac(algorithm, key, data, "hex")))
          }}
          out[algorithm].push(outcome(() => {{
            const h = crypto.createHMAC(algorithm, key)
            h.update("part one, ")
            h.update(INPUTS.buffer)
            const first = h.digest("base64")
            h.update(INPUTS.clamped)
            return [first, h.digest("hex"), show(h.digest("binary"))]
          }}))
        }}
      }}
      report(out)
    }}
    """)
    set_aside_missing(k6, ours)
    assert ours == k6


# == hexEncode, randomBytes ===========================================================================


def test_hex_encode_matches_k6(run_js, tmp_path):
    k6, ours = both(run_js, tmp_path, INPUTS + """
    import { hexEncode } from "k6/crypto"
    export default function () {
      report(Object.values(INPUTS).map((input) => outcome(() => hexEncode(input))))
    }
    """)
    assert ours == k6


def test_random_bytes_gives_an_array_buffer_of_the_size_asked(run_js, tmp_path):
    k6, ours = both(run_js, tmp_path, """
    import { randomBytes } from "k6/crypto"
    export default function () {
      const sizes = [1, 5, 1024, 1.9, "3", 65536 * 4]
      const shapes = sizes.map((n) => {
        const b = randomBytes(n)
        return [Object.prototype.toString.call(b), b instanceof ArrayBuffer, b.byteLength]
      })
      const big = new Uint8Array(randomBytes(4096))
      const a = new Uint8Array(randomBytes(32)), b = new Uint8Array(randomBytes(32))
      report([shapes, new Set(big).size > 200, a.some((v, i) => v !== b[i])])
    }
    """)
    assert ours == k6
    assert ours[1:] == [True, True]


# == the global crypto ================================================================================


def test_global_crypto_fills_integer_arrays_and_makes_v4_uuids(run_js, tmp_path):
    k6, ours = both(run_js, tmp_path, """
    const atInit = [typeof crypto, typeof crypto.randomUUID(), crypto.getRandomValues(new Uint8Array(3)).length]
    const KINDS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array]
    const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
    export default function () {
      const kinds = KINDS.map((Kind) => {
        const a = new Kind(64)
        const r = crypto.getRandomValues(a)
        return [Kind.name, r === a, r.length, a.some((v) => v !== 0)]
      })
      const limits = [crypto.getRandomValues(new Uint8Array(65536)).length, crypto.getRandomValues(new Uint8Array(0)).length,
                      crypto.getRandomValues(new Uint32Array(65536)).length]
      const view = new Uint8Array(new Uint8Array(16).buffer, 4, 8)
      crypto.getRandomValues(view)
      const whole = new Uint8Array(view.buffer)
      const outside = [...whole.subarray(0, 4), ...whole.subarray(12)]
      const uuids = Array.from({ length: 100 }, () => crypto.randomUUID())
      const unbound = crypto.getRandomValues, unboundUUID = crypto.randomUUID
      report({
        atInit, kinds, limits, outside,
        keys: Object.keys(crypto).filter((k) => k !== "subtle" && k !== "CryptoKey"),
        uuids: [uuids.every((u) => UUID.test(u)), new Set(uuids).size],
        unbound: [unbound(new Int16Array(2)).length, UUID.test(unboundUUID())],
        arity: [crypto.getRandomValues.length, crypto.randomUUID.length],
      })
    }
    """)
    assert ours == k6
    assert ours["uuids"] == [True, 100] and all(kind[3] for kind in ours["kinds"])


def test_crypto_subtle_is_refused_with_an_error_that_names_it(run_js):
    run = run_js(TRY + """
    export default function () {
      report([attempt(() => crypto.subtle.digest("SHA-256", new Uint8Array(1))), Object.keys(crypto)])
    }
    """)
    assert run.report() == [
        ["throw", "Error: crypto.subtle (WebCrypto's SubtleCrypto) is not supported by k6host"],
        ["getRandomValues", "randomUUID"],
    ], run.output


# == bad input ========================================================================================


def test_hash_functions_refuse_other_types_and_unknown_encodings_as_k6_does(run_js, tmp_path):
    k6, ours = both(run_js, tmp_path, INPUTS + f"""
    import crypto from "k6/crypto"
    export default function () {{
      const out = {{}}
      for (const algorithm of {json.dumps([a for a in ALGORITHMS if a not in MISSING])}) {{
        out[algorithm] = {BAD_VALUES}.map((v) => outcome(() => crypto[algorithm](v, "hex")))
        for (const encoding of ["HEX", "", "utf8", "base64raw", "nope", undefined, null, 5, {{}}]) {{
          out[algorithm].push(outcome(() => crypto[algorithm]("abc", encoding)))
        }}
        out[algorithm].push(outcome(() => crypto[algorithm]("abc")))
        out[algorithm].push(outcome(() => crypto[algorithm](5, "nope")))  // the input is checked first
      }}
      report(out)
    }}
    """)
    assert ours == k6
    assert ours["sha1"][0] == ["throw", "GoError: sha1 failed: invalid type int64, expected string, []byte or ArrayBuffer"]


def test_hmac_and_create_hmac_refuse_bad_input_in_k6s_order(run_js, tmp_path):
    k6, ours = both(run_js, tmp_path, INPUTS + f"""
    import crypto from "k6/crypto"
    export default function () {{
      report({{
        algorithms: ["nope", "SHA256", "sha-256", "", undefined, null, 5].map((a) => [
          outcome(() => crypto.hmac(a, "k", "d", "hex")), outcome(() => crypto.createHMAC(a, "k")),
        ]),
        keys: {BAD_VALUES}.map((k) => [outcome(() => crypto.hmac("sha256", k, "d", "hex")),
                                       outcome(() => crypto.createHMAC("sha256", k))]),
        data: {BAD_VALUES}.map((d) => outcome(() => crypto.hmac("sha256", "k", d, "hex"))),
        encodings: ["HEX", "", "nope", undefined, null].map((e) => outcome(() => crypto.hmac("sha256", "k", "d", e))),
        order: [outcome(() => crypto.hmac("nope", 5, 5, "nope")), outcome(() => crypto.hmac("md5", 5, 5, "nope")),
                outcome(() => crypto.hmac("md5", "k", 5, "nope")), outcome(() => crypto.createHMAC("nope", 5))],
        // Arguments are converted before anything is hashed: a throwing toString() throws first.
        conversions: [outcome(() => crypto.hmac("md5", "k", "d", BOOM)), outcome(() => crypto.hmac(BOOM, 5, 5, "hex")),
                      outcome(() => crypto.md5("abc", BOOM)), outcome(() => crypto.createHash(BOOM)),
                      outcome(() => crypto.md5("abc", HEX))],
      }})
    }}
    """)
    assert ours == k6
    assert ours["algorithms"][0][0] == ["throw", "GoError: invalid algorithm: nope"]


def test_a_hasher_refuses_bad_updates_and_encodings_and_goes_on(run_js, tmp_path):
    k6, ours = both(run_js, tmp_path, INPUTS + f"""
    import crypto from "k6/crypto"
    export default function () {{
      const h = crypto.createHash("sha256")
      const m = crypto.createHMAC("sha1", "key")
      const out = {BAD_VALUES}.map((v) => [outcome(() => h.update(v)), outcome(() => m.update(v))])
      out.push(outcome(() => h.update()))
      out.push(["HEX", "", "nope", undefined, null, 5].map((e) => [outcome(() => h.digest(e)), outcome(() => m.digest(e))]))
      out.push(outcome(() => h.digest()))
      h.update("still usable")
      m.update("still usable")
      out.push([h.digest("hex"), m.digest("hex")])
      report(out)
    }}
    """)
    assert ours == k6


def test_create_hash_with_an_unknown_algorithm_is_an_error_where_k6_1_1_0_crashes(run_js, tmp_path):
    source = TRY + """
    import crypto from "k6/crypto"
    export default function () {
      report(["nope", "SHA256", "", undefined].map((a) => attempt(() => crypto.createHash(a))))
    }
    """
    assert K6 is not None
    k6 = k6_run(tmp_path, source)
    # k6 1.1.0 dereferences a nil hash (crypto.go, createHash): the whole run dies.
    assert k6.exit_code != 0 and "nil pointer dereference" in k6.output and not k6.reported, k6.output
    run = run_js(source)
    assert run.report() == [
        ["throw", "GoError: invalid algorithm: nope"], ["throw", "GoError: invalid algorithm: SHA256"],
        ["throw", "GoError: invalid algorithm: "], ["throw", "GoError: invalid algorithm: "],
    ], run.output
    assert run.exit_code == 0, run.output


@pytest.mark.parametrize("algorithm", MISSING or ["md4"])
def test_an_algorithm_hashlib_lacks_is_an_error_naming_it(run_js, algorithm):
    if algorithm not in MISSING:
        pytest.skip(f"this Python's hashlib offers {algorithm}: the comparisons with k6 cover it")
    run = run_js(TRY + f"""
    import crypto from "k6/crypto"
    export default function () {{
      report([attempt(() => crypto.{algorithm}("abc", "hex")), attempt(() => crypto.createHash("{algorithm}")),
              attempt(() => crypto.hmac("{algorithm}", "k", "d", "hex")), attempt(() => crypto.createHMAC("{algorithm}", "k"))])
    }}
    """)
    results = run.report()
    assert all(r[0] == "throw" and r[1].startswith(missing_error(algorithm)) for r in results), results


def test_hex_encode_refuses_other_types_as_k6_does(run_js, tmp_path):
    k6, ours = both(run_js, tmp_path, INPUTS + f"""
    import {{ hexEncode }} from "k6/crypto"
    export default function () {{
      report({BAD_VALUES}.map((v) => outcome(() => hexEncode(v))).concat([outcome(() => hexEncode())]))
    }}
    """)
    assert ours == k6


def test_random_bytes_refuses_sizes_below_one_as_k6_does(run_js, tmp_path):
    k6, ours = both(run_js, tmp_path, TRY + """
    import { randomBytes } from "k6/crypto"
    export default function () {
      report([0, -1, 0.5, "x", "", undefined, null, {}, NaN, -Infinity].map((n) => attempt(() => randomBytes(n))))
    }
    """)
    assert ours == k6
    assert ours[0] == ["throw", "GoError: invalid size"]


def test_random_bytes_refuses_more_than_a_vu_can_hold(run_js):
    # k6 would try to allocate it; here the size is refused before any byte is drawn.
    run = run_js(TRY + """
    import { randomBytes } from "k6/crypto"
    export default function () {
      report([2 ** 40, Infinity].map((n) => attempt(() => randomBytes(n))))
    }
    """)
    results = run.report()
    limit = crypto_module.MAX_RANDOM_BYTES
    assert results[0] == ["throw", f"GoError: invalid size: {2 ** 40} bytes is more than a VU's heap can hold ({limit})"]
    assert results[1][0] == "throw" and results[1][1].startswith("GoError: invalid size: "), results


def test_get_random_values_refuses_what_k6_refuses(run_js, tmp_path):
    k6, ours = both(run_js, tmp_path, TRY + """
    function failure(f) {
      try { f(); return "no error" } catch (e) { return [String(e), e.name, e.value === undefined ? null : e.value] }
    }
    export default function () {
      const bad = [5, "abc", null, undefined, {}, [1, 2], new ArrayBuffer(4), new DataView(new ArrayBuffer(4)),
                   new Float32Array(2), new Float64Array(2), new BigInt64Array(2), new BigUint64Array(2),
                   new Uint8Array(65537), new Int16Array(65537), new Uint32Array(65537), new Float32Array(70000)]
      report(bad.map((v) => failure(() => crypto.getRandomValues(v))))
    }
    """)
    assert ours == k6
    assert ours[12][0] == "GoError: QuotaExceededError: typedArray parameter is too big; maximum length is 65536"


def test_get_random_values_without_an_argument_is_a_type_error_where_k6_1_1_0_crashes(run_js, tmp_path):
    source = TRY + """
    export default function () { report(attempt(() => crypto.getRandomValues())) }
    """
    assert K6 is not None
    k6 = k6_run(tmp_path, source)
    assert k6.exit_code != 0 and "nil pointer dereference" in k6.output and not k6.reported, k6.output
    run = run_js(source)
    # What k6 (and k6host) give for an explicit undefined.
    assert run.report() == ["throw", "TypeError: Cannot convert undefined or null to object"], run.output


def test_random_uuid_ignores_arguments_as_k6_does(run_js, tmp_path):
    k6, ours = both(run_js, tmp_path, """
    const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
    export default function () {
      report([5, "x", null, {}].map((v) => UUID.test(crypto.randomUUID(v))))
    }
    """)
    assert ours == k6 == [True] * 4


def test_an_input_encoding_given_to_update_is_ignored_as_k6_does_with_a_warning(run_js, tmp_path):
    k6, ours = both(run_js, tmp_path, """
    import crypto from "k6/crypto"
    export default function () {
      const h = crypto.createHash("sha256")
      h.update("616263", "hex")
      h.update("ab", "base64")
      report([h.digest("hex"), crypto.sha256("616263ab", "hex")])
    }
    """)
    assert ours == k6 and ours[0] == ours[1]
    run = run_js("""
    import crypto from "k6/crypto"
    export default function () { const h = crypto.createHash("md5"); h.update("a", "hex"); h.update("b", "hex") }
    """)
    warnings = [m for m in run.messages if "takes no input encoding" in m]
    assert len(warnings) == 1, run.output


# == life cycle =======================================================================================


def test_hashers_the_script_drops_release_their_state(run_js, monkeypatch):
    held: list[int] = []
    close = crypto_module.CryptoInstance.close

    def record(self):
        held.append(len(self._hashes))
        close(self)

    monkeypatch.setattr(crypto_module.CryptoInstance, "close", record)
    run = run_js("""
    import crypto from "k6/crypto"
    const kept = crypto.createHash("sha1")
    export const options = { iterations: 200 }
    export default function () {
      for (let i = 0; i < 50; i++) crypto.createHash("sha256").update("x")
      const cycle = { h: crypto.createHMAC("md5", "k") }
      cycle.self = cycle
      kept.update("y")
      if (__ITER === 199) report(kept.digest("hex"))
    }
    """)
    assert run.exit_code == 0, run.output
    assert run.report() == hashlib.sha1(b"y" * 200).hexdigest()
    # 10,200 hashers were made; the kept one and a few not yet collected may remain.
    assert held and max(held) < 200, held
