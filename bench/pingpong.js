// W1 ping-pong: one socket, a 4-byte message, N round trips, one at a time.
import { Socket } from "k6/x/tcp"

const N = Number(__ENV.ROUND_TRIPS || 20000)

export default async function () {
  const socket = new Socket()
  let left = N
  let started = 0
  const done = new Promise((resolve) => {
    socket.on("data", () => {
      left -= 1
      if (left > 0) socket.write("ping")
      else resolve()
    })
  })
  await socket.connect(__ENV.TCP_ECHO_PORT, __ENV.TCP_ECHO_HOST)
  started = Date.now()
  socket.write("ping")
  await done
  const seconds = (Date.now() - started) / 1000
  console.log(`RESULT ${JSON.stringify({ round_trips: N, seconds })}`)
  socket.destroy()
}
