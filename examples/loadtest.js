// loadtest: a small TCP load test with thresholds, as a k6 user writes one.
//   k6host run --with-echo examples/loadtest.js
// Five VUs for ten seconds; each iteration opens a connection, sends a line,
// checks the echo and closes. The run fails (exit 99) if a threshold is crossed.
import { Socket } from "k6/x/tcp"
import { check, sleep } from "k6"

export const options = {
  vus: 5,
  duration: "10s",
  thresholds: {
    checks: ["rate==1"],
    tcp_socket_duration: ["p(95)<500"],
    tcp_errors: ["count==0"],
  },
}

const HOST = __ENV.TCP_ECHO_HOST || "127.0.0.1"
const PORT = __ENV.TCP_ECHO_PORT || "7"

export default async function () {
  const socket = new Socket({ tags: { test: "smoke" } })
  const message = `hello from VU ${__VU}, iteration ${__ITER}`
  const reply = new Promise((resolve, reject) => {
    let text = ""
    socket.on("data", (data) => {
      text += String.fromCharCode.apply(null, data)
      if (text.length >= message.length) resolve(text)
    })
    socket.on("error", reject)
  })
  await socket.connect(PORT, HOST)
  await socket.write(message)
  check(await reply, { "echo matches": (text) => text === message })
  socket.destroy()
  sleep(0.1)
}
