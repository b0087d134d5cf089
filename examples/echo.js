// echo: several messages in turn on one connection, each awaited before the next.
//   k6host run --with-echo examples/echo.js
import { Socket } from "k6/x/tcp"
import { check } from "k6"

const HOST = __ENV.TCP_ECHO_HOST || "127.0.0.1"
const PORT = __ENV.TCP_ECHO_PORT || "7"
const MESSAGES = ["first", "second", "third", "fourth", "fifth"]

export default async function () {
  const socket = new Socket()
  let received = ""
  let waiting = null
  socket.on("data", (data) => {
    received += String.fromCharCode.apply(null, new Uint8Array(data))
    if (waiting && received.length >= waiting.length) {
      const done = waiting
      waiting = null
      done.resolve()
    }
  })

  // Resolves once `length` bytes have arrived in total.
  const until = (length) =>
    new Promise((resolve) => {
      waiting = { length, resolve }
      if (received.length >= length) {
        waiting = null
        resolve()
      }
    })

  await socket.connect(PORT, HOST)
  let expected = ""
  for (const message of MESSAGES) {
    expected += message
    await socket.write(message)
    await until(expected.length)
    console.log(`sent ${message}, echo so far: ${received}`)
  }
  check(received, { "every message echoed in order": (r) => r === MESSAGES.join("") })
  socket.destroy()
}
