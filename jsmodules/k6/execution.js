// k6/execution: what a script may know about its run, and test.fail/abort.
const py = globalThis.call_python

class AbortTest extends Error {
  constructor(reason) {
    super(reason)
    this.name = "AbortTest"
  }
}

const test = {
  fail(reason) {
    py("test.fail", reason === undefined ? "" : String(reason))
  },
  abort(reason) {
    const text = reason === undefined ? "test aborted" : String(reason)
    py("test.abort", text)
    throw new AbortTest(text)
  },
}

const vu = {
  get idInInstance() { return globalThis.__VU },
  get idInTest() { return globalThis.__VU },
  get iterationInInstance() { return globalThis.__ITER },
  get iterationInScenario() { return globalThis.__ITER },
}

exports.test = test
exports.vu = vu
