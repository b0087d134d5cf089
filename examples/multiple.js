// multiple: several sockets at once in one VU, joined with Promise.all.
//   k6host run --with-echo examples/multiple.js
import { Socket } from "k6/x/tcp"
import { check } from "k6"

const HOST = __ENV.TCP_ECHO_HOST || "127.0.0.1"
const PORT = __ENV.TCP_ECHO_PORT || "7"

async function roundTrip(n) {
  const socket = new Socket({ tags: { client: `c${n}` } })
  const reply = new Promise((resolve) => {
    socket.on("data", (data) => resolve(String.fromCharCode.apply(null, data)))
  })
  await socket.connect(PORT, HOST)
  await socket.write(`message ${n}`)
  const text = await reply
  socket.destroy()
  return text
}

export default async function () {
  const replies = await Promise.all([1, 2, 3, 4, 5].map(roundTrip))
  console.log("replies:", replies)
  check(replies, {
    "all five answered": (r) => r.length === 5,
    "each got its own echo": (r) => r.every((text, i) => text === `message ${i + 1}`),
  })
}
