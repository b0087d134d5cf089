export { handleSummary } from './lib/summary.js'

export const options = {
  scenarios: { only: { executor: 'shared-iterations', exec: 'nowhere', iterations: 1 } },
}

export default function () {}
