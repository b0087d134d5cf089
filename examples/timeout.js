// timeout: an idle timeout fires when nothing arrives; the socket stays open
// until the script destroys it.
//   k6host run --with-echo examples/timeout.js
import { Socket } from "k6/x/tcp"
import { check } from "k6"

const HOST = __ENV.TCP_ECHO_HOST || "127.0.0.1"
const PORT = __ENV.TCP_ECHO_PORT || "7"

export default async function () {
  const socket = new Socket()
  let timeouts = 0
  const started = Date.now()
  const done = new Promise((resolve) => {
    socket.on("timeout", () => {
      timeouts += 1
      console.log(`idle for ${Date.now() - started} ms (timeout #${timeouts}), still ${socket.ready_state}`)
      if (timeouts === 2) {
        socket.destroy()
        resolve()
      }
    })
  })

  socket.setTimeout(200)
  await socket.connect(PORT, HOST)
  await done
  check(timeouts, { "timed out twice before destroy": (n) => n === 2 })
}
