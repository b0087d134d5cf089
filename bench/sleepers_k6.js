// W4 reference for real k6 (which has no TCP module): VUs that only sleep.
import { sleep } from "k6"

export const options = {
  scenarios: { hold: { executor: "per-vu-iterations", vus: Number(__ENV.VUS || 1000), iterations: 1, maxDuration: "5m" } },
}

export default function () {
  sleep(Number(__ENV.HOLD || 20))
}
