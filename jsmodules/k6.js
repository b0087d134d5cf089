// k6: checks, groups, sleep and fail. Samples are recorded in Python.
const py = globalThis.call_python
const host = globalThis.__k6host

function check(value, checks, tags) {
  if (checks === null || typeof checks !== "object") {
    throw new TypeError("check() expects an object of named checks as its second argument")
  }
  const extra = tags === undefined || tags === null ? {} : tags
  let all = true
  for (const name of Object.keys(checks)) {
    const c = checks[name]
    let ok
    if (typeof c === "function") {
      ok = !!c(value)
    } else {
      ok = !!c
    }
    py("check", name, ok, extra)
    if (!ok) all = false
  }
  return all
}

function group(name, fn) {
  if (typeof fn !== "function") throw new TypeError("group() expects a function as its second argument")
  if (typeof name !== "string" || name === "") throw new TypeError("group() expects a non-empty name")
  py("group.enter", name)
  let r
  try {
    r = fn()
  } finally {
    py("group.leave")
  }
  return r
}

function sleep(seconds) {
  const s = Number(seconds)
  if (Number.isNaN(s)) throw new TypeError("sleep() expects a number of seconds, got " + host.format(seconds))
  if (s > 0) py("vu.sleep", s)
}

function fail(message) {
  throw new Error(message === undefined ? "fail()" : String(message))
}

// A seeded generator (mulberry32) replaces Math.random, as k6's randomSeed does.
function randomSeed(seed) {
  let state = Number(seed) >>> 0
  Math.random = function () {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

exports.check = check
exports.group = group
exports.sleep = sleep
exports.fail = fail
exports.randomSeed = randomSeed
