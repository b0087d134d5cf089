// W2 reference: Node with 10 concurrent loops doing the same iteration.
const net = require("net")
const LOOPS = Number(process.env.VUS || 10)
const SECONDS = parseFloat(process.env.DURATION || "20")
const MESSAGE = Buffer.from("x".repeat(64))
const host = process.env.TCP_ECHO_HOST, port = Number(process.env.TCP_ECHO_PORT)

function once() {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host, () => s.write(MESSAGE))
    let got = 0
    s.on("data", (d) => { got += d.length; if (got >= MESSAGE.length) { s.destroy(); resolve() } })
    s.on("error", reject)
  })
}

async function loop(until) {
  let n = 0
  while (Date.now() < until) { await once(); n++ }
  return n
}

const started = Date.now()
Promise.all(Array.from({ length: LOOPS }, () => loop(started + SECONDS * 1000))).then((counts) => {
  const seconds = (Date.now() - started) / 1000
  console.log(`RESULT ${JSON.stringify({ iterations: counts.reduce((a, b) => a + b, 0), seconds })}`)
})
