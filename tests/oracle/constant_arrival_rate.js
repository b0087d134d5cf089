import { sleep } from 'k6'
export { handleSummary } from './lib/summary.js'

export const options = {
  scenarios: {
    arrivals: {
      executor: 'constant-arrival-rate',
      rate: 20,
      timeUnit: '1s',
      duration: '2s',
      preAllocatedVUs: 2,
      maxVUs: 4,
    },
  },
}

export default function () {
  sleep(0.05)
}
