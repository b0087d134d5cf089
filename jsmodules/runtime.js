// The VU runtime: evaluated once per VU as a global script, before the user's
// script. It owns what JavaScript must hold (callbacks, module caches) and
// crosses to Python only through call_python and one batched dispatch entry.
;(function (g) {
  "use strict"
  // Host functions report the script's mistakes with a marker rather than
  // an exception (see HostError in engine.py); throw it as a JavaScript error.
  const rawCall = g.call_python
  const ERROR_KEY = "\u0000k6host_error"
  const callPython = function (name, ...args) {
    const r = rawCall(name, ...args)
    if (r !== null && typeof r === "object" && r[ERROR_KEY]) {
      const [errorName, message] = r[ERROR_KEY]
      const Kind = { TypeError, RangeError, SyntaxError }[errorName] || Error
      const e = new Kind(message)
      if (e.name !== errorName) e.name = errorName
      throw e
    }
    return r
  }
  const py = callPython
  const cjsCache = Object.create(null)

  const host = {
    main: null,
    setupData: undefined,
    // CommonJS functions compiled by the host, by module id (see Engine.compile_function).
    cjs: Object.create(null),
    // module name -> handler(event array); set by each module's native.on().
    handlers: Object.create(null),
    // Bytes beside the JSON boundary (see Engine.put_bytes and take_bytes):
    // Uint8Arrays the host put here for the events of one batch, or as a
    // host function's result, and what a host call is about to read.
    inbox: [],
    returned: [],
    outbox: null,
  }
  Object.defineProperty(g, "__k6host", { value: host })
  // What the built-in modules call Python with.
  host.call = callPython
  // A host function that returns bytes leaves them in host.returned.
  host.takeReturned = function () {
    const bytes = host.returned[0]
    host.returned.length = 0
    return bytes
  }
  // The bytes of an ArrayBuffer or of any view on one, as a Uint8Array over
  // the same memory; null for anything else.
  host.bytesOf = function (data) {
    if (data instanceof ArrayBuffer) return new Uint8Array(data)
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    return null
  }
  // Calls a host function that reads `bytes` (a Uint8Array) on its side.
  host.callWithBytes = function (bytes, name, ...args) {
    host.outbox = bytes
    try {
      return callPython(name, ...args)
    } finally {
      host.outbox = null
    }
  }

  // ---- Promise ------------------------------------------------------------------
  // QuickJS-NG 0.11 (inside dukpy 0.6) has CVE-2023-48184: its cycle collector
  // does not see a closure's reference into a suspended async function, so
  // `let r; socket.on("data", () => r()); await new Promise((ok) => { r = ok })`
  // gets the suspended function freed and the process crashes on the next GC.
  // A suspended function stays reachable through the promise it awaits, so
  // every pending promise a script makes is held here until it settles.
  const NativePromise = g.Promise
  const pendingPromises = new Set()
  function Promise(executor) {
    if (new.target === undefined) throw new TypeError("Promise constructor cannot be invoked without 'new'")
    if (typeof executor !== "function") throw new TypeError("Promise resolver " + typeof executor + " is not a function")
    let resolveNative, rejectNative
    const p = new NativePromise(function (resolve, reject) {
      resolveNative = resolve
      rejectNative = reject
    })
    pendingPromises.add(p)
    const resolve = function (value) {
      pendingPromises.delete(p)
      resolveNative(value)
    }
    const reject = function (reason) {
      pendingPromises.delete(p)
      rejectNative(reason)
    }
    try {
      executor(resolve, reject)
    } catch (e) {
      reject(e)
    }
    return p
  }
  Object.setPrototypeOf(Promise, NativePromise)
  Promise.prototype = NativePromise.prototype
  Object.defineProperty(g, "Promise", { value: Promise, writable: true, configurable: true })

  // ---- errors -------------------------------------------------------------
  const OUT_OF_MEMORY = "InternalError: out of memory: the VU's JavaScript heap reached its limit (128 MB)"
  host.errorText = function (e) {
    // QuickJS throws null when memory ran out before the error could be made.
    if (e === null && rawCall("engine.heapWasFull")) return OUT_OF_MEMORY
    if (e instanceof Error) {
      const head = String(e)
      const stack = typeof e.stack === "string" ? e.stack.replace(/\s+$/, "") : ""
      return stack ? head + "\n" + stack : head
    }
    return host.format(e)
  }
  // A listener or callback threw: the iteration fails as if the default
  // function had thrown.
  host.fault = function (e) {
    py("vu.fault", host.errorText(e))
  }

  // k6 reports mistakes found by its Go side as GoError; the modules do too.
  host.goError = function (message) {
    const e = new Error(message)
    e.name = "GoError"
    return e
  }

  // ---- tags -----------------------------------------------------------------
  // Tags as k6 takes them: an object of strings, numbers or booleans; anything
  // else as the tags argument is ignored, an object value is refused.
  host.tagsOf = function (tags) {
    const out = {}
    if (tags === null || typeof tags !== "object") return out
    for (const k of Object.keys(tags)) {
      const v = tags[k]
      if (v === null || v === undefined) continue
      if (!["string", "number", "boolean"].includes(typeof v)) {
        const e = new TypeError("cannot add tags: only String, Boolean and Number types are accepted, got " + typeof v + " for tag " + JSON.stringify(k))
        throw e
      }
      out[k] = String(v)
    }
    return out
  }

  // ---- values as console.log shows them -------------------------------------
  function formatValue(v, seen) {
    if (v === null) return "null"
    switch (typeof v) {
      case "string":
        return v
      case "undefined":
        return "undefined"
      case "function":
        return "[Function: " + (v.name || "anonymous") + "]"
      case "symbol":
      case "bigint":
      case "number":
      case "boolean":
        return String(v)
    }
    if (v instanceof Error) return String(v)
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      return v.constructor.name + "(" + v.length + ") [" + Array.prototype.join.call(v, ", ") + "]"
    }
    if (v instanceof ArrayBuffer) {
      return "ArrayBuffer(" + v.byteLength + ") [" + new Uint8Array(v).join(", ") + "]"
    }
    try {
      return JSON.stringify(v, function (k, x) {
        if (typeof x === "object" && x !== null) {
          if (seen.has(x)) return "[Circular]"
          seen.add(x)
          if (ArrayBuffer.isView(x) || x instanceof ArrayBuffer || x instanceof Error) return formatValue(x, seen)
          if (x instanceof Map) return Object.fromEntries(x)
          if (x instanceof Set) return Array.from(x)
        }
        if (typeof x === "function") return formatValue(x, seen)
        if (typeof x === "bigint") return String(x)
        if (x === undefined) return "undefined"
        return x
      })
    } catch (e) {
      return String(v)
    }
  }
  host.format = function (v) {
    return formatValue(v, new Set())
  }
  // ---- modules --------------------------------------------------------------
  // internal: the runtime loads one of its own modules (console, open), not a script.
  const internalIds = new Set()
  function runCommonJS(id, internal) {
    if (!internal && internalIds.has(id)) throw new Error("unknown module: " + id)
    if (cjsCache[id]) return cjsCache[id].exports
    const kind = py("mod.compile", id, !!internal)
    if (kind === "esm") throw new Error("require() of ES modules is not supported: " + id)
    if (kind !== "cjs" && kind !== "host") throw new Error("unknown module: " + id)
    const fn = host.cjs[id]
    delete host.cjs[id]
    const module = { id: id, exports: {} }
    cjsCache[id] = module
    const slash = id.lastIndexOf("/")
    try {
      if (kind === "host") fn.call(module.exports, module.exports, makeRequire(id), module, native(id))
      else fn.call(module.exports, module.exports, makeRequire(id), module, id, slash >= 0 ? id.slice(0, slash) : "", host.openFor(id))
    } catch (e) {
      delete cjsCache[id]
      throw e
    }
    return module.exports
  }
  function makeRequire(base) {
    return function require(name) {
      if (typeof name !== "string") throw new TypeError("require() expects a module name string")
      return runCommonJS(py("mod.resolve", base, name))
    }
  }
  host.makeRequire = makeRequire
  // k6 offers require() in ES-module code too; each ES module gets its own
  // (see ModuleMap.esm_source), this one serves code outside any module.
  g.require = makeRequire("")
  host.compiles = function (source) {
    try {
      new Function(source)
      return true
    } catch (e) {
      if (e instanceof SyntaxError) return false
      throw e
    }
  }
  host.builtin = (id) => runCommonJS(id, true)

  // What a module of the module API (modules/api.py) gets as `native`: calls
  // to its own Python instance, and the events that instance emits.
  function native(name) {
    const prefix = name + ":"
    return Object.freeze({
      call: (fn, ...args) => callPython(prefix + fn, ...args),
      callWithBytes: (bytes, fn, ...args) => host.callWithBytes(bytes, prefix + fn, ...args),
      takeReturned: host.takeReturned,
      inbox: host.inbox,
      on: (handler) => { host.handlers[name] = handler },
      onReset: (fn) => { host.resets.push(fn) },
      fault: host.fault,
      goError: host.goError,
      format: host.format,
      tagsOf: host.tagsOf,
      bytesOf: host.bytesOf,
    })
  }
  // Modules whose exports are also globals (console, timers, open).
  host.installGlobals = function (name, names, importable) {
    if (!importable) internalIds.add(name)
    const m = runCommonJS(name, true)
    for (const n of names) g[n] = m[n]
  }
  // open() resolves paths against the file that calls it, as in k6.
  host.openFor = function (base) {
    internalIds.add("open")
    return runCommonJS("open", true).makeOpen(base)
  }

  // ---- iterations -----------------------------------------------------------
  // The host calls these directly (Engine.call), runs the promise jobs they
  // queue, and delivers events between those runs (VU.run).
  function settle(errorText, value) {
    py("vu.settled", errorText, value === undefined ? null : JSON.stringify(value))
  }
  // What k6/execution tells of the scenario (or setup/teardown) the VU is in;
  // the host sends it when it changes.
  let scenario = {}
  host.setScenario = function (facts) {
    scenario = facts
  }
  // Runs one call of fn (an iteration, or setup/teardown when wantValue).
  // Returns true when it finished synchronously without error and no value
  // is wanted, so the common sync iteration costs no crossing back.
  // fn gets setup()'s data, as in k6.
  host.iterate = function (fn, wantValue, iter, inScenario, inTest, scenarioInInstance) {
    // __ITER counts a VU's iterations across scenarios, as in k6.
    g.__ITER = iter
    host.ctx = {
      scenario: scenario.scenario,
      executor: scenario.executor,
      startTime: scenario.startTime,
      idInTest: scenario.idInTest,
      iterationInScenario: inScenario,
      iterationInTest: inTest,
      scenarioIterationInInstance: scenarioInInstance,
      iterationInInstance: iter,
    }
    // What the last iteration left pending can no longer settle: let it go.
    pendingPromises.clear()
    let r
    try {
      r = fn(host.setupData)
    } catch (e) {
      const text = host.errorText(e)
      // A null has no stack: say at least which function ran.
      settle(text === OUT_OF_MEMORY ? text + "\n    at " + (fn.name || "default") : text)
      return false
    }
    if (r === null || typeof r !== "object" || typeof r.then !== "function") {
      if (!wantValue) return true
      settle(null, r)
      return false
    }
    r.then(
      function (value) { settle(null, wantValue ? value : undefined) },
      // k6's wording for an async function that rejected.
      function (e) { settle("Uncaught (in promise) " + host.errorText(e)) }
    )
    return false
  }

  // ---- init-only helpers -------------------------------------------------------
  host.exportedOptions = function () {
    const o = host.main && host.main.options
    return o === undefined ? null : JSON.parse(JSON.stringify(o))
  }

  // Modules register what to forget when an iteration is abandoned (native.onReset).
  host.resets = []
  host.reset = function () {
    for (const fn of host.resets) fn()
    // An interrupted iteration skips the code that empties these.
    host.inbox.length = 0
    host.returned.length = 0
    host.outbox = null
  }

  // Events from the host, each [module, kind, ...], for the module's handler.
  // The bytes of the events come as the arguments after them (or, when
  // there are many, are in the inbox already).
  host.dispatch = function (events) {
    for (let i = 1; i < arguments.length; i++) host.inbox[i - 1] = arguments[i]
    const handlers = host.handlers
    for (let i = 0; i < events.length; i++) {
      const ev = events[i]
      const handler = handlers[ev[0]]
      try {
        if (handler === undefined) throw new Error("module " + ev[0] + " emitted an event, but registered no handler (native.on)")
        handler(ev)
      } catch (e) {
        host.fault(e)
      }
    }
    host.inbox.length = 0
  }
})(globalThis)
