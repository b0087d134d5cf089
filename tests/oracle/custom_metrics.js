import { Counter, Gauge, Rate, Trend } from 'k6/metrics'
export { handleSummary } from './lib/summary.js'

const hits = new Counter('my_hits')
const level = new Gauge('my_level')
const good = new Rate('my_good')
const took = new Trend('my_took', true)
const sizes = new Trend('my_sizes')
const unused = new Counter('my_unused')

export const options = {
  scenarios: { only: { executor: 'per-vu-iterations', vus: 2, iterations: 5 } },
  thresholds: {
    my_hits: ['count==40', 'count<40'],
    my_level: ['value>0'],
    my_good: ['rate>0.5', 'rate<0.7'],
    my_took: ['p(95)<100', 'max<=50'],
    'my_took{kind:fast}': ['max<10'],
    my_sizes: ['avg>=3', 'min==1'],
  },
}

export default function () {
  hits.add(2)
  hits.add(2, { kind: 'extra' })
  level.add(__VU * 10 + __ITER)
  good.add(__ITER < 3)
  took.add(__ITER * 10 + 5, { kind: __ITER < 1 ? 'fast' : 'slow' })
  sizes.add(__ITER + 1)
}
