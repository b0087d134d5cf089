"""W1 reference: the same ping-pong with Python asyncio streams."""

import asyncio
import json
import os
import time

N = int(os.environ.get("ROUND_TRIPS", "20000"))


async def main() -> None:
    reader, writer = await asyncio.open_connection(os.environ["TCP_ECHO_HOST"], int(os.environ["TCP_ECHO_PORT"]))
    started = time.perf_counter()
    for _ in range(N):
        writer.write(b"ping")
        got = 0
        while got < 4:
            got += len(await reader.read(4 - got))
    seconds = time.perf_counter() - started
    print("RESULT " + json.dumps({"round_trips": N, "seconds": seconds}))
    writer.close()


asyncio.run(main())
