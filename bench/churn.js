// W2 churn: each iteration connects, writes 64 bytes, reads the echo, destroys.
import { Socket } from "k6/x/tcp"
import { Counter } from "k6/metrics"

const MESSAGE = "x".repeat(64)
const done = new Counter("churn_done")

export const options = {
  vus: Number(__ENV.VUS || 10),
  duration: __ENV.DURATION || "20s",
}

export default async function () {
  const socket = new Socket()
  let got = 0
  const echoed = new Promise((resolve) => {
    socket.on("data", (d) => {
      got += d.length
      if (got >= MESSAGE.length) resolve()
    })
  })
  await socket.connect(__ENV.TCP_ECHO_PORT, __ENV.TCP_ECHO_HOST)
  await socket.write(MESSAGE)
  await echoed
  socket.destroy()
  done.add(1)
}

export function handleSummary(data) {
  const seconds = data.state.testRunDurationMs / 1000
  const count = data.metrics.churn_done ? data.metrics.churn_done.values.count : 0
  return { stdout: `RESULT ${JSON.stringify({ iterations: count, seconds })}\n` }
}
