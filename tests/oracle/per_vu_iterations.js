import { check, sleep } from 'k6'
import exec from 'k6/execution'
export { handleSummary } from './lib/summary.js'

export const options = {
  scenarios: {
    per_vu: { executor: 'per-vu-iterations', vus: 3, iterations: 4, maxDuration: '5s' },
  },
}

export default function () {
  check(exec.vu.iterationInScenario, { 'iteration below 4': (i) => i < 4, 'first iteration': (i) => i === 0 })
  sleep(0.02)
}
