// The JavaScript side of `k6host repl`: showing values and completing names.
(function (g) {
  const host = g.__k6host
  const py = g.call_python
  function preview(u8) {
    let text = ""
    for (let i = 0; i < Math.min(u8.length, 64); i++) {
      const c = u8[i]
      text += c >= 32 && c < 127 ? String.fromCharCode(c) : "."
    }
    return JSON.stringify(text + (u8.length > 64 ? "..." : ""))
  }
  function show(v) {
    if (typeof v === "string") return JSON.stringify(v)
    if (v instanceof Error) return host.errorText(v)
    if (v instanceof Uint8Array) return "Uint8Array(" + v.length + ") [" + Array.prototype.slice.call(v, 0, 64).join(", ") + (v.length > 64 ? ", ..." : "") + "] " + preview(v)
    if (v instanceof ArrayBuffer) return "ArrayBuffer(" + v.byteLength + ") " + preview(new Uint8Array(v))
    if (typeof v === "function") return "[Function: " + (v.name || "anonymous") + "]"
    if (v !== null && typeof v === "object" && v.constructor && v.constructor !== Object && !Array.isArray(v)) {
      const props = {}
      for (const k of Object.keys(v)) props[k] = v[k]
      const getters = Object.entries(Object.getOwnPropertyDescriptors(Object.getPrototypeOf(v)))
        .filter(([k, d]) => d.get && k !== "__proto__")
      for (const [k] of getters) { try { props[k] = v[k] } catch (e) {} }
      return v.constructor.name + " " + host.format(props)
    }
    return host.format(v)
  }
  host.repl = {
    run(code, isAsync) {
      if (!isAsync) {
        py("repl.done", show((0, eval)(code)), false)
        return
      }
      const p = (0, eval)(code)
      p.then((v) => py("repl.done", show(v), false), (e) => py("repl.done", host.errorText(e), true))
    },
    complete(path) {
      let target = g
      if (path) {
        for (const part of path.split(".")) {
          if (target === null || target === undefined) return []
          target = target[part]
        }
      }
      const names = new Set()
      for (let o = target; o !== null && o !== undefined && names.size < 2000; o = Object.getPrototypeOf(o)) {
        for (const k of Object.getOwnPropertyNames(Object(o))) names.add(k)
      }
      return Array.from(names).filter((k) => !k.startsWith("__k6host") && k !== "call_python").sort()
    },
  }
})(globalThis);
undefined
