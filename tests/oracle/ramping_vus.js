import { sleep } from 'k6'
export { handleSummary } from './lib/summary.js'

export const options = {
  scenarios: {
    ramp: {
      executor: 'ramping-vus',
      startVUs: 1,
      stages: [
        { duration: '500ms', target: 4 },
        { duration: '1s', target: 4 },
        { duration: '500ms', target: 0 },
      ],
      gracefulRampDown: '0s',
    },
  },
}

export default function () {
  sleep(0.1)
}
