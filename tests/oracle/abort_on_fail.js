import { check, sleep } from 'k6'
export { handleSummary } from './lib/summary.js'

// Every check fails; abortOnFail stops the test once delayAbortEval has passed,
// long before the 3s are up (thresholds are evaluated every 2s).
export const options = {
  scenarios: { steady: { executor: 'constant-vus', vus: 2, duration: '3s' } },
  thresholds: {
    checks: [{ threshold: 'rate>0.9', abortOnFail: true, delayAbortEval: '1s' }],
    iterations: ['count>0'],
  },
}

export default function () {
  check(1, { 'never true': (v) => v === 2 })
  sleep(0.1)
}
