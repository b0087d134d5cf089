// k6/data: SharedArray. The data lives once in Python; each VU sees a
// read-only array-like view that fetches (frozen) items on access.
const goError = native.goError

function isIndex(key) {
  return typeof key === "string" && /^(0|[1-9]\d*)$/.test(key)
}

// Items are read-only all the way down, with the words k6's engine uses.
function readOnly(value) {
  if (value === null || typeof value !== "object") return value
  const refuse = (_, key) => {
    throw new TypeError(`Cannot assign to read only property '${String(key)}'`)
  }
  return new Proxy(value, {
    get: (target, key) => readOnly(Reflect.get(target, key)),
    set: refuse,
    deleteProperty: refuse,
    defineProperty: refuse,
    setPrototypeOf: refuse,
  })
}

const immutable = () => {
  throw new TypeError("SharedArray is immutable")
}

function SharedArray(name, build) {
  if (typeof name !== "string" || name === "") throw goError("empty name provided to SharedArray's constructor")
  // Python refuses this outside the init context; null: nobody built it yet.
  let length = native.call("length", name)
  if (length === null || length === undefined) {
    if (typeof build !== "function") throw goError("a function is expected as the second argument of SharedArray's constructor")
    const data = build()
    if (!Array.isArray(data)) throw goError("only arrays can be made into SharedArray")
    length = native.call("store", name, JSON.stringify(data))
  }
  const item = (i) => readOnly(native.call("item", name, i))
  const view = new Proxy([], {
    get(target, key) {
      if (key === "length") return length
      if (isIndex(key)) return Number(key) < length ? item(Number(key)) : undefined
      if (key === Symbol.iterator) {
        return function* () {
          for (let i = 0; i < length; i++) yield item(i)
        }
      }
      if (["push", "pop", "shift", "unshift", "splice", "sort", "reverse", "fill", "copyWithin"].includes(key)) {
        return immutable
      }
      return Reflect.get(target, key, view)
    },
    has(target, key) {
      if (isIndex(key)) return Number(key) < length
      return Reflect.has(target, key)
    },
    set: immutable,
    deleteProperty: immutable,
    defineProperty: immutable,
    ownKeys() {
      return Array.from({ length }, (_, i) => String(i)).concat(["length"])
    },
    getOwnPropertyDescriptor(target, key) {
      if (key === "length") return { value: length, writable: true, enumerable: false, configurable: false }
      if (isIndex(key) && Number(key) < length) {
        return { value: item(Number(key)), writable: false, enumerable: true, configurable: true }
      }
      return undefined
    },
  })
  return view
}

exports.SharedArray = SharedArray
