"""Warm the cache: pull every manifest and blob of a tag through it, then check the cache kept them.

A pull-through cache stores what it was asked for. Fetching a tag's manifest, the
manifests of the chosen platforms, and every blob makes the cache hold the whole
image before a node asks. The verification pass matters: the distribution
registry's proxy mode can lose a blob link when two repositories fetch the same
layer at once, so whatever the cache does not serve afterwards is fetched again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import stamina

from components.images import ImageRef
from components.oci_client import BlobStatus, Manifest, RegistryClient, RegistryError

ATTESTATION_PLATFORM = "unknown/unknown"


@dataclass(frozen=True)
class WarmTarget:
    """One tag to warm: `source` as the catalogue names it, `repository` as the cache serves it."""

    source: ImageRef
    repository: str
    tag: str
    platforms: tuple[str, ...] | None = None
    locked_digest: str | None = None


@dataclass
class WarmResult:
    target: WarmTarget
    digest: str | None = None
    media_type: str | None = None
    platforms: list[str] = field(default_factory=list)
    bytes_moved: int = 0
    blobs: int = 0
    refetched: int = 0
    unchanged: bool = False
    error: str | None = None
    manifests: list[Manifest] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None


def platform_of(descriptor: dict[str, object]) -> str:
    platform = descriptor.get("platform")
    if not isinstance(platform, dict):
        return ATTESTATION_PLATFORM
    text = f"{platform.get('os', 'unknown')}/{platform.get('architecture', 'unknown')}"
    variant = platform.get("variant")
    return f"{text}/{variant}" if variant else text


def _selected(platform: str, wanted: tuple[str, ...] | None, attestations: bool) -> bool:
    if platform == ATTESTATION_PLATFORM:
        return attestations
    if wanted is None:
        return True
    return any(platform == w or platform.startswith(f"{w}/") for w in wanted)


def blobs_of(manifest: Manifest) -> list[str]:
    document = manifest.document
    config = document.get("config")
    layers = document.get("layers") or []
    digests = [config["digest"]] if isinstance(config, dict) else []
    return digests + [layer["digest"] for layer in layers if "digest" in layer]


def blobs_of_all(manifests: Iterable[Manifest]) -> list[str]:
    return sorted({digest for manifest in manifests for digest in blobs_of(manifest)})


class BlobNotKept(Exception):
    """The cache relayed a blob but has not stored it (yet)."""


class Warmer:
    """Warms targets through one cache endpoint, sharing a connection pool and its concurrency bound."""

    def __init__(
        self, client: RegistryClient, *, attestations: bool = False, verify_attempts: int = 12
    ) -> None:
        self.client = client
        self.attestations = attestations
        self.verify_attempts = verify_attempts
        self._in_flight: dict[tuple[str, str], asyncio.Task[int]] = {}
        self._digest_locks: dict[str, asyncio.Lock] = {}

    def _digest_lock(self, digest: str) -> asyncio.Lock:
        """One request per digest at a time across repositories: distribution's proxy does not store a
        blob for a second repository while the first one's copy of it is in flight."""
        return self._digest_locks.setdefault(digest, asyncio.Lock())

    async def _fetch_blob_once(self, repository: str, digest: str) -> int:
        """Fetch a blob once per repository per run: images of one repository often share layers."""
        key = (repository, digest)
        task = self._in_flight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch_locked(repository, digest))
            self._in_flight[key] = task
            return await task
        await task
        return 0

    async def _fetch_locked(self, repository: str, digest: str) -> int:
        async with self._digest_lock(digest):
            return await self.client.fetch_blob(repository, digest)

    async def warm(self, target: WarmTarget) -> WarmResult:
        return await self.verify(await self.fetch(target))

    async def fetch(self, target: WarmTarget) -> WarmResult:
        """Pull the tag's manifests and blobs through the cache."""
        result = WarmResult(target)
        try:
            await self._fetch(target, result)
        except Exception as error:  # one image's failure must not stop the others
            result.error = _describe_error(error)
        return result

    async def verify(self, result: WarmResult) -> WarmResult:
        """Confirm the cache kept what `fetch` pulled; re-fetch what it lost."""
        if not result.ok or result.unchanged:
            return result
        try:
            result.refetched = await self._verify(
                result.target.repository, result.manifests, blobs_of_all(result.manifests)
            )
        except Exception as error:  # one image's failure must not stop the others
            result.error = _describe_error(error)
        return result

    async def _fetch(self, target: WarmTarget, result: WarmResult) -> None:
        repository = target.repository
        if target.locked_digest is not None:
            served = await self.client.head_manifest(repository, target.tag)
            if served == target.locked_digest:
                result.digest = served
                result.unchanged = True
                return
        top = await self.client.get_manifest(repository, target.tag)
        result.digest, result.media_type = top.digest, top.media_type
        manifests: list[Manifest] = []
        if top.is_index:
            chosen = [
                d
                for d in top.document.get("manifests", [])
                if _selected(platform_of(d), target.platforms, self.attestations)
            ]
            if not chosen:
                raise RegistryError(
                    f"{target.source} has none of the platforms {list(target.platforms or [])}"
                )
            result.platforms = sorted({platform_of(d) for d in chosen} - {ATTESTATION_PLATFORM})
            manifests = list(
                await asyncio.gather(*(self.client.get_manifest(repository, d["digest"]) for d in chosen))
            )
        else:
            manifests = [top]
        digests = blobs_of_all(manifests)
        moved = sum(len(m.body) for m in (top, *manifests))
        if not top.is_index:
            config_digest = top.document["config"]["digest"]
            config = await self.client.read_blob(repository, config_digest)
            moved += len(config)
            result.platforms = [platform_of({"platform": json.loads(config)})]
            digests.remove(config_digest)
        sizes = await asyncio.gather(*(self._fetch_blob_once(repository, digest) for digest in digests))
        result.blobs = len(digests) + (0 if top.is_index else 1)
        result.bytes_moved = moved + sum(sizes)
        result.manifests = [top, *manifests] if top.is_index else [top]

    async def _verify(self, repository: str, manifests: Sequence[Manifest], digests: Iterable[str]) -> int:
        """Confirm the cache itself holds everything; fetch again what it lost. Returns how many it lost."""
        for manifest in manifests:
            if await self.client.head_manifest(repository, manifest.digest) != manifest.digest:
                await self.client.get_manifest(repository, manifest.digest)
        digests = list(digests)
        statuses = await asyncio.gather(*(self._status(repository, d) for d in digests))
        missing = [d for d, status in zip(digests, statuses, strict=True) if status is not BlobStatus.STORED]
        for digest in missing:
            await self._refetch_until_stored(repository, digest)
        return len(missing)

    async def _status(self, repository: str, digest: str) -> BlobStatus:
        async with self._digest_lock(digest):
            return await self.client.blob_status(repository, digest)

    async def _refetch_until_stored(self, repository: str, digest: str) -> None:
        """Wait for the cache to keep a blob, fetching it again when it has none.

        A proxy stores a blob after answering, and skips storing while another repository's copy of
        the same digest is in flight. Asking again (HEAD is enough for distribution's proxy, which
        stores on HEAD too) after a short wait lets the store finish or start anew.
        """
        try:
            async for attempt in stamina.retry_context(
                on=BlobNotKept,
                attempts=self.verify_attempts,
                wait_initial=0.05,
                wait_jitter=0.05,
                wait_max=0.5,
                timeout=60,
            ):
                with attempt:
                    async with self._digest_lock(digest):
                        status = await self.client.blob_status(repository, digest)
                        if status is BlobStatus.ABSENT:
                            await self.client.fetch_blob(repository, digest)
                            status = await self.client.blob_status(repository, digest)
                    if status is not BlobStatus.STORED:
                        raise BlobNotKept(f"the cache does not keep blob {digest} of {repository}")
        except BlobNotKept as error:
            raise RegistryError(str(error)) from None


def _describe_error(error: Exception) -> str:
    return str(error) if isinstance(error, RegistryError) else f"{type(error).__name__}: {error}"


async def warm_all(
    warmer: Warmer, targets: Sequence[WarmTarget], report: Callable[[WarmResult], None] = lambda _: None
) -> list[WarmResult]:
    """Fetch everything first, then verify: verification then finds finished stores, not copies in flight,
    and does not take connection slots from fetches."""
    fetched = await asyncio.gather(*(warmer.fetch(target) for target in targets))

    async def verify(result: WarmResult) -> WarmResult:
        verified = await warmer.verify(result)
        report(verified)
        return verified

    return list(await asyncio.gather(*(verify(result) for result in fetched)))
