import { check } from 'k6'
export { handleSummary } from './lib/summary.js'

// Each VU gets its own copy of setup()'s data: what one iteration changes,
// the VU's later iterations see; other VUs and teardown() do not.
export const options = {
  scenarios: { only: { executor: 'per-vu-iterations', vus: 2, iterations: 3 } },
}

export function setup() {
  check(null, { 'setup runs': () => true })
  return { count: 0, list: ['a'], nested: { flag: false } }
}

export default function (data) {
  check(data, {
    'data arrives': (d) => d !== undefined && Array.isArray(d.list),
    'first iteration sees a fresh copy': (d) => d.count === 0 && d.list.length === 1 && !d.nested.flag,
    'iterations of one VU share the copy': (d) => d.count === __ITER,
  })
  data.count += 1
  data.list.push(__VU)
  data.nested.flag = true
}

export function teardown(data) {
  check(data, {
    'teardown gets setup data unchanged': (d) => d.count === 0 && d.list.length === 1 && d.nested.flag === false,
  })
}
