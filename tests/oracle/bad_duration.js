export { handleSummary } from './lib/summary.js'

export const options = {
  scenarios: { only: { executor: 'constant-vus', vus: 1, duration: 'soon' } },
}

export default function () {}
