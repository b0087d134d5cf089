// The test k6-operator runs on every runner (see testrun.yaml). Each runner
// reports its own part in its summary; their --out files together are the whole.
import { Socket } from "k6/x/tcp"
import { check } from "k6"

export const options = {
  scenarios: {
    echo: { executor: "constant-vus", vus: 40, duration: "1m" },
  },
  thresholds: { checks: ["rate>0.99"] },
}

export default async function () {
  const socket = new Socket()
  const reply = new Promise((resolve) => socket.on("data", resolve))
  await socket.connect(Number(__ENV.TCP_ECHO_PORT), __ENV.TCP_ECHO_HOST)
  await socket.write("ping")
  check(await reply, { "echoed": (data) => data.length === 4 })
  socket.destroy()
}
