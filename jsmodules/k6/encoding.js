// k6/encoding: base64 in the four variants k6 names (others mean std).
const py = globalThis.__k6host.call

function toLatin1(input) {
  if (typeof input === "string") return { text: input, binary: false }
  let bytes
  if (input instanceof ArrayBuffer) bytes = new Uint8Array(input)
  else if (ArrayBuffer.isView(input)) bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
  else throw new TypeError("b64encode expects a string or an ArrayBuffer")
  let s = ""
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192))
  return { text: s, binary: true }
}

function b64encode(input, encoding) {
  const { text, binary } = toLatin1(input)
  return py("encoding.b64encode", text, binary, String(encoding || "std"))
}

function b64decode(input, encoding, format) {
  if (typeof input !== "string") throw new TypeError("b64decode expects a string")
  const latin1 = py("encoding.b64decode", input, String(encoding || "std"))
  if (format === "s") return py("encoding.utf8", latin1)
  const bytes = new Uint8Array(latin1.length)
  for (let i = 0; i < latin1.length; i++) bytes[i] = latin1.charCodeAt(i)
  return bytes.buffer
}

exports.b64encode = b64encode
exports.b64decode = b64decode
