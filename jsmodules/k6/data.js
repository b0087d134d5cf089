// k6/data: SharedArray. The data lives once in Python; each VU sees a
// read-only array-like view that fetches items on access.
const py = globalThis.call_python

function isIndex(key) {
  return typeof key === "string" && /^(0|[1-9]\d*)$/.test(key)
}

function SharedArray(name, build) {
  if (!new.target) throw new TypeError("SharedArray must be called with new")
  if (typeof name !== "string" || name === "") throw new TypeError("SharedArray needs a non-empty name")
  let length = py("shared.length", name)
  if (length === null) {
    if (typeof build !== "function") throw new TypeError("SharedArray needs a function that returns an array")
    const data = build()
    if (!Array.isArray(data)) throw new TypeError("SharedArray's function must return an array")
    length = py("shared.store", name, JSON.stringify(data))
  }
  const readOnly = () => {
    throw new TypeError("SharedArray is read-only")
  }
  return new Proxy([], {
    get(target, key) {
      if (key === "length") return length
      if (isIndex(key)) {
        const i = Number(key)
        return i < length ? py("shared.item", name, i) : undefined
      }
      if (key === Symbol.iterator) {
        return function* () {
          for (let i = 0; i < length; i++) yield py("shared.item", name, i)
        }
      }
      return Reflect.get(target, key)
    },
    has(target, key) {
      if (isIndex(key)) return Number(key) < length
      return Reflect.has(target, key)
    },
    set: readOnly,
    deleteProperty: readOnly,
    defineProperty: readOnly,
    ownKeys() {
      return Array.from({ length }, (_, i) => String(i)).concat(["length"])
    },
    getOwnPropertyDescriptor(target, key) {
      if (key === "length") return { value: length, writable: true, enumerable: false, configurable: false }
      if (isIndex(key) && Number(key) < length) {
        return { value: py("shared.item", name, Number(key)), writable: false, enumerable: true, configurable: true }
      }
      return undefined
    },
  })
}

exports.SharedArray = SharedArray
