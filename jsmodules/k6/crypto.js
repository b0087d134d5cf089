// k6/crypto: hashes, HMACs and random bytes, as k6 1.1.0 has them. The hash
// state is on the Python side (modules/k6/crypto.py); a Hasher holds its number.
//
// k6 hashes a string (as UTF-8), an ArrayBuffer or a Uint8Array (its Go
// []byte); every other value is refused with the Go type k6 converted it to.

const TYPED_ARRAYS = [
  [Int8Array, "[]int8"], [Int16Array, "[]int16"], [Uint16Array, "[]uint16"], [Int32Array, "[]int32"],
  [Uint32Array, "[]uint32"], [Float32Array, "[]float32"], [Float64Array, "[]float64"],
  [BigInt64Array, "[]int64"], [BigUint64Array, "[]uint64"],
]

function goType(value) {
  if (value === null || value === undefined) return "<nil>"
  if (value instanceof Number) value = value.valueOf()
  if (value instanceof Boolean || typeof value === "boolean") return "bool"
  if (typeof value === "number") return Number.isSafeInteger(value) && !Object.is(value, -0) ? "int64" : "float64"
  if (typeof value === "bigint") return "*big.Int"
  if (typeof value === "function") return "func(sobek.FunctionCall) sobek.Value"
  for (const [Kind, name] of TYPED_ARRAYS) if (value instanceof Kind) return name
  if (Array.isArray(value) || value instanceof Set) return "[]interface {}"
  if (value instanceof Map) return "[][2]interface {}"
  if (value instanceof Date) return "time.Time"
  if (value instanceof Promise) return "*sobek.Promise"
  return "map[string]interface {}"
}

// Calls `fn` with `args`, then what `value` gives the Python side: its text,
// or null with its bytes beside the call, and the Go type of a refused value.
function withInput(fn, value, ...args) {
  if (typeof value === "string") return native.call(fn, ...args, value, null)
  // k6 gets a symbol's description, as a string.
  if (typeof value === "symbol") return native.call(fn, ...args, value.description || "", null)
  if (value instanceof ArrayBuffer || value instanceof Uint8Array || value instanceof Uint8ClampedArray) {
    return native.callWithBytes(native.bytesOf(value), fn, ...args, null, null)
  }
  return native.call(fn, ...args, null, goType(value))
}

// k6's string parameters: null and undefined are "", anything else its String().
function text(value) {
  return value === null || value === undefined ? "" : String(value)
}

// A digest is a string, or for "binary" an ArrayBuffer handed over beside the call.
function output(result) {
  return typeof result === "string" ? result : native.takeReturned().buffer
}

// Hashers the script lost release their Python state.
const released = new FinalizationRegistry((number) => native.call("drop", number))

function hasher(number) {
  const h = {
    digest(outputEncoding) {
      return output(native.call("digest", number, text(outputEncoding)))
    },
    // k6 takes no input encoding; the Python side warns once if one is given.
    update(input) {
      withInput("update", input, number, arguments.length > 1)
    },
  }
  released.register(h, number)
  return h
}

function createHash(algorithm) {
  return hasher(native.call("createHash", text(algorithm)))
}

function createHMAC(algorithm, secret) {
  return hasher(withInput("createHMAC", secret, text(algorithm)))
}

// One-shot calls convert every argument first, as k6 does before its Go
// function runs, so nothing can throw between making a hash and finishing it.
function hmac(algorithm, secret, data, outputEncoding) {
  const [name, encoding] = [text(algorithm), text(outputEncoding)]
  const number = withInput("createHMAC", secret, name)
  return output(withInput("finish", data, number, encoding, ""))
}

function shorthand(algorithm) {
  return function (input, outputEncoding) {
    const encoding = text(outputEncoding)
    const number = native.call("createHash", algorithm)
    return output(withInput("finish", input, number, encoding, algorithm + " failed: "))
  }
}

function hexEncode(data) {
  return withInput("hexEncode", data)
}

// k6 converts the size as Go does an int: truncated; what is no number is 0.
function randomBytes(size) {
  const n = Number(size)
  native.call("randomBytes", Number.isNaN(n) ? 0 : Number.isFinite(n) ? Math.trunc(n) : Math.sign(n) * Number.MAX_VALUE)
  return native.takeReturned().buffer
}

exports.createHash = createHash
exports.createHMAC = createHMAC
exports.hmac = hmac
for (const name of ["md4", "md5", "sha1", "sha256", "sha384", "sha512", "sha512_224", "sha512_256", "ripemd160"]) {
  exports[name] = shorthand(name)
}
exports.hexEncode = hexEncode
exports.randomBytes = randomBytes
