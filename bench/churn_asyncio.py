"""W2 reference: asyncio with 10 tasks doing the same iteration."""

import asyncio
import json
import os
import time

TASKS = int(os.environ.get("VUS", "10"))
SECONDS = float(os.environ.get("DURATION", "20").rstrip("s"))
MESSAGE = b"x" * 64


async def once(host: str, port: int) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(MESSAGE)
    got = 0
    while got < len(MESSAGE):
        got += len(await reader.read(65536))
    writer.close()
    await writer.wait_closed()


async def loop(until: float, host: str, port: int) -> int:
    n = 0
    while time.monotonic() < until:
        await once(host, port)
        n += 1
    return n


async def main() -> None:
    host, port = os.environ["TCP_ECHO_HOST"], int(os.environ["TCP_ECHO_PORT"])
    started = time.monotonic()
    counts = await asyncio.gather(*(loop(started + SECONDS, host, port) for _ in range(TASKS)))
    print("RESULT " + json.dumps({"iterations": sum(counts), "seconds": time.monotonic() - started}))


asyncio.run(main())
