// k6/encoding: base64 in the four variants k6 names (others mean std).

function b64encode(input, encoding) {
  const variant = String(encoding || "std")
  if (typeof input === "string") return native.call("b64encode", input, variant)
  const bytes = native.bytesOf(input)
  if (bytes === null) throw new TypeError("b64encode expects a string or an ArrayBuffer")
  return native.callWithBytes(bytes, "b64encode", null, variant)
}

function b64decode(input, encoding, format) {
  if (typeof input !== "string") throw new TypeError("b64decode expects a string")
  const text = native.call("b64decode", input, String(encoding || "std"), format === "s")
  return format === "s" ? text : native.takeReturned().buffer
}

exports.b64encode = b64encode
exports.b64decode = b64decode
