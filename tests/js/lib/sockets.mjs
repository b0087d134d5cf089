// What the JavaScript contract tests share: bounded waits, and every socket a
// test opens, so that a failing test can close them all (an iteration, and so
// a test, ends only when none is left open).
import { Socket } from "k6/x/tcp"

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

const sockets = []

export function newSocket(options) {
  const s = new Socket(options)
  sockets.push(s)
  return s
}

export function bail(message) {
  for (const s of sockets) s.destroy()
  throw new Error(message)
}

// `promise`, or (closing every socket) a rejection naming `what` after `ms` milliseconds.
export function within(ms, what, promise) {
  let timer
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => {
      for (const s of sockets) s.destroy()
      reject(new Error(`${what}: nothing happened within ${ms} ms`))
    }, ms)
  })
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer))
}

export async function outcome(promise) {
  try {
    return ["resolved", await promise]
  } catch (e) {
    return ["rejected", e]
  }
}
