"""Benchmark: what `pulumi up` pays per warmed image, in the provider process (issue 14, item 4).

No Pulumi CLI runs here, so the provider host is emulated as Pulumi runs it: the pickled
`CacheWarmProvider` (`serialize_provider`, then `dill.loads`, as the host does) serves one
`create` per `WarmedImage` on a pool of 4 threads (the host's gRPC pool,
pulumi/dynamic/__main__.py). Contenders, each into its own cold distribution cache in front of one
upstream (the images of `warm_speed.py`), rounds interleaved:
- `up path`: the provider's `create`, through the process-wide engine (`warm.engine.shared_engine`);
- `up path, one client per image`: what `create` did before the engine, a new client, pool and
  ECR login and `asyncio.run` for each image;
- `CLI warm`: `WarmEngine.warm_all` in this process (no start-up), for comparison.
The program's own cost per image under the mock runtime (registration) is `plan_scale.py`'s.
Run: `.venv/bin/python bench/up_path.py [--rounds N] [--images N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dill

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pulumi.dynamic.dynamic import serialize_provider  # noqa: E402 - after the path is set

from bench.warm_speed import lost_blobs, seed  # noqa: E402
from components.model.images import parse_image  # noqa: E402
from components.warm.client import RegistryClient  # noqa: E402
from components.warm.engine import WarmEngine, WarmOptions  # noqa: E402
from components.warm.provider import CacheWarmProvider  # noqa: E402
from components.warm.targets import WarmTarget  # noqa: E402
from components.warm.warmer import Warmer  # noqa: E402
from standins.registries import RunningRegistry, start_registry  # noqa: E402
from standins.seed import SeededImage  # noqa: E402

PROVIDER_THREADS = 4


def props(image: SeededImage, upstream: RunningRegistry, cache: RunningRegistry) -> dict[str, Any]:
    return {
        "source": image.reference(upstream.address),
        "cache_reference": image.reference(cache.address),
        "registry_url": cache.url,
        "repository": image.repository,
        "tag": image.tag,
        "platforms": None,
        "prune": False,
    }


def contenders_for(
    provider: Any, upstream: RunningRegistry, images: list[SeededImage]
) -> dict[str, Callable[[RunningRegistry], None]]:
    """Each path, as a function of the cold cache it warms."""

    def up_path(cache: RunningRegistry) -> None:
        with ThreadPoolExecutor(PROVIDER_THREADS) as pool:
            list(pool.map(lambda i: provider.create(props(i, upstream, cache)), images))

    def one_client_per_image(cache: RunningRegistry) -> None:
        def create(image: SeededImage) -> None:
            target = WarmTarget(parse_image(image.reference(upstream.address)), image.repository, image.tag)

            async def go() -> None:
                async with RegistryClient(cache.url, plain_http=True) as client:
                    assert (await Warmer(client).warm(target)).ok

            asyncio.run(go())

        with ThreadPoolExecutor(PROVIDER_THREADS) as pool:
            list(pool.map(create, images))

    def cli_warm(cache: RunningRegistry) -> None:
        targets = [
            WarmTarget(parse_image(i.reference(upstream.address)), i.repository, i.tag) for i in images
        ]

        async def go() -> None:
            async with WarmEngine(WarmOptions(plain_http=True)) as engine:
                assert all(r.ok for r in await engine.warm_all({cache.url: targets}, lambda _: None))

        asyncio.run(go())

    return {
        "up path (shared engine, 4 provider threads)": up_path,
        "up path, one client per image (before)": one_client_per_image,
        "CLI warm (engine, in process)": cli_warm,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=50)
    options = parser.parse_args()
    provider = dill.loads(base64.b64decode(serialize_provider(CacheWarmProvider(str(ROOT)))))
    with tempfile.TemporaryDirectory(prefix="ptc-up-") as temp:
        work = Path(temp)
        upstream = start_registry("upstream", work)
        try:
            images = seed(upstream.url, options.images)

            contenders = contenders_for(provider, upstream, images)
            walls: dict[str, list[float]] = {name: [] for name in contenders}
            lost: dict[str, list[int]] = {name: [] for name in contenders}
            serial = 0
            for round_number in range(options.rounds + 1):  # round 0 is untimed
                names = list(contenders)
                shift = round_number % len(names)
                for name in names[shift:] + names[:shift]:
                    serial += 1
                    cache = start_registry(f"cache-{serial}", work, remote_url=upstream.url)
                    try:
                        started = time.perf_counter()
                        contenders[name](cache)
                        wall = time.perf_counter() - started
                        time.sleep(2.0)
                        if round_number:
                            walls[name].append(wall)
                            lost[name].append(lost_blobs(cache, images))
                    finally:
                        cache.stop()
            print(f"\n{options.images} images, {options.rounds} interleaved rounds, medians (range)\n")
            print("| path | wall, s | per image, ms | blobs lost |")
            print("|---|---|---|---|")
            for name, values in walls.items():
                median = statistics.median(values)
                print(
                    f"| {name} | {median:.2f} ({min(values):.2f} to {max(values):.2f}) | "
                    f"{median / options.images * 1000:.0f} | {', '.join(map(str, lost[name]))} |"
                )
        finally:
            upstream.stop()


if __name__ == "__main__":
    main()
