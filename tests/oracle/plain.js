import { check, sleep } from 'k6'
export { handleSummary } from './lib/summary.js'

// No options: the command line says how many VUs and for how long.
export default function () {
  check(__VU, { 'has a VU number': (vu) => vu > 0 })
  sleep(0.05)
}
