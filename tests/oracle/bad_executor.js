export { handleSummary } from './lib/summary.js'

export const options = {
  scenarios: { only: { executor: 'fastest-possible', vus: 1 } },
}

export default function () {}
