"""Copy an image the pull-through cache cannot pull through into the target registry, byte for byte.

For an upstream ECR's pull-through cache does not support (nvcr.io, mcr.microsoft.com, a Harbor),
the warm copies each catalogue tag instead: read from the upstream with the same client, limits
and login rules as a warm (`client.RegistryClient`), and pushed into `<registry>/<prefix>/<repository>`
(`uploads`). Byte for byte, so the digests the target serves are the upstream's, and a workload
pinned to an upstream digest pulls the copy:

1. `HEAD` the tag upstream (not a pull on registries that count them) and `GET` it from the target
   (a pull, so ECR records the copy as pulled): when both name one digest, the copy is up to date,
   and nothing more is asked (no blob, no manifest PUT);
2. otherwise `GET` the tag's manifest, and for an index every manifest it lists (an index can only
   be pushed with all of them), each checked against its digest;
3. each blob the target does not hold is streamed from the upstream into an upload session, part
   by part, its digest checked before the session is closed; a blob another repository of the
   target already got in this run is offered as a mount first (ECR mounts it when blob mounting is
   on, https://docs.aws.amazon.com/AmazonECR/latest/userguide/blob-mounting.html, and starts an
   upload otherwise). A failed blob starts over, in a new session;
4. the platform manifests by digest, then the tag: children first, so no manifest ever names one
   the target lacks;
5. verify: the target serves the tag with the upstream's digest, every platform manifest by
   digest, and holds every blob.
A tag that moved upstream is pushed anew and reported with what the target held before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from yarl import URL

from components.warm.client import RegistryClient
from components.warm.errors import MalformedManifest, RegistryError, ResponseError, TooManyManifests
from components.warm.manifests import Descriptor, Manifest
from components.warm.media_types import IMAGE_CONFIG_TYPES
from components.warm.targets import (
    ATTESTATION_PLATFORM,
    WarmResult,
    WarmTarget,
    blobs_of_all,
    check_pin,
    config_platform,
    platform_of,
)
from components.warm.uploads import part_size


class Upload:
    """One blob's upload into the target, fed by its download (`blobs.BlobSink`): a session per
    attempt, parts of `uploads.part_size`, closed with the digest once the download checked it."""

    def __init__(self, target: RegistryClient, repository: str, blob: Descriptor, opened: URL | None) -> None:
        self._target, self._repository, self._blob = target, repository, blob
        self._opened = opened  # the session a declined mount already started, for the first attempt
        self._part = part_size(blob.size)
        self._location: URL | None = None
        self._offset = 0
        self._pending = bytearray()

    async def begin(self) -> None:
        opened, self._opened = self._opened, None
        self._location = opened or await self._target.open_upload(self._repository, self._blob.digest)
        self._offset, self._pending = 0, bytearray()

    async def write(self, chunk: bytes) -> None:
        self._pending += chunk
        while len(self._pending) >= self._part:
            await self._send(bytes(self._pending[: self._part]))
            del self._pending[: self._part]

    async def end(self) -> None:
        if self._pending:
            await self._send(bytes(self._pending))
            self._pending = bytearray()
        assert self._location is not None  # begun
        await self._target.close_upload(self._repository, self._location, self._blob.digest)

    async def _send(self, part: bytes) -> None:
        assert self._location is not None  # begun
        self._location = await self._target.send_part(self._repository, self._location, self._offset, part)
        self._offset += len(part)


class Copier:
    """Copies targets into one target registry origin, from any upstream client given.

    Each digest is copied into one repository at a time (`_digest_lock`), so a blob several
    repositories share moves from the upstream once and is mounted into the others where the
    target allows it.
    """

    def __init__(self, target: RegistryClient) -> None:
        self.target = target
        self._digest_locks: dict[str, asyncio.Lock] = {}
        self._holders: dict[str, str] = {}  # digest -> a repository of the target that holds it

    async def copy(self, source: RegistryClient, target: WarmTarget) -> WarmResult:
        """Copy one tag (or one manifest, for a referrer named by digest) from `source` into the target."""
        result = WarmResult(target, copied=True)
        try:
            await self._copy(source, target, result)
        except Exception as error:  # one image's failure must not stop the others
            result.error = (
                str(error) if isinstance(error, RegistryError) else f"{type(error).__name__}: {error}"
            )
        return result

    async def _copy(self, source: RegistryClient, target: WarmTarget, result: WarmResult) -> None:
        upstream, repository = target.source.repository, target.repository
        announced, held = await asyncio.gather(
            source.head_manifest(upstream, target.tag), self._held(repository, target.tag)
        )
        if announced is not None and held == announced:
            check_pin(target, held)
            result.digest, result.unchanged = held, True
            return
        top = await source.get_manifest(upstream, target.tag)
        check_pin(target, top.digest)
        children = await self._children(source, target, top)
        result.digest, result.media_type = top.digest, top.media_type
        result.manifests = [top, *children]
        blobs = blobs_of_all(result.manifests)
        config = top.config if top.config is not None and top.config.mediaType in IMAGE_CONFIG_TYPES else None
        moved = await asyncio.gather(
            *(
                self._copy_blob(
                    source,
                    upstream,
                    repository,
                    blob,
                    keep=config is not None and blob.digest == config.digest,
                )
                for blob in blobs
            )
        )
        result.blobs, result.uploaded = len(blobs), sum(1 for size, _ in moved if size)
        result.bytes_moved = sum(size for size, _ in moved) + sum(len(m.body) for m in result.manifests)
        result.platforms = await self._platforms(
            top, children, repository, config, dict(zip(blobs, moved, strict=True))
        )
        for child in children:
            if await self.target.head_manifest(repository, child.digest) != child.digest:
                await self.target.put_manifest(
                    repository, child.digest, child.media_type, child.body, child.digest
                )
        await self.target.put_manifest(repository, target.tag, top.media_type, top.body, top.digest)
        await self._verify(repository, target.tag, top, children, blobs)
        result.moved_from = held if held not in (None, top.digest) else None

    async def _held(self, repository: str, tag: str) -> str | None:
        """The digest the target serves for `tag`, read with `GET`: a pull, which ECR records as the
        image's `lastRecordedPullTime` (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageDetail.html),
        so a scheduled re-copy that finds nothing to do still keeps a catalogued copy from being
        archived as unpulled; None when it has none."""
        try:
            return (await self.target.get_manifest(repository, tag)).digest
        except ResponseError as error:
            if error.status == 404:
                return None
            raise

    async def _children(self, source: RegistryClient, target: WarmTarget, top: Manifest) -> list[Manifest]:
        """Every manifest an index lists, attestations included: the index is pushed as it is."""
        if not top.is_index:
            return []
        cap = source.limits.max_index_manifests
        if len(top.manifests) > cap:
            raise TooManyManifests(
                f"the index of {target.source} lists {len(top.manifests)} manifests; the copy follows at most {cap}"
            )
        children = list(
            await asyncio.gather(
                *(source.get_manifest(target.source.repository, d.digest) for d in top.manifests)
            )
        )
        if nested := [m for m in children if m.is_index]:
            raise MalformedManifest(f"the index of {target.source} lists another index, {nested[0].digest}")
        return children

    async def _copy_blob(
        self, source: RegistryClient, upstream: str, repository: str, blob: Descriptor, *, keep: bool
    ) -> tuple[int, bytes | None]:
        """Bytes moved from the upstream (0 when the target held it or mounted it), and the blob's
        bytes when `keep` asked for them and they moved."""
        async with self._digest_locks.setdefault(blob.digest, asyncio.Lock()):
            if await self.target.has_blob(repository, blob.digest):
                self._holders.setdefault(blob.digest, repository)
                return 0, None
            holder = self._holders.get(blob.digest)
            opened = await self.target.open_upload(repository, blob.digest, mount_from=holder)
            if holder is not None and opened is None:
                return 0, None  # mounted from `holder`
            upload = Upload(self.target, repository, blob, opened)
            fetched = await source.get_blob(upstream, blob.digest, blob.size, keep=keep, sink=upload)
            self._holders[blob.digest] = repository
            return fetched.size, fetched.body

    async def _platforms(
        self,
        top: Manifest,
        children: Sequence[Manifest],
        repository: str,
        config: Descriptor | None,
        moved: dict[Descriptor, tuple[int, bytes | None]],
    ) -> list[str]:
        if top.is_index:
            return sorted({platform_of(d.platform) for d in top.manifests} - {ATTESTATION_PLATFORM})
        if config is None:
            return []
        body = moved[config][1]
        if body is None:  # the target held the config already: it is read from there
            body = (await self.target.get_blob(repository, config.digest, config.size, keep=True)).body
        return [config_platform(body or b"", f"{repository}@{top.digest}")]

    async def _verify(
        self,
        repository: str,
        tag: str,
        top: Manifest,
        children: Sequence[Manifest],
        blobs: Sequence[Descriptor],
    ) -> None:
        """The target serves the tag with the upstream's digest, each platform manifest, every blob."""
        served = await self.target.head_manifest(repository, tag)
        if served != top.digest:
            raise RegistryError(
                f"after the push, the target serves {served} for {repository}:{tag}, not {top.digest}"
            )
        for child in children:
            if await self.target.head_manifest(repository, child.digest) != child.digest:
                raise RegistryError(
                    f"after the push, the target lacks manifest {child.digest} of {repository}"
                )
        missing = [
            b.digest
            for b, held in zip(
                blobs,
                await asyncio.gather(*(self.target.has_blob(repository, b.digest) for b in blobs)),
                strict=True,
            )
            if not held
        ]
        if missing:
            raise RegistryError(f"after the push, the target lacks blob {missing[0]} of {repository}")
