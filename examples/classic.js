// The classic k6/x/tcp API of the older community extension
// (github.com/NAlexandrov/xk6-tcp): blocking calls on a connection made in
// the init context, one per VU. Run: k6host run --with-echo examples/classic.js
import tcp from "k6/x/tcp"
import { check } from "k6"

const conn = tcp.connect(`${__ENV.TCP_ECHO_HOST}:${__ENV.TCP_ECHO_PORT}`)

export const options = { vus: 2, iterations: 10 }

export default function () {
  tcp.writeLn(conn, "Say Hello")
  const res = String.fromCharCode(...tcp.read(conn, 1024, 5000))
  check(res, { "echoed": (r) => r.includes("Hello") })
}
