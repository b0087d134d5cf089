import { check, group, sleep } from 'k6'
import { Trend } from 'k6/metrics'
export { handleSummary } from './lib/summary.js'

const waited = new Trend('waited', true)

// Some thresholds hold, some are crossed: the run ends with exit code 99.
export const options = {
  scenarios: { only: { executor: 'per-vu-iterations', vus: 2, iterations: 5 } },
  thresholds: {
    checks: ['rate>0.4', 'rate>0.9'],
    'checks{check:always}': ['rate==1'],
    'checks{group:::half}': ['rate<0.6'],
    iterations: ['count==10', 'count>10'],
    iteration_duration: ['p(50)>=0', 'p(99.9)<0'],
    waited: ['p(90)<1000', 'p(10)>5'],
    'waited{phase:early}': ['max<25'],
    'waited{phase:late}': ['min>25'],
    group_duration: ['max>=0'],
  },
}

export default function () {
  check(true, { always: (v) => v })
  group('half', () => {
    check(__ITER, { 'even iteration': (i) => i % 2 === 0 })
  })
  waited.add(__ITER * 10, { phase: __ITER < 3 ? 'early' : 'late' })
  sleep(0.01)
}
