// tls: a TLS connection verified against a test CA.
// In one shell:   k6host echo --tls --port 8443
//   (it prints the CA file's path)
// In another:     SSL_CERT_FILE=<that CA file> k6host run -e TCP_ECHO_PORT=8443 examples/tls.js
// SSL_CERT_FILE makes the CA trusted the way any OpenSSL program takes it.
import { Socket } from "k6/x/tcp"
import { check } from "k6"

const HOST = __ENV.TCP_ECHO_TLS_HOST || "localhost"
const PORT = __ENV.TCP_ECHO_TLS_PORT || __ENV.TCP_ECHO_PORT || "8443"

export default async function () {
  const socket = new Socket()
  const reply = new Promise((resolve, reject) => {
    socket.on("data", (data) => resolve(String.fromCharCode.apply(null, data)))
    socket.on("error", reject)
  })
  await socket.connect({ port: PORT, host: HOST, tls: true })
  await socket.write("over TLS")
  const text = await reply
  console.log("received over TLS:", text)
  check(text, { "TLS echo": (t) => t === "over TLS" })
  socket.destroy()
}
