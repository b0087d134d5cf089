import { check, sleep } from 'k6'
import exec from 'k6/execution'
export { handleSummary } from './lib/summary.js'

// Three scenarios at once: different executors, startTime, exec and tags. The
// thresholds only make per-scenario submetrics appear in the summary.
export const options = {
  scenarios: {
    first: { executor: 'shared-iterations', exec: 'first', vus: 2, iterations: 6 },
    later: { executor: 'per-vu-iterations', exec: 'later', vus: 2, iterations: 3, startTime: '500ms', tags: { kind: 'late' } },
    steady: { executor: 'constant-vus', vus: 1, duration: '1200ms', startTime: '200ms' },
  },
  thresholds: {
    'iterations{scenario:first}': ['count==6'],
    'iterations{scenario:later}': ['count==6'],
    'iterations{scenario:steady}': ['count>0'],
    'checks{kind:late}': ['rate==1'],
  },
}

export function first() {
  check(exec.scenario.name, { 'first runs first': (n) => n === 'first' })
  sleep(0.02)
}

export function later() {
  check(exec.scenario.name, { 'later runs later': (n) => n === 'later' })
  sleep(0.02)
}

export default function () {
  check(exec.scenario.name, { 'steady runs default': (n) => n === 'steady' })
  sleep(0.1)
}
