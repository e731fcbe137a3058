"""The warm algorithm against in-memory registries served on loopback: platforms, attestations, verification."""

from __future__ import annotations

import asyncio
import hashlib
import json

import httpx

from components.model.ecr import EcrRegistry
from components.model.images import parse_image
from components.warm.client import RegistryClient, RetryPolicy
from components.warm.manifests import Manifest, Platform, parse_manifest
from components.warm.media_types import OCI_INDEX, OCI_MANIFEST
from components.warm.targets import WarmResult, WarmTarget, blobs_of_all, platform_of
from components.warm.warmer import Warmer, look_again_after, warm_all
from tests.warm.loopback import Handler, serving

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, data: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "digest": digest(data), "size": len(data)}


def parsed(body: bytes) -> Manifest:
    return parse_manifest(body, OCI_MANIFEST, digest(body), "test")


class MemoryRegistry:
    """Serves one repository as a pull-through cache does: a blob GET is relayed (unquoted ETag), and a
    HEAD then finds it stored. Can 'lose' a blob once, as distribution's proxy sometimes does."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[str, bytes]] = {}
        self.lost: set[str] = set()
        self.lose_on_first_get: set[str] = set()
        self.relay_once: set[str] = set()
        self.requests: list[str] = []

    def add_blob(self, data: bytes) -> str:
        self.blobs[digest(data)] = data
        return digest(data)

    def add_manifest(self, media_type: str, document: dict[str, object], tag: str | None = None) -> str:
        body = json.dumps(document).encode()
        self.manifests[digest(body)] = (media_type, body)
        if tag:
            self.manifests[tag] = (media_type, body)
        return digest(body)

    def image(self, platform: str) -> str:
        os_name, arch = platform.split("/")
        config = json.dumps({"os": os_name, "architecture": arch}).encode()
        layer = f"layer {platform}".encode()
        self.add_blob(config)
        self.add_blob(layer)
        return self.add_manifest(
            OCI_MANIFEST,
            {
                "mediaType": OCI_MANIFEST,
                "config": descriptor(OCI_CONFIG, config),
                "layers": [descriptor(OCI_LAYER, layer)],
            },
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        kind, reference = request.url.path.split("/")[-2:]
        if kind == "manifests" and reference in self.manifests:
            media_type, body = self.manifests[reference]
            headers = {"Content-Type": media_type, "Docker-Content-Digest": digest(body)}
            return httpx.Response(200, content=body if request.method == "GET" else b"", headers=headers)
        if kind == "blobs" and reference in self.blobs:
            if reference in self.lost:
                if request.method == "HEAD":
                    return httpx.Response(404)
                self.lost.discard(reference)
            if request.method == "HEAD" and reference in self.relay_once:
                self.relay_once.discard(reference)
                return httpx.Response(200, headers={"ETag": reference})
            if request.method == "GET" and reference in self.lose_on_first_get:
                self.lose_on_first_get.discard(reference)
                self.lost.add(reference)
            if request.method == "GET":
                # Like a cold pull-through cache, which relays a blob while it stores it.
                return httpx.Response(200, content=self.blobs[reference], headers={"ETag": reference})
            return httpx.Response(200)
        return httpx.Response(404)


def warm(registry: MemoryRegistry, target: WarmTarget, attestations: bool = False) -> WarmResult:
    async def go() -> WarmResult:
        async with serving(registry.handle, ("cache.example",)) as loopback:
            client = RegistryClient(
                loopback.url("cache.example"), plain_http=True, retry=RetryPolicy(attempts=2)
            )
            async with client:
                return await Warmer(client, attestations=attestations).warm(target)

    return asyncio.run(go())


def index_registry() -> tuple[MemoryRegistry, dict[str, str]]:
    registry = MemoryRegistry()
    children = {p: registry.image(p) for p in ("linux/amd64", "linux/arm64")}
    attestation = registry.image("unknown/unknown")
    descriptors = [
        {
            "mediaType": OCI_MANIFEST,
            "digest": d,
            "size": len(registry.manifests[d][1]),
            "platform": dict(zip(("os", "architecture"), p.split("/"), strict=True)),
        }
        for p, d in children.items()
    ]
    descriptors.append(
        {
            "mediaType": OCI_MANIFEST,
            "digest": attestation,
            "size": len(registry.manifests[attestation][1]),
            "platform": {"os": "unknown", "architecture": "unknown"},
        }
    )
    registry.add_manifest(OCI_INDEX, {"mediaType": OCI_INDEX, "manifests": descriptors}, tag="v1")
    return registry, {**children, "attestation": attestation}


TARGET = WarmTarget(parse_image("quay.io/a/b:v1"), "a/b", "v1")


def test_every_platform_but_attestations_by_default() -> None:
    registry, digests = index_registry()
    result = warm(registry, TARGET)
    assert result.ok, result.error
    assert result.platforms == ["linux/amd64", "linux/arm64"]
    assert f"GET /v2/a/b/manifests/{digests['attestation']}" not in registry.requests
    assert f"GET /v2/a/b/manifests/{digests['linux/arm64']}" in registry.requests
    index_body = registry.manifests["v1"][1]
    children = [registry.manifests[digests[p]][1] for p in ("linux/amd64", "linux/arm64")]
    blobs = [registry.blobs[d.digest] for d in blobs_of_all(parsed(c) for c in children)]
    assert result.blobs == 4
    assert result.bytes_moved == len(index_body) + sum(map(len, children)) + sum(map(len, blobs))


def test_attestations_when_asked() -> None:
    registry, digests = index_registry()
    warm(registry, TARGET, attestations=True)
    assert f"GET /v2/a/b/manifests/{digests['attestation']}" in registry.requests


def test_only_selected_platforms() -> None:
    registry, digests = index_registry()
    result = warm(registry, WarmTarget(TARGET.source, "a/b", "v1", platforms=("linux/arm64",)))
    assert result.platforms == ["linux/arm64"]
    assert f"GET /v2/a/b/manifests/{digests['linux/amd64']}" not in registry.requests


def test_missing_platform_is_an_error() -> None:
    registry, _ = index_registry()
    result = warm(registry, WarmTarget(TARGET.source, "a/b", "v1", platforms=("windows/amd64",)))
    assert result.error is not None
    assert "has none of the platforms" in result.error


def test_blob_the_cache_lost_is_fetched_again() -> None:
    registry, _ = index_registry()
    lost = next(iter(registry.blobs))
    registry.lose_on_first_get.add(lost)
    result = warm(registry, TARGET)
    assert result.ok and result.refetched == 1
    assert registry.requests.count(f"GET /v2/a/b/blobs/{lost}") == 2
    assert lost not in registry.lost


def test_blob_the_proxy_only_relayed_is_fetched_until_stored() -> None:
    registry, _ = index_registry()
    relayed = next(iter(registry.blobs))
    registry.relay_once.add(relayed)
    result = warm(registry, TARGET)
    assert result.ok and result.refetched == 0, "waiting for a store to finish is not fetching again"
    assert registry.requests.count(f"HEAD /v2/a/b/blobs/{relayed}") == 2, "relayed, then confirmed stored"
    assert registry.requests.count(f"GET /v2/a/b/blobs/{relayed}") == 1, "no second download"


OTHER = "sha256:" + "e" * 64


def test_a_pinned_tag_that_serves_another_digest_fails_named_before_its_blobs() -> None:
    registry, _ = index_registry()
    index = digest(registry.manifests["v1"][1])
    pinned = WarmTarget(parse_image(f"quay.io/a/b:v1@{OTHER}"), "a/b", "v1")
    result = warm(registry, pinned)
    assert result.error == (
        f"the cache serves {index} for tag 'v1', not the pinned {OTHER}: the upstream moved the tag; "
        "update the pin in images.yaml, or the tag"
    )
    assert not [r for r in registry.requests if "/blobs/" in r], "no blob of a moved pin is fetched"
    assert warm(registry, WarmTarget(parse_image(f"quay.io/a/b:v1@{index}"), "a/b", "v1")).ok


def test_a_pin_is_checked_when_the_state_says_the_tag_is_unchanged_too() -> None:
    registry, _ = index_registry()
    index = digest(registry.manifests["v1"][1])
    pinned = WarmTarget(parse_image(f"quay.io/a/b:v1@{OTHER}"), "a/b", "v1", state_digest=index)
    result = warm(registry, pinned)
    assert result.error is not None and f"not the pinned {OTHER}" in result.error
    assert registry.requests == ["HEAD /v2/a/b/manifests/v1"]


def test_a_tag_unchanged_since_the_state_is_skipped_and_a_moved_one_says_from_what() -> None:
    registry, _ = index_registry()
    index = digest(registry.manifests["v1"][1])
    unchanged = warm(registry, WarmTarget(TARGET.source, "a/b", "v1", state_digest=index))
    assert unchanged.unchanged and unchanged.moved_from is None
    assert registry.requests == ["HEAD /v2/a/b/manifests/v1"]
    moved = warm(registry, WarmTarget(TARGET.source, "a/b", "v1", state_digest=OTHER))
    assert moved.ok and not moved.unchanged and moved.digest == index
    assert moved.moved_from == OTHER
    assert warm(registry, TARGET).moved_from is None, "nothing recorded, nothing moved"


def test_single_manifest_reports_its_platform_from_the_config() -> None:
    registry = MemoryRegistry()
    registry.manifests["v1"] = registry.manifests[registry.image("linux/arm64")]
    result = warm(registry, TARGET)
    assert result.platforms == ["linux/arm64"]
    assert result.media_type == OCI_MANIFEST


def test_an_image_config_naming_no_platform_fails_its_image() -> None:
    registry = MemoryRegistry()
    config = registry.add_blob(b'{"os": "linux", "architecture": 64}')
    layer = registry.add_blob(b"layer")
    registry.add_manifest(
        OCI_MANIFEST,
        {
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config, "size": 35},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer, "size": 5}],
        },
        tag="v1",
    )
    result = warm(registry, TARGET)
    assert not result.ok
    assert result.error is not None and "names no valid os and architecture" in result.error


def test_platform_of_descriptors() -> None:
    assert platform_of(Platform(os="linux", architecture="arm", variant="v7")) == "linux/arm/v7"
    assert platform_of(None) == "unknown/unknown"


def config_and_layer(repository_blobs: dict[str, bytes], label: str, *layers: bytes) -> dict[str, object]:
    """A linux/amd64 manifest over its own config and `layers`, its blobs added to `repository_blobs`."""
    config = json.dumps({"os": "linux", "architecture": "amd64", "config": {"Labels": {"l": label}}}).encode()
    for blob in (config, *layers):
        repository_blobs[digest(blob)] = blob
    return {
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(OCI_LAYER, layer) for layer in layers],
    }


class ProxyModel:
    """distribution's proxy mode, in memory: a blob request for a repository that has not stored it is
    relayed (unquoted ETag) and starts a store for that repository, which ends a little later, unless
    a store of the same digest is in flight already, for any repository: then nothing is stored."""

    def __init__(self, store_seconds: float = 0.01) -> None:
        self.store_seconds = store_seconds
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[tuple[str, str], bytes] = {}
        self.stored: set[tuple[str, str]] = set()
        self.in_flight: dict[str, str] = {}
        self.lost: list[tuple[str, str]] = []
        self.requests: list[str] = []
        self.delays: dict[str, float] = {}
        self._stores: set[asyncio.Task[None]] = set()

    def image(self, repository: str, *layers: bytes) -> None:
        document = config_and_layer(self.blobs, repository, *layers)
        body = json.dumps(document).encode()
        self.manifests[(repository, "v1")] = self.manifests[(repository, digest(body))] = body

    async def _store(self, repository: str, blob: str) -> None:
        await asyncio.sleep(self.store_seconds)
        self.stored.add((repository, blob))
        del self.in_flight[blob]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v2/")
        self.requests.append(f"{request.method} {path}")
        for fragment, delay in self.delays.items():
            if fragment in path:
                await asyncio.sleep(delay)
        repository, kind, reference = path.rsplit("/", 2)
        if kind == "manifests":
            body = self.manifests.get((repository, reference))
            if body is None:
                return httpx.Response(404)
            headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest(body)}
            return httpx.Response(200, content=body if request.method == "GET" else b"", headers=headers)
        content = self.blobs[reference] if request.method == "GET" else b""
        if (repository, reference) in self.stored:
            headers = {"ETag": f'"{reference}"', "Accept-Ranges": "bytes"}
            return httpx.Response(200, content=content, headers=headers)
        holder = self.in_flight.get(reference)
        if holder is None:
            self.in_flight[reference] = repository
            task = asyncio.ensure_future(self._store(repository, reference))
            self._stores.add(task)
            task.add_done_callback(self._stores.discard)
        elif holder != repository:
            self.lost.append((repository, reference))
        return httpx.Response(200, content=content, headers={"ETag": reference})


def warm_through(handler: Handler, targets: list[WarmTarget], concurrency: int = 8) -> list[WarmResult]:
    """`warm_all` through a registry on loopback; every result is reported once."""
    reported: list[WarmResult] = []

    async def go() -> list[WarmResult]:
        async with serving(handler, ("cache.example", "s3.example")) as loopback:
            client = RegistryClient(
                loopback.url("cache.example"),
                plain_http=True,
                retry=RetryPolicy(attempts=2),
                concurrency=concurrency,
            )
            async with client:
                return await warm_all(Warmer(client), targets, reported.append)

    results = asyncio.run(go())
    assert sorted(map(id, reported)) == sorted(map(id, results))
    return results


def target(repository: str) -> WarmTarget:
    return WarmTarget(parse_image(f"quay.io/{repository}:v1"), repository, "v1")


def test_a_layer_many_repositories_share_ends_up_stored_in_each() -> None:
    """The proxy loses copies that arrive while another repository's store is in flight; verification
    finds every lost copy, fetches it again, and counts it."""
    proxy = ProxyModel()
    base = b"base layer" * 100
    repositories = [f"app-{n}" for n in range(12)]
    for n, repository in enumerate(repositories):
        proxy.image(repository, base, f"layer {n}".encode())
    results = warm_through(proxy.handle, [target(r) for r in repositories])
    assert all(result.ok for result in results), [result.error for result in results]
    wanted = {(r, d.digest) for r in repositories for d in blobs_of_all([parsed(proxy.manifests[(r, "v1")])])}
    assert wanted <= proxy.stored
    shared_gets = [r for r in proxy.requests if r.startswith("GET") and r.endswith(digest(base))]
    assert proxy.lost, "the model does lose copies, or this test proves nothing"
    assert sum(result.refetched for result in results) == len(shared_gets) - len(repositories)


def test_blobs_no_other_repository_wants_are_looked_at_once_after_every_fetch() -> None:
    """An early look at a blob whose store is in flight costs the proxy another upstream fetch."""
    proxy = ProxyModel(store_seconds=0)
    for name in ("one", "two", "three"):
        proxy.image(name, f"{name} layer".encode())
    results = warm_through(proxy.handle, [target(name) for name in ("one", "two", "three")])
    assert all(result.ok and result.refetched == 0 for result in results)
    blob_requests = [r for r in proxy.requests if "/blobs/" in r]
    last_get = max(i for i, r in enumerate(blob_requests) if r.startswith("GET"))
    first_head = min(i for i, r in enumerate(blob_requests) if r.startswith("HEAD"))
    assert last_get < first_head
    heads = [r for r in blob_requests if r.startswith("HEAD")]
    assert len(heads) == len(set(heads)) == 6, "one look per blob: three configs, three layers"


def test_config_is_fetched_with_the_layers_not_before_them() -> None:
    proxy = ProxyModel()
    proxy.image("app", b"layer one", b"layer two")
    config = json.loads(proxy.manifests[("app", "v1")])["config"]["digest"]
    proxy.delays[config] = 0.1
    order: list[str] = []

    async def recorded(request: httpx.Request) -> httpx.Response:
        order.append(request.url.path)
        response = await proxy.handle(request)
        order.append(f"done {request.url.path}")
        return response

    [result] = warm_through(recorded, [target("app")])
    assert result.ok and result.platforms == ["linux/amd64"]
    config_done = order.index(f"done /v2/app/blobs/{config}")
    layer_started = min(i for i, path in enumerate(order) if "/blobs/" in path and config not in path)
    assert layer_started < config_done


def test_a_get_the_cache_answered_from_storage_needs_no_second_look() -> None:
    """ECR redirects blob GETs to its storage (S3): that answer proves the blob is kept."""
    registry = MemoryRegistry()
    registry.manifests["v1"] = registry.manifests[registry.image("linux/amd64")]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.host}{request.url.path}")
        if request.url.host == "s3.example":
            return httpx.Response(200, content=registry.blobs[request.url.path.rsplit("/", 1)[-1]])
        if "/blobs/" in request.url.path and request.method == "GET":
            return httpx.Response(
                307, headers={"Location": f"https://s3.example/{request.url.path.rsplit('/', 1)[-1]}"}
            )
        return registry.handle(request)

    [result] = warm_through(handler, [TARGET])
    assert result.ok and result.refetched == 0
    assert not [r for r in seen if r.startswith("HEAD") and "/blobs/" in r]
    assert [r for r in seen if r.startswith("HEAD") and "/manifests/" in r], "manifests are still checked"


def test_only_the_manifest_fetched_by_tag_is_looked_at_again() -> None:
    """An index's manifests are fetched by digest: that GET already shows the cache serves them so."""
    registry, digests = index_registry()
    result = warm(registry, TARGET)
    assert result.ok
    manifest_heads = [r for r in registry.requests if r.startswith("HEAD") and "/manifests/" in r]
    assert manifest_heads == [f"HEAD /v2/a/b/manifests/{result.digest}"]
    assert f"GET /v2/a/b/manifests/{digests['linux/amd64']}" in registry.requests


def test_a_relayed_copy_is_looked_at_again_after_half_its_look_with_a_backoff_floor() -> None:
    """The store a look started ends about when that look's relay did: a slow look (a loaded cache)
    waits longer, a fast one (an idle cache) hardly at all; the floor doubles, up to 5 s."""
    assert look_again_after(0.060, attempt=1) == 0.030
    assert look_again_after(0.004, attempt=1) == 0.002
    assert look_again_after(0.004, attempt=5) == 0.032
    assert look_again_after(0.004, attempt=12) == 4.096
    assert look_again_after(0.004, attempt=20) == 5.0
    assert look_again_after(12.0, attempt=12) == 6.0, "a large blob's relay sets the wait, past the cap"


def test_an_ecr_layer_still_redirected_to_the_upstream_fails_its_image_by_name() -> None:
    """ECR hands a layer it has not cached yet to the upstream's CDN (aws/containers-roadmap#2304):
    nodes without internet cannot follow, so the warm does not call that image warmed."""
    registry = MemoryRegistry()
    registry.manifests["v1"] = registry.manifests[registry.image("linux/amd64")]

    def handler(request: httpx.Request) -> httpx.Response:
        digest = request.url.path.rsplit("/", 1)[-1]
        if request.url.host == "s3.example":  # plays production.cloudflare.docker.com
            return httpx.Response(200, content=registry.blobs[digest])
        if "/blobs/" in request.url.path:  # GET and HEAD alike, as ECR answers
            return httpx.Response(307, headers={"Location": f"https://s3.example/registry-v2/blobs/{digest}"})
        return registry.handle(request)

    async def go() -> WarmResult:
        async with serving(handler, ("cache.example", "s3.example")) as loopback:
            client = RegistryClient(
                loopback.url("cache.example"), plain_http=True, retry=RetryPolicy(attempts=2)
            )
            client.ecr = EcrRegistry("123456789012", "eu-west-1")  # the loopback stand-in plays ECR
            async with client:
                return await Warmer(client, verify_attempts=2).warm(TARGET)

    result = asyncio.run(go())
    assert result.error is not None
    assert "passes it through from the upstream; warm this image again later" in result.error


def test_an_artifact_with_the_oci_empty_config_is_warmed_without_a_platform() -> None:
    """A signature or SBOM pushed as an OCI 1.1 artifact has the empty descriptor for a config."""
    registry = MemoryRegistry()
    empty, payload = b"{}", b'{"critical": {}}'
    registry.add_blob(empty)
    registry.add_blob(payload)
    registry.manifests["v1"] = registry.manifests[
        registry.add_manifest(
            OCI_MANIFEST,
            {
                "mediaType": OCI_MANIFEST,
                "artifactType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "config": descriptor("application/vnd.oci.empty.v1+json", empty),
                "layers": [descriptor("application/vnd.dev.cosign.simplesigning.v1+json", payload)],
            },
        )
    ]
    result = warm(registry, TARGET)
    assert result.ok, result.error
    assert result.platforms == [] and result.blobs == 2
