"""Guards against QuickJS-NG's async-closure GC bug (CVE-2023-48184).

The pattern below made the process crash (SIGSEGV or a malloc abort) before
the runtime kept pending promises reachable. It runs in a subprocess so a
crash fails the test instead of killing pytest.
"""

from __future__ import annotations

from conftest import k6host

SCRIPT = """
import { Socket } from "k6/x/tcp"

function churn() {
  // Enough allocation to make QuickJS run its cycle collector.
  let junk = []
  for (let i = 0; i < 200000; i++) junk.push({ i })
  junk = null
}

export default async function () {
  const socket = new Socket()
  let waiting = null            // a local of the suspended async function...
  socket.on("data", () => {     // ...seen only through this closure
    churn()
    const w = waiting
    waiting = null
    if (w) w()
  })
  await socket.connect(__ENV.TCP_ECHO_PORT, __ENV.TCP_ECHO_HOST)
  for (let i = 0; i < 5; i++) {
    await socket.write("ping")
    await new Promise((resolve) => { waiting = resolve })
    churn()
  }
  console.log("survived")
  socket.destroy()
}
"""


def test_suspended_async_function_survives_gc(tmp_path):
    script = tmp_path / "gc.js"
    script.write_text(SCRIPT)
    result = k6host("run", "--with-echo", str(script), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "survived" in result.stderr
