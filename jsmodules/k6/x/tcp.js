// k6/x/tcp: the Socket a script sees. State, listeners and properties live
// here; the connection itself lives in Python (modules/k6/x/tcp/) and reports
// back through events [module, kind, socket id, ...]: connect, connectFailed,
// data, error, closed, timeout, written.
const py = native.call

const EVENTS = ["connect", "data", "close", "error", "timeout"]
const ENCODINGS = ["utf8", "utf-8", "ascii", "base64", "base64url", "hex"]
const live = new Map() // socket id -> Socket, while Python holds a connection
let nextId = 1

class TCPError extends Error {
  constructor(method, reason) {
    super("TCP error during " + method + ": " + reason)
    this.name = "TCPError"
    this.method = method
  }
}

function isPlainObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !ArrayBuffer.isView(v)
}

function checkTags(tags, where) {
  if (tags === undefined || tags === null) return {}
  if (!isPlainObject(tags)) throw new TypeError(where + " tags must be an object of strings")
  const out = {}
  for (const k of Object.keys(tags)) out[k] = String(tags[k])
  return out
}

function parsePort(port) {
  if (typeof port === "number") return Number.isInteger(port) ? port : null
  if (typeof port === "string" && /^\s*\d+\s*$/.test(port)) return Number(port)
  return null
}

// What crosses to Python in one call. Larger strings cross in slices, so no
// single JSON text comes near the engine's 128 MB heap. (Bytes do not cross
// as JSON: see native.callWithBytes.)
const SLICE = 1 << 20

// Slices of a string payload, each ready to cross: [text, isLast]. Cut where
// the encoding allows: whole base64 quads, whole hex pairs, and never between
// the two halves of a surrogate pair.
function* slices(data, encoding) {
  const unit = encoding.startsWith("base64") ? 4 : encoding === "hex" ? 2 : 1
  let i = 0
  do {
    let end = Math.min(data.length, i + SLICE - (SLICE % unit))
    if (unit === 1 && end < data.length) {
      const c = data.charCodeAt(end - 1)
      if (c >= 0xd800 && c <= 0xdbff) end -= 1
    }
    yield [data.slice(i, end), end >= data.length]
    i = end
  } while (i < data.length)
}

class Socket {
  #id = nextId++
  #state = "disconnected"
  #listeners = Object.create(null)
  #tags
  #timeout = 0
  #connect = null // { resolve, reject } while opening
  #writes = new Map() // write id -> { resolve, reject }
  #closed = false
  #local = [undefined, undefined]
  #remote = [undefined, undefined]
  #written = 0
  #read = 0

  constructor(options) {
    if (options !== undefined && options !== null && !isPlainObject(options)) {
      throw new TypeError("Socket options must be an object")
    }
    this.#tags = checkTags(options && options.tags, "Socket")
  }

  get ready_state() { return this.#state }
  get connected() { return this.#state === "open" }
  get local_ip() { return this.#local[0] }
  get local_port() { return this.#local[1] }
  get remote_ip() { return this.#remote[0] }
  get remote_port() { return this.#remote[1] }
  get bytes_written() { return this.#written }
  get bytes_read() { return this.#read }

  on(event, listener) {
    if (!EVENTS.includes(event)) {
      console.warn("Socket.on: unknown event " + JSON.stringify(String(event)) + " ignored; events are " + EVENTS.join(", "))
      return
    }
    if (typeof listener !== "function") {
      throw new TypeError("Socket.on(" + JSON.stringify(event) + "): listener must be a function, got " + typeof listener)
    }
    this.#listeners[event] = listener
  }

  #emit(event, arg) {
    const fn = this.#listeners[event]
    if (!fn) return
    try {
      fn.call(this, arg)
    } catch (e) {
      native.fault(e)
    }
  }

  connect(portOrOptions, hostName) {
    return new Promise((resolve, reject) => {
      if (this.#state === "destroyed") throw new TCPError("connect", "socket is destroyed")
      if (this.#state !== "disconnected") throw new TCPError("connect", "socket is already " + this.#state)
      let port = portOrOptions
      let tls = false
      let tags = {}
      if (isPlainObject(portOrOptions)) {
        port = portOrOptions.port
        hostName = portOrOptions.host
        tls = portOrOptions.tls
        tags = checkTags(portOrOptions.tags, "connect")
      }
      const portNumber = parsePort(port)
      if (portNumber === null) {
        throw new TCPError("connect", "invalid port " + native.format(port) + ": expected a number or a numeric string")
      }
      if (hostName === undefined || hostName === null) hostName = "localhost"
      if (typeof hostName !== "string") {
        throw new TCPError("connect", "invalid host " + native.format(hostName) + ": expected a string")
      }
      if (tls !== undefined && typeof tls !== "boolean") {
        throw new TCPError("connect", "invalid tls option " + native.format(tls) + ": expected true or false")
      }
      this.#state = "opening"
      this.#connect = { resolve, reject }
      live.set(this.#id, this)
      py("connect", this.#id, hostName, portNumber, !!tls, Object.assign({}, this.#tags, tags), this.#timeout)
    })
  }

  write(data, options) {
    return new Promise((resolve, reject) => {
      if (this.#state !== "open") {
        throw new TCPError("write", this.#state === "destroyed" ? "socket is destroyed" : "no active connection")
      }
      if (options !== undefined && options !== null && !isPlainObject(options)) {
        throw new TypeError("write options must be an object")
      }
      let encoding = options && options.encoding
      const tags = checkTags(options && options.tags, "write")
      let payload
      if (typeof data === "string") {
        encoding = encoding === undefined || encoding === null ? "utf8" : String(encoding).toLowerCase()
        if (!ENCODINGS.includes(encoding)) {
          return this.#refuseWrite(reject, tags, "unsupported encoding " + JSON.stringify(String(options.encoding)) + "; use one of " + ENCODINGS.join(", "))
        }
        payload = data
      } else {
        payload = native.bytesOf(data)
        if (payload === null) {
          return this.#refuseWrite(reject, tags, "invalid data type " + (data === null ? "null" : Array.isArray(data) ? "array" : typeof data) + ": expected a string, ArrayBuffer or typed array")
        }
        encoding = "binary"
      }
      // Each slice but the last: [0, null, false], or [0, reason] on failure.
      // The last: [bytes sent, null, true] when every byte left at once;
      // [write id, null, false] when the rest waits for the socket.
      let r
      if (encoding === "binary") {
        r = native.callWithBytes(payload, "write", this.#id, null, encoding, tags, false)
        if (r[1] !== null) return this.#failWrite(reject, r[1])
      } else {
        for (const [text, last] of slices(payload, encoding)) {
          r = py("write", this.#id, text, encoding, tags, !last)
          if (r[1] !== null) return this.#failWrite(reject, r[1])
        }
      }
      if (r[2]) {
        this.#written += r[0]
        resolve()
      } else {
        this.#writes.set(r[0], { resolve, reject })
      }
    })
  }

  // A write refused before it reached Python still counts as a failed write.
  #refuseWrite(reject, tags, reason) {
    py("refused", this.#id, tags)
    this.#failWrite(reject, reason)
  }

  #failWrite(reject, reason) {
    const err = new TCPError("write", reason)
    this.#emit("error", err)
    reject(err)
  }

  setTimeout(ms) {
    if (typeof ms !== "number" || Number.isNaN(ms) || ms === Infinity) {
      throw new TypeError("Socket.setTimeout: expected a number of milliseconds, got " + native.format(ms))
    }
    this.#timeout = ms > 0 ? ms : 0
    if (this.#state === "open") py("timeout", this.#id, this.#timeout)
    return this
  }

  destroy() {
    if (this.#state === "destroyed") return
    const wasLive = live.delete(this.#id)
    this.#state = "destroyed"
    // Bytes of unfinished writes that had already gone out still count.
    if (wasLive) this.#written += py("destroy", this.#id) || 0
    this.#abandon("connect", "socket destroyed")
    queueMicrotask(() => this.#close())
  }

  // Settle every promise still waiting on this connection with a rejection.
  #abandon(method, reason) {
    if (this.#connect) {
      const pending = this.#connect
      this.#connect = null
      pending.reject(new TCPError(method, reason))
    }
    for (const w of this.#writes.values()) w.reject(new TCPError("write", reason))
    this.#writes.clear()
  }

  #close() {
    if (this.#closed) return
    this.#closed = true
    this.#emit("close")
  }

  static {
    native.on((ev) => {
      const socket = live.get(ev[2])
      if (socket) socket.#handle(ev)
    })
    // The host closed every connection of an abandoned iteration.
    native.onReset(() => {
      for (const socket of live.values()) socket.#state = "destroyed"
      live.clear()
    })
  }

  // Events from Python: [module, kind, socket id, ...details].
  #handle(ev) {
    switch (ev[1]) {
      case "connect": {
        this.#state = "open"
        this.#local = [ev[3], ev[4]]
        this.#remote = [ev[5], ev[6]]
        const pending = this.#connect
        this.#connect = null
        this.#emit("connect")
        if (pending) pending.resolve()
        return
      }
      case "connectFailed": {
        live.delete(this.#id)
        this.#state = "disconnected"
        const pending = this.#connect
        this.#connect = null
        const err = new TCPError("connect", ev[3])
        this.#emit("error", err)
        if (pending) pending.reject(err)
        return
      }
      case "data": {
        if (this.#state !== "open") return
        const data = native.inbox[ev[3]] // a Uint8Array the host put there
        this.#read += data.length
        this.#emit("data", data)
        return
      }
      case "error":
        this.#emit("error", new TCPError(ev[3], ev[4]))
        return
      case "closed":
        live.delete(this.#id)
        this.#state = "destroyed"
        this.#abandon("write", "connection closed")
        this.#close()
        return
      case "timeout":
        this.#emit("timeout")
        return
      case "written": {
        const w = this.#writes.get(ev[3])
        if (!w) return
        this.#writes.delete(ev[3])
        this.#written += ev[4]
        // A failed queued write means the connection broke; its error event
        // tells the error listener, so only the promise hears of it here.
        if (ev[5] === null) w.resolve()
        else w.reject(new TCPError("write", ev[5]))
      }
    }
  }
}

exports.Socket = Socket
exports.TCPError = TCPError

// ---- the classic API -----------------------------------------------------------
// The older community extension (github.com/NAlexandrov/xk6-tcp and its forks)
// registered k6/x/tcp with blocking functions on a connection object:
//   const conn = tcp.connect("host:port"[, timeoutMs])
//   tcp.write(conn, data[, timeoutMs]); tcp.writeLn(conn, data[, timeoutMs])
//   const bytes = tcp.read(conn, size[, timeoutMs]); tcp.close(conn)
// The connection lives in Python (modules/k6/x/tcp/classic.py); a call returns when it is
// done, other VUs running meanwhile. What a connection object stands for is
// kept here, so a closed one still answers with Go's words.
const classic = new WeakMap() // connection object -> { id, name, closed }

class Connection {
  toString() { return "[object net.Conn]" }
}

function classicState(conn, method) {
  const state = conn !== null && typeof conn === "object" ? classic.get(conn) : undefined
  if (state === undefined) throw new TypeError("tcp." + method + ": the first argument must be a connection from tcp.connect()")
  return state
}

function classicTimeout(ms, method) {
  if (ms === undefined || ms === null) return 0
  const n = Number(ms)
  if (!Number.isFinite(n) || n < 0) throw new TypeError("tcp." + method + ": timeout must be a number of milliseconds, got " + String(ms))
  return n
}

function closedError(verb, state) {
  return native.goError(verb + " tcp " + state.name + ": use of closed network connection")
}

function classicWrite(method, newline, conn, data, timeoutMs) {
  const state = classicState(conn, method)
  const timeout = classicTimeout(timeoutMs, method)
  if (state.closed) throw closedError("write", state)
  if (typeof data === "string") return py("classic.write", state.id, data, newline, timeout)
  // Go's []byte from JavaScript: bytes, or an array of numbers.
  const bytes = native.bytesOf(data) || (Array.isArray(data) ? Uint8Array.from(data) : null)
  if (bytes === null) throw new TypeError("tcp." + method + ": data must be a string, an ArrayBuffer, a typed array or an array of bytes")
  return native.callWithBytes(bytes, "classic.write", state.id, null, newline, timeout)
}

exports.connect = function connect(address, timeoutMs) {
  if (typeof address !== "string") throw new TypeError("tcp.connect: address must be a \"host:port\" string")
  const [id, name] = py("classic.connect", address, classicTimeout(timeoutMs, "connect"))
  const conn = Object.freeze(new Connection())
  classic.set(conn, { id, name, closed: false })
  return conn
}
exports.write = function write(conn, data, timeoutMs) {
  classicWrite("write", false, conn, data, timeoutMs)
}
exports.writeLn = function writeLn(conn, data, timeoutMs) {
  classicWrite("writeLn", true, conn, data, timeoutMs)
}
exports.read = function read(conn, size, timeoutMs) {
  const state = classicState(conn, "read")
  const timeout = classicTimeout(timeoutMs, "read")
  if (state.closed) throw closedError("read", state)
  py("classic.read", state.id, size, timeout)
  return native.takeReturned()
}
exports.close = function close(conn) {
  const state = classicState(conn, "close")
  if (state.closed) throw closedError("close", state)
  state.closed = true
  py("classic.close", state.id)
}
