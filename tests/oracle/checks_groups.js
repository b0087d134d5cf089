import { check, group } from 'k6'
export { handleSummary } from './lib/summary.js'

export const options = {
  scenarios: { only: { executor: 'shared-iterations', vus: 2, iterations: 6 } },
  thresholds: {
    'checks{kind:odd}': ['rate==1'],
    'checks{group:::outer::inner}': ['rate<1'],
  },
}

export default function () {
  check(__ITER, { 'top passes': () => true, 'top fails': () => false })
  check(3, { 'tagged odd': (v) => v % 2 === 1 }, { kind: 'odd' })
  group('outer', () => {
    check(1, { 'in outer': (v) => v === 1 })
    group('inner', () => {
      check(1, { 'in inner': (v) => v === 2, 'also in inner': (v) => v === 1 })
      group('deepest', () => {
        check(null, { 'truthy values pass': () => 'yes', 'falsy values fail': () => 0 })
      })
    })
  })
  group('second', () => {
    check(1, { 'in outer': (v) => v === 2 })
  })
}
