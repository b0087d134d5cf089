// A k6 script using the k6/x/redis extension (pip install ./examples/k6host-redis).
// Point it at a Redis server with REDIS_ADDR (default 127.0.0.1:6379).
import { Client } from "k6/x/redis"
import { check } from "k6"

export const options = {
  vus: 2,
  iterations: 20,
  thresholds: { checks: ["rate==1"], redis_errors: ["count==0"] },
}

const client = new Client(__ENV.REDIS_ADDR || "127.0.0.1:6379")

export default async function () {
  const key = `k6host:${__VU}:${__ITER}`
  await client.set(key, "hello")
  check(await client.get(key), { "read back what was written": (v) => v === "hello" })
  check(await client.incr("k6host:counter"), { "counter counts": (n) => Number.isInteger(n) && n > 0 })
  await client.del(key)
}
