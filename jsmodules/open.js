// open(): a file's text (or bytes with "b"), in the init context only. Paths
// resolve against the file that calls it, as in k6: each module gets its own.
function makeOpen(base) {
  return function open(path, mode) {
    const text = native.call("open", base, path, mode === undefined ? null : mode)
    return mode === "b" ? native.takeReturned().buffer : text
  }
}

exports.makeOpen = makeOpen
exports.open = makeOpen("")
