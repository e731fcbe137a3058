"""The warm engine: one client per cache origin, shared by the CLI's run and the provider's threads."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from aiohttp import web

from components.warm.client import RegistryClient, RetryPolicy
from components.warm.engine import SharedEngine, WarmEngine, WarmOptions, split_cache_url
from components.warm.targets import WarmResult, WarmTarget
from components.warm.warmer import Warmer
from tests.warm.loopback import serving
from tests.warm.test_warmer import MemoryRegistry, target

OPTIONS = WarmOptions(plain_http=True, retry=RetryPolicy(attempts=2))


def registry_with(tags: list[str]) -> MemoryRegistry:
    registry = MemoryRegistry()
    shared = registry.image("linux/amd64")
    media_type, body = registry.manifests[shared]
    for tag in tags:
        registry.manifests[tag] = (media_type, body)
    return registry


def test_two_prefixes_of_one_registry_share_a_client_and_a_bad_image_fails_alone() -> None:
    registry = registry_with(["v1"])
    reported: list[WarmResult] = []

    async def go() -> tuple[list[WarmResult], bool]:
        async with serving(registry.handle, ("cache.example",)) as loopback:
            quay, hub = f"{loopback.url('cache.example')}/quay", f"{loopback.url('cache.example')}/docker-hub"
            async with WarmEngine(OPTIONS) as engine:
                missing = WarmTarget(target("a/missing").source, "a/missing", "no-such-tag")
                grouped = {quay: [target("a/b"), missing], hub: [target("library/c")]}
                results = await engine.warm_all(grouped, reported.append)
                return results, engine.client(quay) is engine.client(hub)

    results, one_client = asyncio.run(go())
    assert one_client, "one pool and one login per origin, whatever the prefix"
    assert [r.target.repository for r in results] == ["quay/a/b", "quay/a/missing", "docker-hub/library/c"]
    assert [r.ok for r in results] == [True, False, True]
    assert "a/missing:no-such-tag" in (results[1].error or "") and "404" in (results[1].error or "")
    assert sorted(map(id, reported)) == sorted(map(id, results)), "every image reported once"
    assert "GET /v2/docker-hub/library/c/manifests/v1" in registry.requests


def test_split_cache_url_keeps_the_prefix_apart_from_the_origin() -> None:
    assert split_cache_url("https://1.dkr.ecr.eu-west-1.amazonaws.com/docker-hub") == (
        "https://1.dkr.ecr.eu-west-1.amazonaws.com",
        "docker-hub",
    )
    assert split_cache_url("http://127.0.0.1:5000") == ("http://127.0.0.1:5000", "")


def test_the_shared_engine_serves_calls_from_many_threads_through_one_client() -> None:
    """As the dynamic provider calls it: synchronous operations on several threads at once."""
    registry = registry_with([f"v{n}" for n in range(6)])
    started = threading.Event()
    loop_holder: dict[str, str] = {}

    async def serve_until_done() -> None:
        async with serving(registry.handle, ("cache.example",)) as loopback:
            loop_holder["url"] = f"{loopback.url('cache.example')}/quay"
            started.set()
            while not loop_holder.get("done"):
                await asyncio.sleep(0.01)

    server = threading.Thread(target=lambda: asyncio.run(serve_until_done()))
    server.start()
    started.wait(10)
    shared = SharedEngine(WarmEngine(OPTIONS))
    try:
        url = loop_holder["url"]
        targets = [WarmTarget(target("a/b").source, "a/b", f"v{n}") for n in range(6)]
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda t: shared.run(lambda e: e.warm_one(url, t)), targets))
        assert all(r.ok for r in results), [r.error for r in results]
        clients = {id(shared.run(lambda e: _client(e, url))) for _ in range(3)}
        assert len(clients) == 1
        layer_gets = [r for r in registry.requests if r.startswith("GET /v2/quay/a/b/blobs/")]
        assert len(layer_gets) == 2, "a blob the images share is fetched once per repository"
    finally:
        shared.close()
        loop_holder["done"] = "yes"
        server.join(10)


async def _client(engine: WarmEngine, url: str) -> RegistryClient:
    return engine.client(url)


def test_head_answers_of_large_blobs_keep_the_connection() -> None:
    """A HEAD answer declares the blob's length but has no body: aiohttp must reuse its connection."""
    peers: list[object] = []
    digest = "sha256:" + "a" * 64

    async def head(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername"))
        response = web.Response(status=200, headers={"ETag": f'"{digest}"', "Accept-Ranges": "bytes"})
        response.headers["Content-Length"] = str(4 * 1024 * 1024)
        return response

    async def go() -> None:
        app = web.Application()
        app.router.add_route("HEAD", "/{tail:.*}", head)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with RegistryClient(f"http://127.0.0.1:{port}", plain_http=True, concurrency=1) as client:
                for _ in range(5):
                    await client.blob_status("a/b", digest)
        finally:
            await runner.cleanup()

    asyncio.run(go())
    assert len(peers) == 5 and len(set(peers)) == 1, "every HEAD over one connection"


def test_a_warmer_tries_a_failed_blob_again_on_its_next_image() -> None:
    """The provider's warmer lives as long as its process: a failure must not stick to a blob."""
    registry = registry_with(["v1", "v2"])
    layer = next(d for d, data in registry.blobs.items() if data.startswith(b"layer"))
    failures = {"left": 2}

    def flaky(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith(layer) and failures["left"]:
            failures["left"] -= 1
            return httpx.Response(404)
        return registry.handle(request)

    async def go() -> list[WarmResult]:
        async with serving(flaky, ("cache.example",)) as loopback:
            client = RegistryClient(
                loopback.url("cache.example"), plain_http=True, retry=RetryPolicy(attempts=1)
            )
            async with client:
                warmer = Warmer(client)
                first = await warmer.warm(WarmTarget(target("a/b").source, "a/b", "v1"))
                failures["left"] = 0
                second = await warmer.warm(WarmTarget(target("a/b").source, "a/b", "v2"))
                return [first, second]

    first, second = asyncio.run(go())
    assert not first.ok and second.ok, (first.error, second.error)
