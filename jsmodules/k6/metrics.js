// k6/metrics: custom metrics. Declared in init code; samples are recorded in
// Python with the VU's tags under the ones given here.

function metricClass(kind, className) {
  // A plain function, so that k6's `Counter("x")` without `new` works too.
  function Metric(name, isTime) {
    if (!(this instanceof Metric)) return new Metric(name, isTime)
    native.call("define", String(name), kind, !!isTime)
    this.name = String(name)
  }
  Object.defineProperty(Metric, "name", { value: className })
  Metric.prototype.add = function (value, tags) {
    let n = value
    if (typeof n === "boolean") n = n ? 1 : 0
    if (typeof n === "string" && n.trim() !== "") n = Number(n)
    if (typeof n !== "number" || Number.isNaN(n)) {
      // k6 records nothing, says why, and goes on.
      console.warn(`'${native.format(value)}' is an invalid value for metric '${this.name}', a number or a boolean value is expected`)
      return false
    }
    // JSON has no Infinity: send non-finite numbers as text.
    if (tags !== null && typeof tags === "object") {
      for (const k of Object.keys(tags)) {
        const v = tags[k]
        if (v !== null && v !== undefined && !["string", "number", "boolean"].includes(typeof v)) {
          throw native.goError(`cannot add tags for the '${this.name}' custom metric: invalid value for metric tag '${k}': ` +
            "only String, Boolean and Number types are accepted as a metric tag values")
        }
      }
    }
    native.call("add", this.name, Number.isFinite(n) ? n : String(n), native.tagsOf(tags))
    return true
  }
  return Metric
}

exports.Counter = metricClass("counter", "Counter")
exports.Gauge = metricClass("gauge", "Gauge")
exports.Rate = metricClass("rate", "Rate")
exports.Trend = metricClass("trend", "Trend")
