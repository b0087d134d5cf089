// The k6/x/tcp contract (../shared/API.md) for socket.write(): every byte
// value, string encodings, binary data and its views, and the writes that
// must be refused. An ES module with the .mjs extension, so the plugin's
// collection of .mjs files is exercised too.
//
// Each case writes to the session's echo server on a socket of its own and
// compares what comes back with the bytes expected on the wire.

import { check } from "k6"
import tcp from "k6/x/tcp"

const { Socket } = tcp
const HOST = __ENV.TCP_ECHO_HOST
const PORT = Number(__ENV.TCP_ECHO_PORT)

import { sleep, newSocket, bail, within, outcome } from "./lib/sockets.mjs"

function range(from, to) {
  const out = []
  for (let i = from; i < to; i++) out.push(i)
  return out
}

// Bytes received until `n` have arrived, or after `ms` whatever did arrive
// (so a short answer is reported as a mismatch, not a hang).
function received(socket, n, ms = 2000) {
  return new Promise((resolve) => {
    const bytes = []
    const timer = setTimeout(() => resolve(bytes), n === 0 ? Math.min(ms, 200) : ms)
    socket.on("data", (d) => {
      for (let i = 0; i < d.length; i++) bytes.push(d[i])
      if (bytes.length >= n) {
        clearTimeout(timer)
        resolve(bytes)
      }
    })
  })
}

async function connected() {
  const s = newSocket()
  await within(3000, "connect to the echo server", s.connect(PORT, HOST))
  return s
}

// Write `data` with `options` on a fresh socket; what the echo server sent back.
async function echoOf(data, options, expectedLength) {
  const s = await connected()
  const back = received(s, expectedLength)
  const [how, err] = await within(3000, "write", outcome(s.write(data, options)))
  if (how === "rejected") {
    s.destroy()
    return { rejected: String(err) }
  }
  const bytes = await back
  // A little longer, so that bytes beyond the expected ones are noticed.
  await sleep(20)
  s.destroy()
  return bytes
}

async function expectEcho(name, data, options, expected) {
  const got = await echoOf(data, options, expected.length)
  const ok = JSON.stringify(got) === JSON.stringify(expected)
  check(got, { [name]: () => ok })
  if (!ok) console.error(`${name}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`)
}

// -- every byte value ----------------------------------------------------------------

export async function testAllByteValuesRoundTrip() {
  const s = await connected()
  const all = new Uint8Array(range(0, 256))
  const back = received(s, 512, 3000)
  let resolvedTo = "not awaited"
  await s.write(all).then((v) => { resolvedTo = v })
  await s.write(all)
  const bytes = await back
  const expected = range(0, 256).concat(range(0, 256))
  check(bytes, {
    "write() resolves to undefined": () => resolvedTo === undefined,
    "received 512 bytes": (b) => b.length === 512,
    "bytes 0..255 come back unchanged, twice, in order": (b) => JSON.stringify(b) === JSON.stringify(expected),
    "bytes_written counts them": () => s.bytes_written === 512,
    "bytes_read counts them": () => s.bytes_read === 512,
  })
  s.destroy()
}

export async function testDataIsAUint8Array() {
  const s = await connected()
  const first = new Promise((resolve) => s.on("data", resolve))
  await s.write("abc")
  const d = await within(3000, "data", first)
  check(d, {
    "data listener gets a Uint8Array": (d) => d instanceof Uint8Array,
    "String.fromCharCode.apply reads it": (d) => String.fromCharCode.apply(null, new Uint8Array(d)).startsWith("a"),
  })
  s.destroy()
}

export async function testWritesKeepTheirOrder() {
  const s = await connected()
  const back = received(s, 9)
  // Not awaited one by one: the order on the wire is the order of the calls.
  await Promise.all([s.write("abc"), s.write(new Uint8Array([100, 101, 102])), s.write("676869", { encoding: "hex" })])
  const text = String.fromCharCode.apply(null, await back)
  check(text, { "successive writes arrive in call order": (t) => t === "abcdefghi" })
  s.destroy()
}

export async function testLargeWrite() {
  const s = await connected()
  const n = 1 << 20
  const big = new Uint8Array(n)
  for (let i = 0; i < n; i++) big[i] = (i * 7) & 255
  const back = received(s, n, 10000)
  await within(10000, "1 MiB write", s.write(big))
  const bytes = await back
  let same = bytes.length === n
  for (let i = 0; same && i < n; i++) same = bytes[i] === big[i]
  check(bytes, {
    "a 1 MiB write comes back whole and in order": () => same,
    "bytes_written is 1 MiB": () => s.bytes_written === n,
  })
  s.destroy()
}

// -- string encodings -------------------------------------------------------------------

export async function testUtf8IsTheDefault() {
  const utf8 = [0x68, 0xc3, 0xa9, 0x6c, 0x6c, 0x6f, 0x20, 0xe2, 0x82, 0xac, 0x20, 0xf0, 0x9f, 0x98, 0x80]
  await expectEcho("no options: utf8", "héllo € 😀", undefined, utf8)
  await expectEcho("{}: utf8", "héllo € 😀", {}, utf8)
  await expectEcho("encoding utf8", "héllo € 😀", { encoding: "utf8" }, utf8)
  await expectEcho("encoding utf-8", "héllo € 😀", { encoding: "utf-8" }, utf8)
  await expectEcho("encoding UTF-8 (case-insensitive)", "héllo € 😀", { encoding: "UTF-8" }, utf8)
  await expectEcho("empty string then nothing", "", undefined, [])
}

export async function testAsciiEncoding() {
  await expectEcho("ascii", "Hello, 123!", { encoding: "ascii" }, [72, 101, 108, 108, 111, 44, 32, 49, 50, 51, 33])
  await expectEcho("ASCII (case-insensitive)", "ok", { encoding: "ASCII" }, [111, 107])
}

export async function testBase64Encodings() {
  await expectEcho("base64, padded", "AAEC/w==", { encoding: "base64" }, [0, 1, 2, 255])
  await expectEcho("base64 with + and /", "+/8=", { encoding: "base64" }, [0xfb, 0xff])
  await expectEcho("base64 of text", "aGVsbG8=", { encoding: "BASE64" }, [104, 101, 108, 108, 111])
  await expectEcho("base64url, unpadded", "-_8", { encoding: "base64url" }, [0xfb, 0xff])
  await expectEcho("base64url, padded", "-_8=", { encoding: "base64url" }, [0xfb, 0xff])
  await expectEcho("base64url of four bytes", "AAEC_w", { encoding: "Base64URL" }, [0, 1, 2, 255])
}

export async function testHexEncoding() {
  await expectEcho("hex, lower case", "00ff10ab", { encoding: "hex" }, [0, 255, 16, 171])
  await expectEcho("hex, upper case digits", "00FF10AB", { encoding: "hex" }, [0, 255, 16, 171])
  await expectEcho("HEX (case-insensitive)", "68656c6c6f", { encoding: "HEX" }, [104, 101, 108, 108, 111])
}

export async function testBadEncodingsRejectAndCallTheErrorListener() {
  const cases = [
    ["unknown encoding latin2", "abc", { encoding: "latin2" }],
    ["unknown encoding binary", "abc", { encoding: "binary" }],
    ['"zzzz" as hex', "zzzz", { encoding: "hex" }],
    ['"not!!base64" as base64', "not!!base64", { encoding: "base64" }],
  ]
  for (const [name, data, options] of cases) {
    const s = await connected()
    const errors = []
    s.on("error", (e) => errors.push(e))
    const back = received(s, 1, 200)
    const [how, err] = await within(3000, name, outcome(s.write(data, options)))
    const bytes = await back
    check(err, {
      [`${name}: write rejects`]: () => how === "rejected",
      [`${name}: with a TCPError from write`]: (e) => e instanceof Error && e.name === "TCPError" && e.method === "write",
      [`${name}: error listener called`]: () => errors.length === 1,
      [`${name}: nothing sent`]: () => bytes.length === 0,
      [`${name}: connection stays open`]: () => s.ready_state === "open",
    })
    s.destroy()
  }
}

// -- binary data ---------------------------------------------------------------------------

export async function testArrayBufferAndTypedArrays() {
  await expectEcho("ArrayBuffer", new Uint8Array([1, 2, 3, 250]).buffer, undefined, [1, 2, 3, 250])
  await expectEcho("Uint8Array", new Uint8Array([0, 128, 255]), undefined, [0, 128, 255])
  await expectEcho("Int8Array", new Int8Array([-1, -128, 127]), undefined, [255, 128, 127])
  await expectEcho("Uint8ClampedArray", new Uint8ClampedArray([9, 8]), undefined, [9, 8])
  // The engine runs on a little-endian machine here, as do k6's.
  await expectEcho("Uint16Array: its bytes", new Uint16Array([0x0102, 0xa0b0]), undefined, [2, 1, 0xb0, 0xa0])
  await expectEcho("Uint32Array: its bytes", new Uint32Array([0x01020304]), undefined, [4, 3, 2, 1])
  const dv = new DataView(new ArrayBuffer(4))
  dv.setUint32(0, 0xdeadbeef)
  await expectEcho("DataView", dv, undefined, [0xde, 0xad, 0xbe, 0xef])
  await expectEcho("encoding is ignored for binary data", new Uint8Array([0x41, 0x42]), { encoding: "hex" }, [0x41, 0x42])
}

export async function testViewsSendOnlyTheirOwnBytes() {
  const whole = new Uint8Array(range(0, 16))
  await expectEcho("Uint8Array.subarray(4, 7)", whole.subarray(4, 7), undefined, [4, 5, 6])
  await expectEcho("new Uint8Array(buffer, 10, 2)", new Uint8Array(whole.buffer, 10, 2), undefined, [10, 11])
  await expectEcho("DataView(buffer, 2, 3)", new DataView(whole.buffer, 2, 3), undefined, [2, 3, 4])
  await expectEcho("Uint16Array(buffer, 8, 2)", new Uint16Array(whole.buffer, 8, 2), undefined, [8, 9, 10, 11])
  await expectEcho("empty view", whole.subarray(5, 5), undefined, [])
}

export async function testOtherDataTypesReject() {
  const bad = [
    ["a number", 42],
    ["null", null],
    ["undefined", undefined],
    ["a plain object", { a: 1 }],
    ["an array of numbers", [104, 105]],
    ["a boolean", true],
  ]
  for (const [name, data] of bad) {
    const s = await connected()
    s.on("error", () => {})
    let p
    try {
      p = s.write(data)
    } catch (e) {
      bail(`write(${name}) threw synchronously (${e}); it must return a rejected promise`)
    }
    const back = received(s, 1, 150)
    const [how, err] = await within(3000, `write(${name})`, outcome(p))
    const bytes = await back
    check(err, {
      [`write(${name}) rejects`]: () => how === "rejected",
      [`write(${name}): a TCPError or TypeError`]: (e) => e instanceof Error,
      [`write(${name}): nothing sent`]: () => bytes.length === 0,
    })
    s.destroy()
  }
}

// -- writes without a connection ---------------------------------------------------------

export async function testWriteBeforeConnectRejects() {
  const s = newSocket()
  let p
  try {
    p = s.write("too early")
  } catch (e) {
    bail(`write() before connect threw synchronously (${e}); it must return a rejected promise`)
  }
  const [how, err] = await within(3000, "write before connect", outcome(p))
  check(err, {
    "write before connect rejects": () => how === "rejected",
    "with a TCPError from write": (e) => e instanceof Error && e.name === "TCPError" && e.method === "write",
    'message says "no active connection"': (e) => e && /no active connection/.test(e.message),
    "nothing counted as written": () => s.bytes_written === 0,
  })
}

export async function testWriteWhileOpeningRejects() {
  const s = newSocket()
  const opening = s.connect(PORT, HOST)
  const [how, err] = await within(3000, "write while opening", outcome(s.write("not yet")))
  await within(3000, "connect", opening)
  check(err, {
    "write while opening rejects": () => how === "rejected",
    "with a TCPError": (e) => e instanceof Error && e.name === "TCPError",
  })
  s.destroy()
}

export async function testWriteAfterDestroyRejects() {
  const s = await connected()
  s.destroy()
  let p
  try {
    p = s.write("too late")
  } catch (e) {
    bail(`write() after destroy threw synchronously (${e}); it must return a rejected promise`)
  }
  const [how, err] = await within(3000, "write after destroy", outcome(p))
  check(err, {
    "write after destroy rejects": () => how === "rejected",
    "with a TCPError from write": (e) => e instanceof Error && e.name === "TCPError" && e.method === "write",
  })
}
