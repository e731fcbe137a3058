"""Blobs: streamed through and checked against their digest, or asked whether the cache stores them.

A mixin of `client.RegistryClient`, kept apart so the client's module holds the request flow and
the manifests. Every method goes through the client's `_send`: the same deadlines, caps and retries.
"""

from __future__ import annotations

from typing import Protocol

from yarl import URL

from components.warm.answers import (
    CHUNK,
    REDIRECT_STATUS,
    Answer,
    Blob,
    BlobStatus,
    RequestFlow,
    raise_for_status,
    served_from_storage,
)
from components.warm.digests import check_digest, hasher_for
from components.warm.errors import BodyTooLarge, DigestMismatch
from components.warm.progress import BodyProgress


class BlobSink(Protocol):
    """Where a blob's bytes go on to as they arrive (`get_blob`): an upload, for a copy. Each
    attempt of the download begins it again, writes every chunk, and ends it once the blob's
    digest was checked: a sink never completes anything from bytes that did not check out."""

    async def begin(self) -> None: ...

    async def write(self, chunk: bytes) -> None: ...

    async def end(self) -> None: ...


class BlobReads(RequestFlow):
    """`fetch_blob`, `get_blob` and `blob_status`, for a class that has the client's request flow."""

    async def fetch_blob(self, repository: str, digest: str, size: int) -> int:
        """Stream a blob through and discard it, checking its digest; returns its size."""
        return (await self.get_blob(repository, digest, size)).size

    async def get_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        *,
        keep: bool = False,
        sink: BlobSink | None = None,
    ) -> Blob:
        """Stream a blob of the declared `size`, checking its digest; bytes are kept only when asked.

        Its headers have a deadline, its body the progress limits (`limits.Limits`): a slow but
        steady layer takes as long as it needs. Reading stops one byte past the declared size: a
        longer answer fails at once. Each chunk also goes to `sink` (a copy pushes it on), within
        the same attempt (a retried download begins the sink again)."""
        check_digest(digest, f"blob of {repository}")
        what = f"blob {digest} of {repository}"
        if keep and size > self.limits.max_manifest_bytes:  # kept in memory: an image config, as small
            raise BodyTooLarge(
                f"{what} declares {size} bytes, more than the {self.limits.max_manifest_bytes} bytes "
                "kept in memory"
            )

        async def consume(answer: Answer) -> Blob:
            raise_for_status(answer.response, what)
            answer.stream_body()
            if sink is not None:
                await sink.begin()
            received, kept = await self._read_checked(answer, digest, size, what, keep=keep, sink=sink)
            if sink is not None:
                await sink.end()
            redirect = str(answer.response.url) if answer.redirected else None
            stored = served_from_storage(answer.response.headers, digest, redirect, self.ecr)
            return Blob(received, kept, stored)

        result: Blob = await self._send(
            "GET",
            self.url(repository, "blobs", digest),
            self.scope(repository),
            {},
            consume,
            self.limits.header_deadline,
            body_streams=True,
        )
        return result

    async def _read_checked(
        self, answer: Answer, digest: str, size: int, what: str, *, keep: bool, sink: BlobSink | None
    ) -> tuple[int, bytes | None]:
        """The body, read to exactly `size` bytes under the progress limits and checked against
        `digest`; its size, and its bytes when `keep`. Each chunk goes to `sink` as it arrives."""
        progress = BodyProgress(self.limits, what)
        hasher = hasher_for(digest)
        received = 0
        kept = bytearray()
        while chunk := await progress.read(answer.response.content, min(CHUNK, size + 1 - received)):
            received += len(chunk)
            if received > size:
                raise BodyTooLarge(f"{what} is longer than the {size} bytes its manifest declares")
            hasher.update(chunk)
            if keep:
                kept += chunk
            if sink is not None:
                await sink.write(chunk)
        self.bytes_received += received
        computed = f"{digest.partition(':')[0]}:{hasher.hexdigest()}"
        if received < size:
            raise DigestMismatch(f"{what} arrived truncated: {received} of {size} bytes")
        if computed != digest:
            raise DigestMismatch(f"{what} does not match its digest: expected {digest}, computed {computed}")
        return received, bytes(kept) if keep else None

    async def blob_status(self, repository: str, digest: str) -> BlobStatus:
        """HEAD a blob, telling a stored blob from one a distribution proxy merely relays.

        A redirect (ECR points at S3) is not followed, since a URL presigned for GET refuses HEAD:
        where it points tells (`served_from_storage`).
        """
        check_digest(digest, f"blob of {repository}")

        async def consume(answer: Answer) -> BlobStatus:
            response = answer.response
            if response.status == 404:
                return BlobStatus.ABSENT
            redirect = None
            if response.status in REDIRECT_STATUS:
                redirect = str(response.url.join(URL(response.headers.get("location", ""))))
            else:
                raise_for_status(response, f"blob {digest} of {repository}")
            stored = served_from_storage(response.headers, digest, redirect, self.ecr)
            return BlobStatus.STORED if stored else BlobStatus.PASSED_THROUGH

        result: BlobStatus = await self._send(
            "HEAD",
            self.url(repository, "blobs", digest),
            self.scope(repository),
            {},
            consume,
            self.limits.manifest_deadline,
            follow_redirects=False,
        )
        return result
