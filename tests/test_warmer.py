"""The warm algorithm against an in-memory registry: platforms, attestations, verification."""

from __future__ import annotations

import asyncio
import hashlib
import json

import httpx

from components.images import parse_image
from components.oci_client import OCI_INDEX, OCI_MANIFEST, RegistryClient, RetryPolicy
from components.warmer import Warmer, WarmResult, WarmTarget, platform_of


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class MemoryRegistry:
    """Serves one repository; can 'lose' a blob once, as distribution's proxy sometimes does."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[str, bytes]] = {}
        self.lost: set[str] = set()
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
        config = self.add_blob(json.dumps({"os": os_name, "architecture": arch}).encode())
        layer = self.add_blob(f"layer {platform}".encode())
        return self.add_manifest(
            OCI_MANIFEST,
            {"mediaType": OCI_MANIFEST, "config": {"digest": config}, "layers": [{"digest": layer}]},
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
            return httpx.Response(200, content=self.blobs[reference] if request.method == "GET" else b"")
        return httpx.Response(404)


def warm(registry: MemoryRegistry, target: WarmTarget, attestations: bool = False) -> WarmResult:
    async def go() -> WarmResult:
        client = RegistryClient(
            "https://cache.example",
            transport=httpx.MockTransport(registry.handle),
            retry=RetryPolicy(attempts=2),
        )
        async with client:
            return await Warmer(client, attestations=attestations).warm(target)

    return asyncio.run(go())


async def fetch_lose_verify(registry: MemoryRegistry, lost: str) -> WarmResult:
    """Fetch, then have the cache lose a blob before verification, as distribution's proxy can."""
    client = RegistryClient(
        "https://cache.example", transport=httpx.MockTransport(registry.handle), retry=RetryPolicy(attempts=2)
    )
    async with client:
        warmer = Warmer(client)
        fetched = await warmer.fetch(TARGET)
        registry.lost.add(lost)
        return await warmer.verify(fetched)


def index_registry() -> tuple[MemoryRegistry, dict[str, str]]:
    registry = MemoryRegistry()
    children = {p: registry.image(p) for p in ("linux/amd64", "linux/arm64")}
    attestation = registry.image("unknown/unknown")
    descriptors = [
        {
            "mediaType": OCI_MANIFEST,
            "digest": d,
            "platform": dict(zip(("os", "architecture"), p.split("/"), strict=True)),
        }
        for p, d in children.items()
    ]
    descriptors.append(
        {
            "mediaType": OCI_MANIFEST,
            "digest": attestation,
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
    result = asyncio.run(fetch_lose_verify(registry, lost))
    assert result.ok and result.refetched == 1
    assert registry.requests.count(f"GET /v2/a/b/blobs/{lost}") == 2
    assert lost not in registry.lost


def test_blob_the_proxy_only_relayed_is_fetched_until_stored() -> None:
    registry, _ = index_registry()
    relayed = next(iter(registry.blobs))
    registry.relay_once.add(relayed)
    result = warm(registry, TARGET)
    assert result.ok and result.refetched == 1
    assert registry.requests.count(f"HEAD /v2/a/b/blobs/{relayed}") == 2, "relayed, then confirmed stored"
    assert registry.requests.count(f"GET /v2/a/b/blobs/{relayed}") == 1, "no second download"


def test_single_manifest_reports_its_platform_from_the_config() -> None:
    registry = MemoryRegistry()
    registry.manifests["v1"] = registry.manifests[registry.image("linux/arm64")]
    result = warm(registry, TARGET)
    assert result.platforms == ["linux/arm64"]
    assert result.media_type == OCI_MANIFEST


def test_platform_of_descriptors() -> None:
    assert (
        platform_of({"platform": {"os": "linux", "architecture": "arm", "variant": "v7"}}) == "linux/arm/v7"
    )
    assert platform_of({}) == "unknown/unknown"
