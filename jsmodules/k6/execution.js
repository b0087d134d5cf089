// k6/execution: what a script may know about its run, and test.fail/abort.
// Per-iteration facts come with each iteration (__k6host.ctx); the live
// counters are read from Python when asked for.
const py = globalThis.call_python
const host = globalThis.__k6host

const state = () => py("exec.state")
const ctx = () => host.ctx || {}

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
      return typeof key === "string" ? state().tags[key] : undefined
    },
    set(_, key, value) {
      if (!["string", "number", "boolean"].includes(typeof value)) {
        throw new TypeError(`vu.tags.${String(key)}: tag values must be strings, numbers or booleans`)
      }
      py("vu.tag", String(key), String(value))
      return true
    },
    deleteProperty(_, key) {
      py("vu.tag", String(key), null)
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

exports.vu = {
  get idInInstance() { return globalThis.__VU },
  get idInTest() { return globalThis.__VU },
  get iterationInInstance() { return ctx().iterationInInstance },
  get iterationInScenario() { return ctx().iterationInScenario },
  tags,
  metrics: { tags, metadata: {} },
}

exports.scenario = {
  get name() { return ctx().scenario },
  get executor() { return ctx().executor },
  get startTime() { return ctx().startTime },
  get progress() { return state().progress },
  get iterationInInstance() { return ctx().iterationInTest },
  get iterationInTest() { return ctx().iterationInTest },
}

exports.instance = {
  get iterationsCompleted() { return state().iterationsCompleted },
  get iterationsInterrupted() { return state().iterationsInterrupted },
  get vusActive() { return state().vusActive },
  get vusInitialized() { return state().vusInitialized },
  get currentTestRunDuration() { return state().currentTestRunDuration },
}

exports.test = {
  fail(reason) {
    py("test.fail", reason === undefined ? "" : String(reason))
  },
  abort(reason) {
    const text = reason === undefined ? "test aborted" : String(reason)
    py("test.abort", text)
    throw new AbortTest(text)
  },
  get options() {
    return Object.freeze(py("exec.options"))
  },
}
