// console: what the script logs goes to the run's log, as k6's does.
function logger(level) {
  return function () {
    const parts = []
    for (let i = 0; i < arguments.length; i++) parts.push(native.format(arguments[i]))
    native.call("log", level, parts.join(" "))
  }
}

exports.console = {
  log: logger("info"),
  info: logger("info"),
  warn: logger("warning"),
  error: logger("error"),
  debug: logger("debug"),
}
