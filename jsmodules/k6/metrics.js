// k6/metrics: custom metrics. Declared in init code; samples are recorded in
// Python with the VU's tags under the ones given here.
const py = globalThis.call_python
const host = globalThis.__k6host

function metricClass(kind) {
  return class {
    constructor(name, isTime) {
      if (typeof name !== "string") throw new TypeError(`${kind} metric name must be a string`)
      py("metric.define", name, kind, !!isTime)
      this.name = name
    }
    add(value, tags) {
      const n = typeof value === "boolean" ? (value ? 1 : 0) : Number(value)
      if (Number.isNaN(n)) throw new TypeError(`${this.name}.add(): ${host.format(value)} is not a number`)
      const t = {}
      if (tags !== undefined && tags !== null) {
        if (typeof tags !== "object") throw new TypeError(`${this.name}.add(): tags must be an object`)
        for (const k of Object.keys(tags)) t[k] = String(tags[k])
      }
      py("metric.add", this.name, n, t)
      return true
    }
  }
}

exports.Counter = metricClass("counter")
exports.Gauge = metricClass("gauge")
exports.Rate = metricClass("rate")
exports.Trend = metricClass("trend")
