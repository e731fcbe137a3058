"""Pushing into a registry: blob uploads, mounts and manifests, as the OCI distribution spec has them
and ECR takes them. A mixin of `client.RegistryClient`, as `blobs` and `listing` are.

A blob goes up in one upload session (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-a-blob-in-chunks):
`POST /v2/<name>/blobs/uploads/` opens it (202, `Location`), each part is a `PATCH` to the latest
`Location` with its `Content-Range`, and a `PUT` to the last one with `?digest=` closes it (201).
Parts are 8 MiB, and never over 10 MiB or under 5 MiB but for the last: ECR's limits on a layer
part, at most 4,200 of them (https://docs.aws.amazon.com/AmazonECR/latest/userguide/service-quotas.html),
so a part grows with a layer past 33,600 MiB, and a layer past 42,000 MiB is refused before a byte
is sent. A part is kept in memory while it is sent: at most `--concurrency` of them at once.

What is trusted: nothing. Each `Location` must be on the registry's own origin, where its login
goes, or the upload is refused (`UnsafeRedirect`); a `Range` the registry answers must say it took
every byte sent; the digest the registry answers for a blob or a manifest must be the one pushed.
A step of a session is never retried alone: the registry may have taken part of
it, so the copy that owns the session starts the blob again (`copier`).
"""

from __future__ import annotations

from yarl import URL

from components.redaction import redact
from components.warm.answers import Answer, RequestFlow, raise_for_status
from components.warm.auth import origin_of
from components.warm.digests import check_digest
from components.warm.errors import BodyTooLarge, RegistryError, UnsafeRedirect
from components.warm.limits import MiB

PART_BYTES = 8 * MiB
MAX_PART_BYTES = 10 * MiB
MAX_PARTS = 4200
# Writing a part, or a manifest, must finish within this: 10 MiB at 1 KiB/s is longer, but a
# registry that takes a part that slowly is not one to copy a catalogue into.
PART_DEADLINE = 300.0


def part_size(size: int) -> int:
    """The part size for a blob of `size` bytes within ECR's limits; BodyTooLarge past them."""
    needed = -(-size // MAX_PARTS)
    if needed > MAX_PART_BYTES:
        raise BodyTooLarge(
            f"a blob of {size} bytes needs parts of {needed} bytes; ECR takes at most {MAX_PARTS} parts "
            f"of at most {MAX_PART_BYTES} bytes"
        )
    return max(PART_BYTES, needed)


class BlobUploads(RequestFlow):
    """`has_blob`, `open_upload`, `send_part`, `close_upload` and `put_manifest`, for a class that has
    the client's request flow."""

    async def has_blob(self, repository: str, digest: str) -> bool:
        """Whether the registry holds the blob in this repository (`HEAD`, 200 or 404)."""
        check_digest(digest, f"blob of {repository}")

        async def consume(answer: Answer) -> bool:
            if answer.response.status == 404:
                return False
            raise_for_status(answer.response, f"blob {digest} of {repository}")
            return True

        found: bool = await self._send(
            "HEAD",
            self.url(repository, "blobs", digest),
            self.scope(repository, "pull,push"),
            {},
            consume,
            self.limits.manifest_deadline,
            follow_redirects=False,
        )
        return found

    async def open_upload(self, repository: str, digest: str, mount_from: str | None = None) -> URL | None:
        """Open an upload session; None when the registry mounted the blob from `mount_from` instead
        (201: another repository of this registry holds it, so no byte needs to move)."""
        check_digest(digest, f"blob of {repository}")
        url = URL(self.url(repository, "blobs", "uploads") + "/", encoded=True)
        if mount_from is not None:
            url = url.with_query({"mount": digest, "from": mount_from})

        async def consume(answer: Answer) -> URL | None:
            if mount_from is not None and answer.response.status == 201:
                return None
            return self._session_location(answer, 202, f"the upload of blob {digest} to {repository}")

        location: URL | None = await self._send(
            "POST", str(url), self.scope(repository, "pull,push"), {}, consume, PART_DEADLINE,
            follow_redirects=False, data=b"", retried=False,
        )  # fmt: skip
        return location

    async def send_part(self, repository: str, location: URL, offset: int, part: bytes) -> URL:
        """`PATCH` one part at `offset`; the session's next location."""
        what = f"the upload to {repository} at byte {offset}"
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + len(part) - 1}",
        }

        async def consume(answer: Answer) -> URL:
            taken = answer.response.headers.get("range")
            if taken is not None and taken.rpartition("-")[2] != str(offset + len(part) - 1):
                raise RegistryError(
                    f"{what}: the registry took bytes {taken[:40]}, not up to {offset + len(part) - 1}"
                )
            return self._session_location(answer, 202, what)

        next_location: URL = await self._send(
            "PATCH", str(location), self.scope(repository, "pull,push"), headers, consume, PART_DEADLINE,
            follow_redirects=False, data=part, retried=False,
        )  # fmt: skip
        return next_location

    async def close_upload(self, repository: str, location: URL, digest: str) -> None:
        """`PUT ?digest=` ends the session; the registry must name the blob by that digest."""
        what = f"the upload of blob {digest} to {repository}"

        async def consume(answer: Answer) -> None:
            if answer.response.status != 201:
                raise_for_status(answer.response, what)
                raise RegistryError(f"{what}: the registry answered {answer.response.status}, not 201")
            self._check_named(answer, digest, what)

        await self._send(
            "PUT", str(location.update_query({"digest": digest})), self.scope(repository, "pull,push"),
            {"Content-Type": "application/octet-stream"}, consume, PART_DEADLINE,
            follow_redirects=False, data=b"", retried=False,
        )  # fmt: skip

    async def put_manifest(
        self, repository: str, reference: str, media_type: str, body: bytes, digest: str
    ) -> None:
        """`PUT` a manifest's exact bytes under `reference` (a tag, or its digest)."""
        what = f"manifest {repository}:{reference}"

        async def consume(answer: Answer) -> None:
            raise_for_status(answer.response, what)
            self._check_named(answer, digest, what)

        await self._send(
            "PUT", self.url(repository, "manifests", reference), self.scope(repository, "pull,push"),
            {"Content-Type": media_type}, consume, PART_DEADLINE, follow_redirects=False, data=body,
        )  # fmt: skip

    def _session_location(self, answer: Answer, status: int, what: str) -> URL:
        """The upload session's `Location`, resolved and checked to be on this registry's origin."""
        response = answer.response
        raise_for_status(response, what)
        location = response.headers.get("location")
        if response.status != status or not location:
            raise RegistryError(f"{what}: the registry answered {response.status} without an upload location")
        target = response.url.join(URL(location, encoded=True)).with_user(None)
        if origin_of(str(target)) != self.origin:
            raise UnsafeRedirect(
                f"{what}: refused the upload location {redact(str(target))}, on another origin than "
                f"{self.origin}: the registry's login goes nowhere else"
            )
        return target

    @staticmethod
    def _check_named(answer: Answer, digest: str, what: str) -> None:
        """A registry that names what it stored by another digest changed it: the copy is not the
        upstream's, and asking again would not change that (so no retry)."""
        named = answer.response.headers.get("docker-content-digest")
        if named is not None and named != digest:
            raise RegistryError(f"{what}: the registry named it {named[:80]}, not {digest}")
