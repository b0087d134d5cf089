// W3 bulk: one socket, 64 KiB writes, 64 MiB in all, the echo read back.
import { Socket } from "k6/x/tcp"

const CHUNK = 64 * 1024
const TOTAL = Number(__ENV.BULK_MIB || 64) * 1024 * 1024

export default async function () {
  const socket = new Socket()
  const block = new Uint8Array(CHUNK).map((_, i) => i & 255)
  let received = 0
  const done = new Promise((resolve) => {
    socket.on("data", (d) => {
      received += d.length
      if (received >= TOTAL) resolve()
    })
  })
  await socket.connect(__ENV.TCP_ECHO_PORT, __ENV.TCP_ECHO_HOST)
  const started = Date.now()
  for (let sent = 0; sent < TOTAL; sent += CHUNK) await socket.write(block)
  await done
  const seconds = (Date.now() - started) / 1000
  console.log(`RESULT ${JSON.stringify({ bytes: received, seconds })}`)
  socket.destroy()
}
