"""Benchmark: the client CPU of one minimal complete warm, httpx against aiohttp used directly.

Each round gives each library a fresh, cold pull-through cache (distribution in proxy mode) in
front of one seeded upstream on 127.0.0.1, and runs the same warm, 8 requests at a time over
one connection pool: GET every manifest, GET every blob streamed through sha256, HEAD every
blob. Reported per library: the client's CPU seconds (`time.process_time`, this process only:
the registries run in their own processes) and wall seconds, medians over interleaved rounds.
Run: `.venv/bin/python bench/http_clients.py [IMAGES] [ROUNDS]`.
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.warm.media_types import ACCEPT  # noqa: E402 - after the path is set
from standins.registries import RunningRegistry, start_registry  # noqa: E402
from standins.seed import SeededImage, seed_many  # noqa: E402

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 50
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
CONCURRENCY = 8
CHUNK = 256 * 1024

Fetch = Callable[[str, str], Awaitable[None]]


async def minimal_warm(base: str, images: list[SeededImage], request: Fetch) -> None:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def ask(method: str, url: str) -> None:
        async with limit:
            await request(method, url)

    await asyncio.gather(*(ask("MANIFEST", f"{base}/v2/{i.repository}/manifests/{i.tag}") for i in images))
    await asyncio.gather(
        *(ask("GET", f"{base}/v2/{i.repository}/blobs/{b}") for i in images for b in i.blobs)
    )
    await asyncio.gather(
        *(ask("HEAD", f"{base}/v2/{i.repository}/blobs/{b}") for i in images for b in i.blobs)
    )


async def with_httpx(base: str, images: list[SeededImage]) -> None:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def request(method: str, url: str) -> None:
            if method == "MANIFEST":
                (await client.get(url, headers={"Accept": ACCEPT})).raise_for_status()
            elif method == "HEAD":
                (await client.head(url)).raise_for_status()
            else:
                async with client.stream("GET", url) as response:
                    response.raise_for_status()
                    hasher = hashlib.sha256()
                    async for chunk in response.aiter_bytes(CHUNK):
                        hasher.update(chunk)

        await minimal_warm(base, images, request)


async def with_aiohttp(base: str, images: list[SeededImage]) -> None:
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def request(method: str, url: str) -> None:
            if method == "MANIFEST":
                async with session.get(url, headers={"Accept": ACCEPT}) as response:
                    response.raise_for_status()
                    await response.read()
            elif method == "HEAD":
                async with session.head(url) as response:
                    response.raise_for_status()
            else:
                async with session.get(url) as response:
                    response.raise_for_status()
                    hasher = hashlib.sha256()
                    async for chunk in response.content.iter_chunked(CHUNK):
                        hasher.update(chunk)

        await minimal_warm(base, images, request)


CONTENDERS = {"httpx": with_httpx, "aiohttp": with_aiohttp}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ptc-bench-http-") as temp:
        work = Path(temp)
        upstream = start_registry("upstream", work)
        caches: list[RunningRegistry] = []
        cpu: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        wall: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        try:
            images = seed_many(upstream.url, COUNT)
            print(f"{COUNT} images, {sum(len(i.blobs) for i in images)} blobs, {ROUNDS} rounds", flush=True)
            for round_number in range(ROUNDS + 1):  # round 0 warms up imports and is not counted
                order = list(CONTENDERS) if round_number % 2 else list(reversed(CONTENDERS))
                for name in order:
                    cache = start_registry(f"cache-{name}-{round_number}", work, remote_url=upstream.url)
                    caches.append(cache)
                    cpu_start, wall_start = time.process_time(), time.perf_counter()
                    asyncio.run(CONTENDERS[name](cache.url, images))
                    used, took = time.process_time() - cpu_start, time.perf_counter() - wall_start
                    cache.stop()
                    if round_number:
                        cpu[name].append(used)
                        wall[name].append(took)
                        print(
                            f"round {round_number} {name:<8} cpu {used:5.2f} s  wall {took:5.2f} s",
                            flush=True,
                        )
            for name in CONTENDERS:
                print(
                    f"{name:<8} median cpu {statistics.median(cpu[name]):5.2f} s "
                    f"(range {min(cpu[name]):.2f}-{max(cpu[name]):.2f})  "
                    f"median wall {statistics.median(wall[name]):5.2f} s "
                    f"(range {min(wall[name]):.2f}-{max(wall[name]):.2f})"
                )
            saving = 1 - statistics.median(cpu["aiohttp"]) / statistics.median(cpu["httpx"])
            print(f"aiohttp uses {saving:.0%} less client CPU than httpx")
        finally:
            for cache in caches:
                cache.stop()
            upstream.stop()


if __name__ == "__main__":
    main()
