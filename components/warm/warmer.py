"""Warm the cache: pull every manifest and blob of a tag through it, and check the cache kept them.

A pull-through cache stores what it was asked for. Fetching a tag's manifest, the
manifests of the chosen platforms, and every blob makes the cache hold the whole
image before a node asks. Verification matters: the distribution registry's proxy
mode loses a blob link when two repositories fetch the same layer at once, so each
blob is confirmed stored, and fetched again when the cache does not hold it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence

import stamina

from components.warm.answers import Blob, BlobStatus
from components.warm.client import RegistryClient
from components.warm.errors import BlobNotKept, MalformedManifest, RegistryError, TooManyManifests
from components.warm.manifests import Descriptor, Manifest
from components.warm.media_types import IMAGE_CONFIG_TYPES
from components.warm.targets import (
    ATTESTATION_PLATFORM,
    WarmResult,
    WarmTarget,
    blobs_of_all,
    check_pin,
    config_platform,
    is_selected,
    platform_of,
)


class Warmer:
    """Warms targets through one cache origin, sharing a connection pool and its concurrency bound.

    `fetch` pulls a tag's manifests (`resolve`) and blobs (`pull`) through the cache; `verify` then
    confirms the cache serves the manifests and holds every blob, and fetches again what it lost.

    Copies of one layer are fetched for all repositories at once. distribution's proxy keeps a single
    store of a digest in flight, whatever the repository, so a repository asking meanwhile gets the
    blob relayed and never stored: `verify` finds those copies and has them stored again. That
    repair runs one repository at a time per digest (`_digest_lock`), so it does not lose them
    again; for a layer several repositories share (`expect`), that chain is what the end of the
    warm waits on, so it runs in the client's urgent lane. Fetching the copies one repository at a
    time instead, which loses none, measured slower (bench/README.md): the 50 links of a layer 50
    images share became the whole tail of the warm.
    """

    def __init__(
        self, client: RegistryClient, *, attestations: bool = False, verify_attempts: int = 12
    ) -> None:
        self.client = client
        self.attestations = attestations
        self.verify_attempts = verify_attempts
        self._blobs: dict[tuple[str, str], asyncio.Task[Blob]] = {}
        self._digest_locks: dict[str, asyncio.Lock] = {}
        self._stored: set[tuple[str, str]] = set()
        self._lost: set[tuple[str, str]] = set()
        self._shared: set[str] = set()

    def expect(self, results: Iterable[WarmResult]) -> None:
        """Note the digests more than one repository asks for, from resolved manifests: their repair
        chain sets the end of the warm, so it goes in the urgent lane."""
        seen: dict[str, set[str]] = {}
        for result in results:
            for blob in blobs_of_all(result.manifests):
                seen.setdefault(blob.digest, set()).add(result.target.repository)
        self._shared |= {digest for digest, repositories in seen.items() if len(repositories) > 1}

    def _digest_lock(self, digest: str) -> asyncio.Lock:
        return self._digest_locks.setdefault(digest, asyncio.Lock())

    async def _blob_once(self, repository: str, blob: Descriptor, *, keep: bool) -> Blob:
        """Fetch a blob once per repository per run: images of one repository often share layers.
        Later askers move no bytes of their own (their `size` is 0)."""
        key = (repository, blob.digest)
        task = self._blobs.get(key)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            # None yet, or a failed one: a long-lived warmer (the provider's) tries again.
            task = asyncio.ensure_future(self._fetch_blob(repository, blob, keep=keep))
            self._blobs[key] = task
            return await asyncio.shield(task)
        fetched = await asyncio.shield(task)
        body = fetched.body
        if keep and body is None:  # first asked for as a layer, so its bytes were not kept
            body = (await self.client.get_blob(repository, blob.digest, blob.size, keep=True)).body
        return Blob(0, body, fetched.stored)

    async def _fetch_blob(self, repository: str, blob: Descriptor, *, keep: bool) -> Blob:
        fetched = await self.client.get_blob(repository, blob.digest, blob.size, keep=keep)
        # An answer from the cache's own storage proves it holds the blob (always so for ECR, which
        # redirects to S3); distribution's proxy relays a cold blob while it stores it.
        if fetched.stored:
            self._stored.add((repository, blob.digest))
        return fetched

    async def _confirm(self, repository: str, blob: Descriptor) -> None:
        """Make sure the cache holds `repository`'s copy, once; called with the digest's lock held."""
        if (repository, blob.digest) in self._stored:
            return
        if await self._confirm_stored(repository, blob):
            self._lost.add((repository, blob.digest))
        self._stored.add((repository, blob.digest))

    async def warm(self, target: WarmTarget) -> WarmResult:
        """Fetch one tag through the cache and confirm the cache kept it."""
        return await self.verify(await self.fetch(target))

    async def fetch(self, target: WarmTarget) -> WarmResult:
        """Pull the tag's manifests and blobs through the cache."""
        return await self.pull(await self.resolve(target))

    async def resolve(self, target: WarmTarget) -> WarmResult:
        """The tag's manifests, those of the chosen platforms with them; or `unchanged` per the state."""
        result = WarmResult(target)
        try:
            await self._resolve(target, result)
        except Exception as error:  # one image's failure must not stop the others
            result.error = _describe_error(error)
        return result

    async def pull(self, result: WarmResult) -> WarmResult:
        """Every blob the resolved manifests name, through the cache."""
        if not result.ok or result.unchanged:
            return result
        try:
            await self._pull(result)
        except Exception as error:  # one image's failure must not stop the others
            result.error = _describe_error(error)
        return result

    async def verify(self, result: WarmResult) -> WarmResult:
        """Confirm the cache serves every manifest and holds every blob; fetch again what it lost."""
        if not result.ok or result.unchanged:
            return result
        repository = result.target.repository

        async def confirm_blob(blob: Descriptor) -> None:
            async with self._digest_lock(blob.digest):
                with self.client.urgent() if blob.digest in self._shared else contextlib.nullcontext():
                    await self._confirm(repository, blob)

        try:
            blobs = blobs_of_all(result.manifests)
            # Only the manifest fetched by tag needs a look by digest: an index's manifests were
            # fetched by digest, and a cache answering that GET serves them by digest.
            await asyncio.gather(
                self._confirm_manifest(repository, result.manifests[0]),
                *(confirm_blob(blob) for blob in blobs),
            )
            result.refetched = sum((repository, blob.digest) in self._lost for blob in blobs)
        except Exception as error:  # one image's failure must not stop the others
            result.error = _describe_error(error)
        return result

    async def _resolve(self, target: WarmTarget, result: WarmResult) -> None:
        repository = target.repository
        if target.state_digest is not None:
            served = await self.client.head_manifest(repository, target.tag)
            if served == target.state_digest:
                check_pin(target, served)
                result.digest = served
                result.unchanged = True
                return
        top = await self.client.get_manifest(repository, target.tag)
        check_pin(target, top.digest)
        result.digest, result.media_type = top.digest, top.media_type
        result.moved_from = target.state_digest if target.state_digest not in (None, top.digest) else None
        manifests: list[Manifest] = []
        if top.is_index:
            cap = self.client.limits.max_index_manifests
            if len(top.manifests) > cap:
                raise TooManyManifests(
                    f"the index of {target.source} lists {len(top.manifests)} manifests; "
                    f"the warm follows at most {cap}"
                )
            chosen = [
                d
                for d in top.manifests
                if is_selected(platform_of(d.platform), target.platforms, self.attestations)
            ]
            if not chosen:
                raise RegistryError(
                    f"{target.source} has none of the platforms {list(target.platforms or [])}"
                )
            result.platforms = sorted({platform_of(d.platform) for d in chosen} - {ATTESTATION_PLATFORM})
            manifests = list(
                await asyncio.gather(*(self.client.get_manifest(repository, d.digest) for d in chosen))
            )
            if nested := [m for m in manifests if m.is_index]:
                raise MalformedManifest(
                    f"the index of {target.source} lists another index, {nested[0].digest}"
                )
        else:
            manifests = [top]
        result.manifests = [top, *manifests] if top.is_index else [top]

    async def _pull(self, result: WarmResult) -> None:
        target, repository, top = result.target, result.target.repository, result.manifests[0]
        blobs = blobs_of_all(result.manifests)
        # A single image manifest's platform is in its config, fetched with the layers rather than
        # before them, which would cost every image a round trip. An artifact has no platform.
        config = top.config if top.config is not None and top.config.mediaType in IMAGE_CONFIG_TYPES else None
        config_digest = config.digest if config is not None else None
        fetched = dict(
            zip(
                (blob.digest for blob in blobs),
                await asyncio.gather(
                    *(self._blob_once(repository, blob, keep=blob.digest == config_digest) for blob in blobs)
                ),
                strict=True,
            )
        )
        if config_digest is not None:
            result.platforms = [config_platform(fetched[config_digest].body or b"", str(target.source))]
        result.blobs = len(blobs)
        result.bytes_moved = sum(len(m.body) for m in result.manifests) + sum(
            f.size for f in fetched.values()
        )

    async def _confirm_manifest(self, repository: str, manifest: Manifest) -> None:
        """The cache serves the manifest by digest, as nodes that pinned it will ask for it."""
        if await self.client.head_manifest(repository, manifest.digest) != manifest.digest:
            await self.client.get_manifest(repository, manifest.digest)

    async def _confirm_stored(self, repository: str, blob: Descriptor) -> bool:
        """Wait for the cache to keep a blob, fetching it again when it has none; True if it had to.

        A proxy stores a blob after answering, and skips storing while another repository's copy of
        the same digest is in flight. Asking again (HEAD is enough for distribution's proxy, which
        stores on HEAD too) after a short wait lets the store finish or start anew.
        """
        fetched_again = False
        try:
            async for attempt in stamina.retry_context(
                on=_look_again, attempts=self.verify_attempts, timeout=60
            ):
                with attempt:
                    started = time.monotonic()
                    status = await self.client.blob_status(repository, blob.digest)
                    if status is BlobStatus.ABSENT:
                        fetched_again = True
                        await self.client.fetch_blob(repository, blob.digest, blob.size)
                        status = await self.client.blob_status(repository, blob.digest)
                    if status is not BlobStatus.STORED:
                        raise BlobNotKept(
                            f"the cache does not keep blob {blob.digest} of {repository}: it still "
                            "passes it through from the upstream; warm this image again later",
                            look_again_after(time.monotonic() - started, attempt.num),
                        )
        except BlobNotKept as error:
            raise RegistryError(str(error)) from None
        return fetched_again


def look_again_after(look: float, attempt: int) -> float:
    """How long to wait before looking again at a copy the cache relayed: half as long as that look
    took, and no less than a backoff from 2 ms doubling over the attempts (4 s at the 12th).

    A look that found a copy relayed lasted as long as the proxy's relay of the whole blob; the
    store it started (or was waiting on) reads the same upstream, so it ends about then, plus its
    commit. Under load a look too early costs another relay; on an idle cache a fixed wait idled
    it between the links of a shared layer's repair chain (bench/README.md). The backoff keeps
    patience for a slow commit, and for ECR, which caches a layer after redirecting it upstream.
    """
    return max(look / 2, min(5.0, 0.002 * 2.0 ** (attempt - 1)))


def _look_again(error: Exception) -> bool | float:
    """stamina's hook: a relayed copy is looked at again after the wait its error carries."""
    return error.wait if isinstance(error, BlobNotKept) else False


def _describe_error(error: Exception) -> str:
    return str(error) if isinstance(error, RegistryError) else f"{type(error).__name__}: {error}"


async def warm_all(
    warmer: Warmer, targets: Sequence[WarmTarget], report: Callable[[WarmResult], None] = lambda _: None
) -> list[WarmResult]:
    """Resolve every manifest, then pull each image's blobs and verify it as soon as they are in,
    reporting each image when it is done, or as soon as it failed.

    Manifests first, all of them: they are small, and they tell which layers several repositories
    share (`Warmer.expect`). Verifying an image right after its own pull overlaps the
    verification with the tail of the warm (the chain of a shared layer) instead of queueing it
    all behind that tail; a look at a copy whose store is still finishing waits and looks again.
    """
    resolved = await asyncio.gather(*(warmer.resolve(target) for target in targets))
    warmer.expect(result for result in resolved if result.ok)

    async def finish(result: WarmResult) -> WarmResult:
        done = await warmer.verify(await warmer.pull(result))
        report(done)
        return done

    return list(await asyncio.gather(*(finish(result) for result in resolved)))
