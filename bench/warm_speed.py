"""Benchmark: warm 50 images cold through a local pull-through cache, against the alternatives.

Every method gets a fresh, cold cache (distribution in proxy mode) in front of the same
seeded upstream, on 127.0.0.1:
- `warm`: `python -m components warm --concurrency 8`, timed from process start to exit
  (start-up and the verification pass included), with the bytes it wrote to disk;
- `skopeo x1` and `skopeo x8`: `skopeo copy docker://... dir:...`, one at a time and 8 at once;
- `probe`: GET every manifest and HEAD every blob, 8 at a time, the least a client can ask of
  the cache; on this machine the cache registry is the bottleneck, and this measures it.
Then a no-op re-warm with an unchanged lock, counting the blob requests it makes.
Run: `.venv/bin/python bench/warm_speed.py [IMAGES] [--quick]`; `--quick` times only the warm and
the probe, for iterating on the warm.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from standins.faulty_proxy import faulty_proxy  # noqa: E402 - after the path is set
from standins.registries import RunningRegistry, start_registry  # noqa: E402
from standins.seed import SeededImage, seed_many  # noqa: E402

QUICK = "--quick" in sys.argv[1:]
_COUNTS = [arg for arg in sys.argv[1:] if arg != "--quick"]
COUNT = int(_COUNTS[0]) if _COUNTS else 50
CONCURRENCY = 8
MEASURE_IO = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: print('write_bytes', dict(l.split(': ') for l in open('/proc/self/io').read()"
    ".splitlines())['write_bytes'], file=sys.stderr))\n"
    "sys.argv = ['components', *sys.argv[1:]]\n"
    "runpy.run_module('components', run_name='__main__')\n"
)


def warm_command(catalogue: Path, upstream: RunningRegistry, cache_url: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-c", MEASURE_IO, "warm", "--images", str(catalogue),
        "--mirror", f"{upstream.address}={cache_url}", "--plain-http", "--concurrency", str(CONCURRENCY), *extra,
    ]  # fmt: skip


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def skopeo_copy(reference: str, destination: Path) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            f"docker://{reference}",
            f"dir:{destination}",
        ],
        check=True,
        capture_output=True,
    )


def probe(cache: RunningRegistry, images: list[SeededImage]) -> None:
    async def run() -> None:
        limit = asyncio.Semaphore(CONCURRENCY)
        accept = {"Accept": images[0].media_type}
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENCY)) as client:

            async def ask(method: str, url: str) -> None:
                async with limit:
                    (await client.request(method, url, headers=accept)).raise_for_status()

            base = cache.url
            await asyncio.gather(*(ask("GET", f"{base}/v2/{i.repository}/manifests/{i.tag}") for i in images))
            await asyncio.gather(
                *(ask("HEAD", f"{base}/v2/{i.repository}/blobs/{b}") for i in images for b in i.blobs)
            )

    asyncio.run(run())


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ptc-bench-") as temp:
        work = Path(temp)
        upstream = start_registry("upstream", work)
        caches: list[RunningRegistry] = []

        def cold_cache(name: str) -> RunningRegistry:
            cache = start_registry(name, work, remote_url=upstream.url)
            caches.append(cache)
            return cache

        try:
            images = seed_many(upstream.url, COUNT)
            catalogue = work / "images.yaml"
            catalogue.write_text("".join(f"- {i.reference(upstream.address)}\n" for i in images))
            total_bytes = sum(len(i.blobs) for i in images)
            print(
                f"{COUNT} images, {total_bytes} blobs (3 layers and a config each, one layer shared)",
                flush=True,
            )

            results: dict[str, float] = {}
            # An untimed first run, so the timed one does not pay for compiling bytecode.
            subprocess.run(
                warm_command(catalogue, upstream, cold_cache("cache-untimed").url), capture_output=True
            )
            started = time.perf_counter()
            warm = subprocess.run(
                warm_command(catalogue, upstream, cold_cache("cache-warm-timed").url),
                capture_output=True,
                text=True,
            )
            results["warm (this project)"] = time.perf_counter() - started
            assert warm.returncode == 0, warm.stdout + warm.stderr
            written = next(
                line.split()[1] for line in warm.stderr.splitlines() if line.startswith("write_bytes")
            )

            if not QUICK:
                cache = cold_cache("cache-skopeo-1")

                def skopeo_sequential() -> None:
                    for image in images:
                        skopeo_copy(image.reference(cache.address), work / "s1" / image.repository)

                results["skopeo copy x1"] = timed(skopeo_sequential)
                cache8 = cold_cache("cache-skopeo-8")
                with ThreadPoolExecutor(CONCURRENCY) as pool:
                    results["skopeo copy x8"] = timed(
                        lambda: list(
                            pool.map(
                                lambda i: skopeo_copy(
                                    i.reference(cache8.address), work / "s8" / i.repository
                                ),
                                images,
                            )
                        )
                    )
            probe_cache = cold_cache("cache-probe")
            results["probe (GET manifests, HEAD blobs, x8)"] = timed(lambda: probe(probe_cache, images))

            for name, seconds in results.items():
                print(f"{name:<40} {seconds:6.2f} s", flush=True)
            ratio = results["warm (this project)"] / results["probe (GET manifests, HEAD blobs, x8)"]
            print(f"warm / probe: {ratio:.2f}x (target 1.25x or less)")
            if not QUICK:
                print(
                    f"warm vs skopeo x8: {results['skopeo copy x8'] / results['warm (this project)']:.2f}x faster"
                )
            print(f"bytes the warm process wrote to disk: {written}")
            if QUICK:
                return

            noop_cache = cold_cache("cache-noop")
            lock = work / "lock.yaml"
            with faulty_proxy(noop_cache.url) as counting:
                first = subprocess.run(
                    warm_command(catalogue, upstream, counting.url, "--lock", str(lock)), capture_output=True
                )
                assert first.returncode == 0
                before = counting.count("/blobs/")
                seconds = timed(
                    lambda: subprocess.run(
                        warm_command(catalogue, upstream, counting.url, "--lock", str(lock)),
                        capture_output=True,
                        check=True,
                    )
                )
                print(
                    f"no-op re-warm with an unchanged lock: {counting.count('/blobs/') - before} blob requests, {seconds:.2f} s"
                )
        finally:
            for cache in caches:
                cache.stop()
            upstream.stop()


if __name__ == "__main__":
    main()
