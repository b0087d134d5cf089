// binary: length-prefixed frames built with ArrayBuffer/DataView/Uint8Array,
// parsed back from the echo as the bytes arrive in whatever chunks.
//   k6host run --with-echo examples/binary.js
import { Socket } from "k6/x/tcp"
import { check } from "k6"

const HOST = __ENV.TCP_ECHO_HOST || "127.0.0.1"
const PORT = __ENV.TCP_ECHO_PORT || "7"

// A frame: 2-byte big-endian length, then the payload.
function frame(payload) {
  const buffer = new ArrayBuffer(2 + payload.length)
  new DataView(buffer).setUint16(0, payload.length)
  new Uint8Array(buffer, 2).set(payload)
  return buffer
}

export default async function () {
  const payloads = [
    new Uint8Array([0, 1, 2, 254, 255]),
    Uint8Array.from({ length: 300 }, (_, i) => i % 256),
    new Uint8Array([]),
  ]
  const socket = new Socket()
  let pending = new Uint8Array(0)
  const frames = []
  const allFrames = new Promise((resolve) => {
    socket.on("data", (chunk) => {
      const joined = new Uint8Array(pending.length + chunk.length)
      joined.set(pending)
      joined.set(chunk, pending.length)
      pending = joined
      while (pending.length >= 2) {
        const length = (pending[0] << 8) | pending[1]
        if (pending.length < 2 + length) break
        frames.push(pending.slice(2, 2 + length))
        pending = pending.slice(2 + length)
      }
      if (frames.length === payloads.length) resolve()
    })
  })

  await socket.connect({ port: PORT, host: HOST })
  for (const p of payloads) await socket.write(frame(p))
  await allFrames

  const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i])
  check(frames, {
    "three frames back": (f) => f.length === 3,
    "payloads intact": (f) => f.every((got, i) => same(got, payloads[i])),
  })
  console.log("frame lengths:", frames.map((f) => f.length))
  socket.destroy()
}
