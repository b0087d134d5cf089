// k6/timers, also the globals setTimeout & co. Callbacks stay here; Python
// keeps only deadlines and emits the id of a timer that fires.
const timers = new Map()
let nextTimer = 1

function addTimer(fn, ms, args, repeat) {
  if (typeof fn !== "function") throw new TypeError("timer callback must be a function, got " + typeof fn)
  const delay = Number(ms) > 0 ? Number(ms) : 0
  const id = nextTimer++
  timers.set(id, { fn, args, repeat })
  native.call("add", id, delay, repeat)
  return id
}

function clearTimer(id) {
  if (timers.delete(id)) native.call("cancel", id)
}

native.on(function (ev) {
  const t = timers.get(ev[1])
  if (!t) return
  if (!t.repeat) timers.delete(ev[1])
  t.fn.apply(undefined, t.args)
})
native.onReset(() => timers.clear())

exports.setTimeout = function setTimeout(fn, ms, ...args) { return addTimer(fn, ms, args, false) }
exports.setInterval = function setInterval(fn, ms, ...args) { return addTimer(fn, ms, args, true) }
exports.clearTimeout = clearTimer
exports.clearInterval = clearTimer
