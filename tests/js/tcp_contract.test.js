// The k6/x/tcp contract (../shared/API.md) as JavaScript tests: connecting,
// the order of events, closing, listeners, errors, the idle timeout and the
// read-only properties. Writing and encodings are in tcp_write.test.mjs.
//
// Each exported test* function runs in a fresh VU (k6host's pytest plugin),
// against the session's echo server at __ENV.TCP_ECHO_HOST:TCP_ECHO_PORT.
// Every wait is bounded by within(), so a missing event fails the test with
// a message instead of running into the plugin's timeout.

import { check } from "k6"
import { Socket } from "k6/x/tcp"
import { sleep, newSocket, bail, within, outcome } from "./lib/sockets.mjs"

const HOST = __ENV.TCP_ECHO_HOST
const PORT = Number(__ENV.TCP_ECHO_PORT)
// Nothing listens on port 1 of the loopback interface here: connecting is refused.
const CLOSED_PORT = 1

function same(actual, expected) {
  return JSON.stringify(actual) === JSON.stringify(expected)
}

function expectEqual(actual, expected, what) {
  if (!same(actual, expected)) {
    bail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
  }
}

function collect(socket, n) {
  return new Promise((resolve, reject) => {
    const bytes = []
    socket.on("data", (d) => {
      bytes.push(...d)
      if (bytes.length >= n) resolve(bytes)
    })
    socket.on("error", reject)
  })
}

// -- connect ---------------------------------------------------------------------

export async function testConnectForms() {
  const forms = [
    ["connect(number, host)", (s) => s.connect(PORT, HOST)],
    ["connect(numeric string, host)", (s) => s.connect(String(PORT), HOST)],
    ["connect({ port, host })", (s) => s.connect({ port: PORT, host: HOST })],
    ["connect({ port: string, host })", (s) => s.connect({ port: String(PORT), host: HOST })],
    ["connect(port) means localhost", (s) => s.connect(PORT)],
    ["connect(port, null) means localhost", (s) => s.connect(PORT, null)],
    ["connect(port, undefined) means localhost", (s) => s.connect(PORT, undefined)],
  ]
  for (const [name, connect] of forms) {
    const s = newSocket()
    const p = connect(s)
    const opening = s.ready_state
    const [how, value] = await within(3000, name, outcome(p))
    check(s, {
      [`${name}: opening while pending`]: () => opening === "opening",
      [`${name}: resolves`]: () => how === "resolved",
      [`${name}: resolves to undefined`]: () => value === undefined,
      [`${name}: open`]: (s) => s.ready_state === "open" && s.connected === true,
      [`${name}: remote port`]: (s) => s.remote_port === PORT,
    })
    s.destroy()
  }
}

export async function testConnectRejectsBadPortsWithoutThrowing() {
  const bad = [
    ["true", true],
    ["false", false],
    ["[port]", [PORT]],
    ["{}", {}],
    ['"abc"', "abc"],
    ['""', ""],
    ["undefined", undefined],
    ["null", null],
    ["a function", () => PORT],
    ["0", 0],
    ["-1", -1],
    ["65536", 65536],
    ['"0"', "0"],
  ]
  for (const [name, port] of bad) {
    const s = newSocket()
    let listened = null
    s.on("error", (e) => { listened = e })
    let p
    try {
      p = s.connect(port, HOST)
    } catch (e) {
      bail(`connect(${name}) threw synchronously (${e}); it must return a rejected promise`)
    }
    const [how, err] = await within(3000, `connect(${name})`, outcome(p))
    check(err, {
      [`connect(${name}) rejects`]: () => how === "rejected",
      [`connect(${name}) rejects with a TCPError`]: (e) => e instanceof Error && e.name === "TCPError",
      [`connect(${name}): method is connect`]: (e) => e && e.method === "connect",
      [`connect(${name}): back to disconnected`]: () => s.ready_state === "disconnected",
    })
    s.destroy()
  }
}

export async function testConnectListenerRunsBeforeThePromiseResolves() {
  const s = newSocket()
  const order = []
  s.on("connect", () => order.push(`connect listener (${s.ready_state})`))
  s.on("data", () => order.push("data"))
  s.on("close", () => order.push("close"))
  s.on("error", (e) => order.push(`error ${e}`))
  const p = s.connect(PORT, HOST).then(() => order.push(`promise resolved (${s.ready_state})`))
  order.push("connect() returned")
  await within(3000, "connect", p)
  expectEqual(order, ["connect() returned", "connect listener (open)", "promise resolved (open)"], "event order")
  s.destroy()
}

export async function testNoEventBeforeConnect() {
  // A data listener that is registered before connecting must not run before
  // the connect listener, even when the peer answers at once.
  const s = newSocket()
  const order = []
  const got = new Promise((resolve) => {
    s.on("data", (d) => { order.push("data"); resolve(d) })
  })
  s.on("connect", () => {
    order.push("connect")
    s.write("ping")
  })
  await within(3000, "connect", s.connect(PORT, HOST))
  await within(3000, "echo of ping", got)
  expectEqual(order, ["connect", "data"], "event order")
  s.destroy()
}

export async function testRefusedConnectionIsATCPError() {
  const s = newSocket()
  const seen = []
  s.on("error", (e) => seen.push(["error listener", e]))
  s.on("connect", () => seen.push(["connect listener"]))
  const connecting = s.connect(CLOSED_PORT, "127.0.0.1")
  const [how, err] = await within(5000, `connect to port ${CLOSED_PORT}`, outcome(connecting))
  if (how !== "rejected") bail(`connect to 127.0.0.1:${CLOSED_PORT} resolved; nothing listens there`)
  check(err, {
    "refused: an Error": (e) => e instanceof Error,
    "refused: name is TCPError": (e) => e.name === "TCPError",
    "refused: method is connect": (e) => e.method === "connect",
    "refused: message names the reason": (e) => /refused/i.test(e.message),
    "refused: String() reads TCPError: TCP error during connect": (e) => String(e).startsWith("TCPError: TCP error during connect"),
    "refused: has a stack": (e) => typeof e.stack === "string",
    "refused: back to disconnected": () => s.ready_state === "disconnected" && !s.connected,
    "refused: error listener called once, with the same error": () =>
      seen.length === 1 && seen[0][0] === "error listener" && seen[0][1] === err,
  })
  s.destroy()
}

export async function testRefusedConnectionRejectsWithoutAnErrorListener() {
  const [how, err] = await within(5000, "refused connect", outcome(newSocket().connect(CLOSED_PORT, "127.0.0.1")))
  check(err, {
    "rejects without an error listener": () => how === "rejected",
    "with a TCPError from connect": (e) => e && e.name === "TCPError" && e.method === "connect",
  })
}

export async function testConnectAfterDestroyRejects() {
  const s = newSocket()
  s.destroy()
  const [how, err] = await within(3000, "connect after destroy", outcome(s.connect(PORT, HOST)))
  check(err, {
    "connect after destroy rejects": () => how === "rejected",
    "with a TCPError": (e) => e && e.name === "TCPError",
    "the socket stays destroyed": () => s.ready_state === "destroyed",
  })
}

// -- destroy and close ---------------------------------------------------------------

export async function testDestroyTwiceClosesOnce() {
  const s = newSocket()
  let closes = 0
  s.on("close", () => closes++)
  await within(3000, "connect", s.connect(PORT, HOST))
  const first = s.destroy()
  const second = s.destroy()
  await sleep(100)
  s.destroy()
  await sleep(100)
  check(s, {
    "destroy() returns undefined": () => first === undefined && second === undefined,
    "close runs exactly once": () => closes === 1,
    "state is destroyed": (s) => s.ready_state === "destroyed" && s.connected === false,
  })
}

export async function testNeverConnectedSocketClosesOnce() {
  const s = newSocket()
  let closes = 0
  s.on("close", () => closes++)
  s.destroy()
  s.destroy()
  await sleep(100)
  check(s, {
    "close runs once for a socket that never connected": () => closes === 1,
    "state is destroyed": (s) => s.ready_state === "destroyed",
  })
}

export async function testNoDataAfterDestroy() {
  const s = newSocket()
  let after = 0
  let destroyed = false
  s.on("data", () => { if (destroyed) after++ })
  await within(3000, "connect", s.connect(PORT, HOST))
  await within(3000, "write", s.write("echo me"))
  s.destroy()
  destroyed = true
  await sleep(200)
  check(s, { "no data is delivered after destroy()": () => after === 0 })
}

export async function testDestroyFromTheConnectListener() {
  const s = newSocket()
  let closes = 0
  const closed = new Promise((resolve) => s.on("close", () => { closes++; resolve() }))
  s.on("connect", () => s.destroy())
  await within(3000, "connect", outcome(s.connect(PORT, HOST)))
  await within(3000, "close after destroy() in the connect listener", closed)
  await sleep(50)
  check(s, {
    "close once after destroy() from a listener": () => closes === 1,
    "destroyed": (s) => s.ready_state === "destroyed",
  })
}

// -- listeners ------------------------------------------------------------------------

export async function testReplacedListenerIsNotCalled() {
  const s = newSocket()
  const calls = []
  s.on("connect", () => calls.push("first connect"))
  s.on("connect", () => calls.push("second connect"))
  s.on("data", () => calls.push("first data"))
  const echoed = new Promise((resolve) => s.on("data", () => { calls.push("second data"); resolve() }))
  s.on("close", () => calls.push("first close"))
  s.on("close", () => calls.push("second close"))
  await within(3000, "connect", s.connect(PORT, HOST))
  await s.write("x")
  await within(3000, "echo", echoed)
  s.destroy()
  await sleep(100)
  expectEqual(calls, ["second connect", "second data", "second close"], "listeners called")
}

export async function testOnReturnsUndefinedAndIgnoresUnknownEvents() {
  const s = newSocket()
  const returned = s.on("connect", () => {})
  let unknown
  try {
    unknown = s.on("no-such-event", () => {})
  } catch (e) {
    bail(`on() with an unknown event threw ${e}; it must be ignored with a warning`)
  }
  check(s, {
    "on() returns undefined": () => returned === undefined,
    "on(unknown event) returns undefined": () => unknown === undefined,
  })
}

// -- setTimeout --------------------------------------------------------------------------

export async function testSetTimeoutFiresAndReArms() {
  const s = newSocket()
  const times = []
  const start = Date.now()
  s.on("timeout", () => times.push(Date.now() - start))
  const returned = s.setTimeout(100)
  await within(3000, "connect", s.connect(PORT, HOST))
  await sleep(450)
  const stateDuringTimeouts = s.ready_state
  s.destroy()
  check(s, {
    "setTimeout() returns the socket": () => returned === s,
    "timeout fires on an idle socket": () => times.length >= 1,
    "timeout re-arms (fires again)": () => times.length >= 2,
    "not before its period": () => times.length > 0 && times[0] >= 90,
    "the connection stays open": () => stateDuringTimeouts === "open",
  })
  if (times.length < 2) bail(`expected 2 or more timeouts in 450 ms at 100 ms, got ${JSON.stringify(times)}`)
}

export async function testSetTimeoutZeroDisables() {
  const s = newSocket()
  let timeouts = 0
  s.on("timeout", () => timeouts++)
  await within(3000, "connect", s.connect(PORT, HOST))
  s.setTimeout(100)
  await sleep(250)
  const before = timeouts
  s.setTimeout(0)
  await sleep(300)
  const after = timeouts
  s.destroy()
  check(s, {
    "timeouts while set": () => before >= 1,
    "none after setTimeout(0)": () => after === before,
  })
}

export async function testReceivingDataRestartsTheTimeoutPeriod() {
  const s = newSocket()
  let timeouts = 0
  s.on("timeout", () => timeouts++)
  s.on("data", () => {})
  s.setTimeout(300)
  await within(3000, "connect", s.connect(PORT, HOST))
  // Echoed data every 100 ms for 600 ms keeps a 300 ms idle timer from firing.
  for (let i = 0; i < 6; i++) {
    await s.write("tick")
    await sleep(100)
  }
  s.destroy()
  check(s, { "no timeout while data keeps arriving": () => timeouts === 0 })
}

// -- properties ---------------------------------------------------------------------------

export async function testProperties() {
  const s = newSocket()
  check(s, {
    "new: disconnected": (s) => s.ready_state === "disconnected" && s.connected === false,
    "new: no addresses": (s) =>
      s.local_ip === undefined && s.local_port === undefined && s.remote_ip === undefined && s.remote_port === undefined,
    "new: no bytes": (s) => s.bytes_written === 0 && s.bytes_read === 0,
  })
  const received = collect(s, 5)
  await within(3000, "connect", s.connect(PORT, HOST))
  await s.write("hello")
  await within(3000, "echo", received)
  check(s, {
    "open: ready_state and connected": (s) => s.ready_state === "open" && s.connected === true,
    "open: remote end": (s) => s.remote_ip === "127.0.0.1" && s.remote_port === PORT,
    "open: local end": (s) =>
      s.local_ip === "127.0.0.1" && Number.isInteger(s.local_port) && s.local_port > 0 && s.local_port < 65536,
    "open: bytes_written": (s) => s.bytes_written === 5,
    "open: bytes_read": (s) => s.bytes_read === 5,
  })
  const names = ["ready_state", "connected", "local_ip", "local_port", "remote_ip", "remote_port", "bytes_written", "bytes_read"]
  const snapshot = () => JSON.stringify(names.map((name) => s[name]))
  const before = snapshot()
  for (const name of names) {
    try {
      s[name] = 12345
    } catch (e) {
      // Strict mode code may throw when assigning to a getter; either way it must not change.
    }
  }
  const after = snapshot()
  check(s, { "properties are read-only": () => before === after })
  s.destroy()
  check(s, { "destroyed: ready_state": (s) => s.ready_state === "destroyed" && s.connected === false })
}
