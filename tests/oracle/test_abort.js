import { check, sleep } from 'k6'
import exec from 'k6/execution'
export { handleSummary } from './lib/summary.js'

// test.abort() in the 4th iteration: exit code 108, teardown still runs.
export const options = {
  scenarios: { only: { executor: 'shared-iterations', vus: 1, iterations: 20 } },
}

export default function () {
  check(exec.scenario.iterationInTest, { 'before the abort': (i) => i < 3 })
  if (exec.scenario.iterationInTest === 3) {
    exec.test.abort('enough')
  }
  sleep(0.01)
}

export function teardown() {
  check(null, { 'teardown ran': () => true })
}
