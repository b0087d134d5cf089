// k6/x/redis: a Redis client whose commands return promises. The connection
// and the protocol live in Python (k6host_redis); replies come back as the
// module's events: connected, connectFailed, reply, closed.

class RedisError extends Error {
  constructor(message) {
    super(message)
    this.name = "RedisError"
  }
}

// The frames of a stack that are not in this file (the script's).
function callerFrames(stack) {
  const lines = String(stack).split("\n")
  const here = (lines[0].match(/\((.*):\d+:\d+\)/) || [])[1]
  return lines.filter((line) => !here || !line.includes(here + ":")).join("\n")
}

const clients = new Map() // client id -> Client, while Python holds a connection
const requests = new Map() // request id -> { resolve, reject }
let nextClient = 1
let nextRequest = 1

class Client {
  #id = nextClient++
  #address
  #tags
  #ready = null // the connect promise, once asked for
  #settle = null // { resolve, reject } while connecting

  // new Client("127.0.0.1:6379") or new Client({ host, port, tags })
  constructor(options) {
    if (typeof options === "string") {
      const colon = options.lastIndexOf(":")
      options = { host: options.slice(0, colon), port: Number(options.slice(colon + 1)) }
    }
    if (options === null || typeof options !== "object") {
      throw new TypeError("Client expects \"host:port\" or { host, port }")
    }
    const port = Number(options.port === undefined ? 6379 : options.port)
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new TypeError("Client: invalid port " + native.format(options.port))
    }
    this.#address = [String(options.host || "localhost"), port]
    this.#tags = native.tagsOf(options.tags)
  }

  connect() {
    // The server may have closed the connection since: connect again.
    if (this.#ready && !this.#settle && !native.call("alive", this.#id)) this.#lost()
    if (!this.#ready) {
      this.#ready = new Promise((resolve, reject) => {
        this.#settle = { resolve, reject }
        clients.set(this.#id, this)
        native.call("connect", this.#id, this.#address[0], this.#address[1], this.#tags)
      })
    }
    return this.#ready
  }

  // Any command: client.command("HSET", "h", "f", "v")
  command(...args) {
    // A reply comes long after the script's call: its errors get the
    // script's frames from here, as an error thrown at the call would.
    const where = new Error().stack
    return this.#send(args).catch((e) => {
      e.stack = callerFrames(where)
      throw e
    })
  }

  async #send(args) {
    await this.connect()
    return new Promise((resolve, reject) => {
      const rid = nextRequest++
      requests.set(rid, { resolve, reject })
      try {
        native.call("command", this.#id, rid, args)
      } catch (e) {
        requests.delete(rid)
        throw e
      }
    })
  }

  ping() { return this.command("PING") }
  get(key) { return this.command("GET", key) }
  set(key, value) { return this.command("SET", key, value) }
  incr(key) { return this.command("INCR", key) }
  del(...keys) { return this.command("DEL", ...keys) }

  close() {
    if (clients.delete(this.#id)) native.call("close", this.#id)
  }

  static {
    native.on((ev) => {
      const [, kind, id, detail, value] = ev
      if (kind === "reply") {
        const request = requests.get(id)
        if (!request) return
        requests.delete(id)
        if (detail) request.resolve(value)
        else request.reject(new RedisError(value))
        return
      }
      const client = clients.get(id)
      if (client) client.#event(kind, detail)
    })
    // An abandoned iteration's connections are closed by Python: forget them.
    native.onReset(() => {
      for (const client of clients.values()) client.#lost()
      clients.clear()
      requests.clear()
    })
  }

  // The connection is gone: the next command connects again.
  #lost() {
    clients.delete(this.#id)
    this.#ready = null
    this.#settle = null
  }

  #event(kind, reason) {
    const settle = this.#settle
    this.#settle = null
    if (kind === "connected") {
      if (settle) settle.resolve()
      return
    }
    this.#lost()
    if (settle) settle.reject(new RedisError(reason))
  }
}

exports.Client = Client
exports.RedisError = RedisError
