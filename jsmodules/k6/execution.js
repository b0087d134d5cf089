// k6/execution: what a script may know about its run, and test.fail/abort.
// Per-iteration facts come with each iteration (__k6host.ctx); the live
// counters are read from Python when asked for.
const host = globalThis.__k6host
const goError = native.goError

const state = () => native.call("state")
// Set for each iteration (and for setup/teardown, with no scenario); unset in
// init code, where k6 refuses most of this module.
function ctx(what) {
  if (!host.ctx) throw goError(`getting ${what} in the init context is not supported`)
  return host.ctx
}
function scenarioCtx() {
  const c = host.ctx
  if (!c || !c.scenario) throw goError("getting scenario information outside of the VU context is not supported")
  return c
}

class AbortTest extends Error {
  constructor(reason) {
    super(reason)
    this.name = "AbortTest"
  }
}

// exec.vu.tags: reads show the tags samples get; writes add to them.
const tags = new Proxy(
  {},
  {
    get(_, key) {
      ctx("VU information")
      return typeof key === "string" ? state().tags[key] : undefined
    },
    set(_, key, value) {
      if (!["string", "number", "boolean"].includes(typeof value)) {
        throw new TypeError(`vu.tags.${String(key)}: tag values must be strings, numbers or booleans`)
      }
      native.call("tag", String(key), String(value))
      return true
    },
    deleteProperty(_, key) {
      native.call("tag", String(key), null)
      return true
    },
    has(_, key) {
      return key in state().tags
    },
    ownKeys() {
      return Object.keys(state().tags)
    },
    getOwnPropertyDescriptor(_, key) {
      const all = state().tags
      return key in all ? { value: all[key], writable: true, enumerable: true, configurable: true } : undefined
    },
  }
)

const VU = "VU information"
exports.vu = {
  get idInInstance() { ctx(VU); return globalThis.__VU },
  get idInTest() { return ctx(VU).idInTest ?? globalThis.__VU },
  get iterationInInstance() { return ctx(VU).iterationInInstance },
  get iterationInScenario() { return ctx(VU).iterationInScenario },
  get tags() { ctx(VU); return tags },
  get metrics() { ctx(VU); return { tags, metadata: {} } },
}

exports.scenario = {
  get name() { return scenarioCtx().scenario },
  get executor() { return scenarioCtx().executor },
  get startTime() { return scenarioCtx().startTime },
  get progress() { scenarioCtx(); return state().progress },
  get iterationInInstance() { return scenarioCtx().scenarioIterationInInstance },
  get iterationInTest() { return scenarioCtx().iterationInTest },
}

const INSTANCE = "instance information"
exports.instance = {
  get iterationsCompleted() { ctx(INSTANCE); return state().iterationsCompleted },
  get iterationsInterrupted() { ctx(INSTANCE); return state().iterationsInterrupted },
  get vusActive() { ctx(INSTANCE); return state().vusActive },
  get vusInitialized() { ctx(INSTANCE); return state().vusInitialized },
  get currentTestRunDuration() { ctx(INSTANCE); return state().currentTestRunDuration },
}

// "at fn (file:///x.js:3:5)" of the function that called the caller of this one.
function callerFrame() {
  const frames = (new Error().stack || "").split("\n").map((l) => l.trim()).filter((l) => l.startsWith("at "))
  return frames[2] || ""
}

exports.test = {
  fail(reason) {
    // Where it was called from, for the pytest plugin's report (k6's log line has no place).
    native.call("fail", reason === undefined ? "" : String(reason), callerFrame())
  },
  abort(reason) {
    const text = reason === undefined ? "" : String(reason)
    // k6 says where the test was aborted: the caller's frame.
    native.call("abort", text, callerFrame())
    throw new AbortTest(text)
  },
  get options() {
    ctx("test options")
    return Object.freeze(native.call("options"))
  },
}
