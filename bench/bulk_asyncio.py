"""W3 reference: asyncio writes 64 KiB blocks, 64 MiB in all, reading the echo."""

import asyncio
import json
import os
import time

CHUNK = 64 * 1024
TOTAL = int(os.environ.get("BULK_MIB", "64")) * 1024 * 1024


async def main() -> None:
    reader, writer = await asyncio.open_connection(os.environ["TCP_ECHO_HOST"], int(os.environ["TCP_ECHO_PORT"]))
    block = bytes(range(256)) * (CHUNK // 256)
    started = time.perf_counter()

    async def read_all() -> int:
        got = 0
        while got < TOTAL:
            got += len(await reader.read(1 << 20))
        return got

    reading = asyncio.create_task(read_all())
    for _ in range(TOTAL // CHUNK):
        writer.write(block)
        await writer.drain()
    received = await reading
    print("RESULT " + json.dumps({"bytes": received, "seconds": time.perf_counter() - started}))
    writer.close()


asyncio.run(main())
