export { handleSummary } from './lib/summary.js'

export const options = { iterations: 1 }

throw new Error('broken init code')

export default function () {}
