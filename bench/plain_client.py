"""The ceiling: a plain aiohttp client posting given bodies to a receiver, N at a time.

    python bench/plain_client.py URL BODIES.jsonl --concurrency 64

One `ClientSession` (keep-alive, at most `--concurrency` connections), `--concurrency` tasks each
posting the next body and reading the answer. Prints `posted N in S s using C s CPU`.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import aiohttp


async def run(url: str, bodies: list[bytes], concurrency: int) -> float:
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector) as session:
        queue = iter(bodies)

        async def worker() -> None:
            for body in queue:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.monotonic() - started


def cpu() -> float:
    return time.process_time()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("bodies", type=Path, help="one JSON body per line")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    bodies = [line for line in args.bodies.read_bytes().splitlines() if line]
    before = cpu()
    took = asyncio.run(run(args.url, bodies, args.concurrency))
    print(f"posted {len(bodies)} in {took:.3f} s using {cpu() - before:.3f} s CPU", flush=True)


if __name__ == "__main__":
    main()
