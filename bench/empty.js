// W7 empty iterations: one VU runs a function that does nothing, for 5 s.
// With RECORDS set, init code first keeps that many records from a JSON
// file (the common `JSON.parse(open(...))` pattern), so every iteration
// runs beside a large heap.
const records = __ENV.RECORDS_FILE ? JSON.parse(open(__ENV.RECORDS_FILE)) : []

export const options = { vus: 1, duration: __ENV.DURATION || "5s" }

export default function () {}

export function handleSummary(data) {
  const seconds = data.state.testRunDurationMs / 1000
  const iterations = data.metrics.iterations.values.count
  return { stdout: `RESULT ${JSON.stringify({ iterations, seconds, records: records.length })}\n` }
}
