import { check } from 'k6'
export { handleSummary } from './lib/summary.js'

export const options = { iterations: 2 }

export function setup() {
  throw new Error('setup went wrong')
}

export default function () {
  check(null, { 'default ran': () => true })
}

export function teardown() {
  check(null, { 'teardown ran': () => true })
}
