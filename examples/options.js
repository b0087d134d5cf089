// options: tags at the three levels (socket, connection, write). Each metric
// sample carries the socket's tags, overridden by the connection's, then the
// write's.
//   k6host run --with-echo examples/options.js
import { Socket } from "k6/x/tcp"

const HOST = __ENV.TCP_ECHO_HOST || "127.0.0.1"
const PORT = Number(__ENV.TCP_ECHO_PORT || "7")

export default async function () {
  const socket = new Socket({ tags: { service: "echo", level: "socket" } })
  const reply = new Promise((resolve) => socket.on("data", resolve))

  await socket.connect({ port: PORT, host: HOST, tags: { level: "connection" } })
  await socket.write("tagged", { tags: { level: "write", kind: "greeting" } })
  await reply
  console.log("wrote and read with tags on every sample")
  socket.destroy()
}
