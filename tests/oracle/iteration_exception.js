import { check } from 'k6'
import exec from 'k6/execution'
export { handleSummary } from './lib/summary.js'

// An exception ends its iteration (logged), not the test: exit code 0.
export const options = {
  scenarios: { only: { executor: 'shared-iterations', vus: 2, iterations: 6 } },
}

export default function () {
  check(null, { 'before the throw': () => true })
  if (exec.scenario.iterationInTest % 2 === 0) throw new Error('every other one')
  check(null, { 'after the throw': () => true })
}
