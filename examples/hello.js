// hello: connect, write, read the echo, close; async/await throughout.
//   k6host run --with-echo examples/hello.js
import { Socket } from "k6/x/tcp"
import { check } from "k6"

const HOST = __ENV.TCP_ECHO_HOST || "127.0.0.1"
const PORT = __ENV.TCP_ECHO_PORT || "7"

export default async function () {
  const socket = new Socket()

  const reply = new Promise((resolve, reject) => {
    socket.on("data", (data) => resolve(String.fromCharCode.apply(null, new Uint8Array(data))))
    socket.on("error", reject)
  })
  const closed = new Promise((resolve) => socket.on("close", resolve))

  await socket.connect(PORT, HOST)
  console.log(`connected to ${socket.remote_ip}:${socket.remote_port}`)
  await socket.write("Hello, server!")

  const text = await reply
  console.log("received:", text)
  check(text, { "echoed back": (t) => t === "Hello, server!" })

  socket.destroy()
  await closed
}
