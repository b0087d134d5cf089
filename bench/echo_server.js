// The benchmark's echo server: Node's net, so the server is never what is measured.
// Prints its port on stdout, then serves until killed.
const net = require("net")
const server = net.createServer((c) => {
  c.setNoDelay(true)
  c.on("data", (d) => {
    if (!c.write(d)) {
      c.pause()
      c.once("drain", () => c.resume())
    }
  })
  c.on("error", () => {})
})
server.listen(0, "127.0.0.1", () => console.log(server.address().port))
