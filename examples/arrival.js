// arrival: an open model. 200 iterations start every second for ten seconds,
// whatever the VUs are doing; iterations that find no free VU are dropped.
//   k6host run --with-echo examples/arrival.js
import { Socket } from "k6/x/tcp"

export const options = {
  scenarios: {
    steady: {
      executor: "constant-arrival-rate",
      rate: 200,
      timeUnit: "1s",
      duration: "10s",
      preAllocatedVUs: 20,
      maxVUs: 50,
    },
  },
  thresholds: {
    dropped_iterations: ["count==0"],
    iterations: ["count>=1960", "count<=2040"],
  },
}

export default async function () {
  const socket = new Socket()
  const echoed = new Promise((resolve) => socket.on("data", resolve))
  await socket.connect(__ENV.TCP_ECHO_PORT, __ENV.TCP_ECHO_HOST)
  await socket.write("ping")
  await echoed
  socket.destroy()
}
