// The global crypto: WebCrypto's random values, with k6 1.1.0's errors.
// crypto.subtle is not offered: reading it throws, rather than a script
// failing later on an undefined.

const INTEGER_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array]
const MAX_LENGTH = 65536  // k6 compares the length, not the byte length

// k6 throws WebCrypto's errors as a GoError whose `value` is { name, message }.
function domError(name, message) {
  const e = native.goError(name + ": " + message)
  e.value = { name, message }
  return e
}

function getRandomValues(typedArray) {
  if (typedArray === null || typedArray === undefined) {
    throw new TypeError("Cannot convert undefined or null to object")
  }
  if (!INTEGER_ARRAYS.some((Kind) => typedArray instanceof Kind)) {
    throw domError("TypeMismatchError", "typedArray parameter isn't a TypedArray instance")
  }
  if (typedArray.length > MAX_LENGTH) {
    throw domError("QuotaExceededError", "typedArray parameter is too big; maximum length is " + MAX_LENGTH)
  }
  if (typedArray.byteLength > 0) {
    native.call("fill", typedArray.byteLength)
    native.bytesOf(typedArray).set(native.takeReturned())
  }
  return typedArray
}

function randomUUID() {
  return native.call("randomUUID")
}

const crypto = { getRandomValues, randomUUID }
Object.defineProperty(crypto, "subtle", {
  get() {
    throw new Error("crypto.subtle (WebCrypto's SubtleCrypto) is not supported by k6host")
  },
})

exports.crypto = crypto
