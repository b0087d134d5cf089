// W1 reference: the same ping-pong with Node's net module.
const net = require("net")
const N = Number(process.env.ROUND_TRIPS || 20000)
const socket = net.connect(Number(process.env.TCP_ECHO_PORT), process.env.TCP_ECHO_HOST, () => {
  socket.setNoDelay(true)
  let left = N
  const started = process.hrtime.bigint()
  socket.on("data", () => {
    left -= 1
    if (left > 0) socket.write("ping")
    else {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      console.log(`RESULT ${JSON.stringify({ round_trips: N, seconds })}`)
      socket.destroy()
    }
  })
  socket.write("ping")
})
