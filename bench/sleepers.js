// W4 memory: VUs that each hold an open socket and sleep.
import { Socket } from "k6/x/tcp"
import { sleep } from "k6"

export const options = {
  scenarios: { hold: { executor: "per-vu-iterations", vus: Number(__ENV.VUS || 1000), iterations: 1, maxDuration: "5m" } },
}

export default async function () {
  const socket = new Socket()
  await socket.connect(__ENV.TCP_ECHO_PORT, __ENV.TCP_ECHO_HOST)
  sleep(Number(__ENV.HOLD || 20))
  socket.destroy()
}
