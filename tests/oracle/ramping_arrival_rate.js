import { sleep } from 'k6'
export { handleSummary } from './lib/summary.js'

export const options = {
  scenarios: {
    arrivals: {
      executor: 'ramping-arrival-rate',
      startRate: 10,
      timeUnit: '1s',
      preAllocatedVUs: 2,
      maxVUs: 5,
      stages: [
        { duration: '1s', target: 30 },
        { duration: '1s', target: 30 },
      ],
    },
  },
}

export default function () {
  sleep(0.05)
}
