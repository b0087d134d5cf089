import { check, sleep } from 'k6'
export { handleSummary } from './lib/summary.js'

export const options = {
  scenarios: {
    shared: { executor: 'shared-iterations', vus: 3, iterations: 13, maxDuration: '5s' },
  },
}

export default function () {
  check(__VU, { 'vu is known': (vu) => vu >= 1 && vu <= 3 })
  sleep(0.02)
}
