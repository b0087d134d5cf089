// state: ready_state through a socket's life, and the byte counters.
//   k6host run --with-echo examples/state.js
import { Socket } from "k6/x/tcp"
import { check } from "k6"

const HOST = __ENV.TCP_ECHO_HOST || "127.0.0.1"
const PORT = __ENV.TCP_ECHO_PORT || "7"

export default async function () {
  const socket = new Socket()
  const states = [socket.ready_state]

  const echoed = new Promise((resolve) => {
    let total = 0
    socket.on("data", (data) => {
      total += data.length
      if (total === 11) resolve()
    })
  })
  const closed = new Promise((resolve) => socket.on("close", resolve))

  const connecting = socket.connect(PORT, HOST)
  states.push(socket.ready_state)
  await connecting
  states.push(socket.ready_state)
  console.log(`local ${socket.local_ip}:${socket.local_port} -> remote ${socket.remote_ip}:${socket.remote_port}`)

  await socket.write("hello world")
  await echoed
  console.log(`bytes_written=${socket.bytes_written} bytes_read=${socket.bytes_read} connected=${socket.connected}`)

  socket.destroy()
  states.push(socket.ready_state)
  await closed
  console.log("states:", states.join(" -> "))

  check(socket, {
    "went disconnected, opening, open, destroyed": () =>
      states.join(",") === "disconnected,opening,open,destroyed",
    "counted 11 bytes each way": (s) => s.bytes_written === 11 && s.bytes_read === 11,
    "not connected after destroy": (s) => s.connected === false,
  })
}
