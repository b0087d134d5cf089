// W3 reference: Node writes 64 KiB blocks, 64 MiB in all, reading the echo.
const net = require("net")
const CHUNK = 64 * 1024
const TOTAL = Number(process.env.BULK_MIB || 64) * 1024 * 1024
const block = Buffer.alloc(CHUNK, 7)
const s = net.connect(Number(process.env.TCP_ECHO_PORT), process.env.TCP_ECHO_HOST, async () => {
  const started = process.hrtime.bigint()
  let received = 0
  s.on("data", (d) => {
    received += d.length
    if (received >= TOTAL) {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      console.log(`RESULT ${JSON.stringify({ bytes: received, seconds })}`)
      s.destroy()
    }
  })
  for (let sent = 0; sent < TOTAL; sent += CHUNK) {
    if (!s.write(block)) await new Promise((r) => s.once("drain", r))
  }
})
