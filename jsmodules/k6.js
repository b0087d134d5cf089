// k6: checks, groups, sleep and fail. Samples are recorded in Python.
const goError = native.goError

function checkName(name) {
  if (String(name).includes("::")) throw goError("group and check names may not contain '::'")
}

function check(value, checks, tags) {
  if (checks === null || typeof checks !== "object") {
    throw new TypeError("check() expects an object of named checks as its second argument")
  }
  const extra = native.tagsOf(tags)
  let all = true
  for (const name of Object.keys(checks)) {
    checkName(name)
    const c = checks[name]
    const ok = typeof c === "function" ? !!c(value) : !!c
    native.call("check", name, ok, extra)
    if (!ok) all = false
  }
  return all
}

function group(name, fn) {
  if (typeof fn !== "function") throw new TypeError("group() expects a function as its second argument")
  if (fn.constructor && fn.constructor.name === "AsyncFunction") {
    throw goError(
      "group() does not support async functions as arguments, please see https://grafana.com/docs/k6/latest/javascript-api/k6/group/ for more info"
    )
  }
  checkName(name)
  native.call("enterGroup", String(name))
  try {
    return fn()
  } finally {
    native.call("leaveGroup")
  }
}

function sleep(seconds) {
  const s = Number(seconds)
  if (s > 0) native.call("sleep", s)
}

function fail(message) {
  throw goError(message === undefined ? "" : String(message))
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
