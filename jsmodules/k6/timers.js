// k6/timers: the same functions as the globals.
exports.setTimeout = globalThis.setTimeout
exports.clearTimeout = globalThis.clearTimeout
exports.setInterval = globalThis.setInterval
exports.clearInterval = globalThis.clearInterval
