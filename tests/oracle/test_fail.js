import { check } from 'k6'
import exec from 'k6/execution'
export { handleSummary } from './lib/summary.js'

// test.fail() marks the run failed (exit code 110) but lets it finish.
export const options = {
  scenarios: { only: { executor: 'shared-iterations', vus: 2, iterations: 6 } },
  thresholds: { checks: ['rate==1'] },
}

export default function () {
  if (exec.scenario.iterationInTest === 1) {
    exec.test.fail('one bad iteration')
  }
  check(true, { 'still running': (v) => v })
}
