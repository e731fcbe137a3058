"""Manifests: fetched (capped, checked against their digest, parsed), asked after, or deleted.

A mixin of `client.RegistryClient`, as `blobs` and `listing` are, kept apart so the client's module
holds the request flow. Every method goes through the client's `_send`: the same deadlines, caps,
retries and login rules.
"""

from __future__ import annotations

import hashlib

from components.redaction import redact
from components.warm.answers import Answer, RequestFlow, raise_for_status, read_capped
from components.warm.digests import check_digest
from components.warm.errors import DigestMismatch
from components.warm.manifests import Manifest, parse_manifest
from components.warm.media_types import ACCEPT


class ManifestRequests(RequestFlow):
    """`get_manifest`, `head_manifest` and `delete_manifest`, for a class that has the client's request flow."""

    async def get_manifest(self, repository: str, reference: str) -> Manifest:
        """A manifest or index, capped in size, checked against its digest and parsed."""
        url = self.url(repository, "manifests", reference)
        source = redact(url)

        async def consume(answer: Answer) -> Manifest:
            response = answer.response
            raise_for_status(response, f"manifest {repository}:{reference}")
            body = await read_capped(response, self.limits.max_manifest_bytes, f"manifest from {source}")
            self.bytes_received += len(body)
            algorithm = reference.partition(":")[0] if ":" in reference else "sha256"
            digest = f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"
            expected = reference if ":" in reference else response.headers.get("docker-content-digest")
            if expected and expected != digest:
                raise DigestMismatch(
                    f"manifest from {source} does not match its digest: expected {expected[:80]}, "
                    f"computed {digest}"
                )
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            return parse_manifest(body, media_type, digest, source)

        if ":" in reference:
            check_digest(reference, f"manifest {repository}")
        result: Manifest = await self._send(
            "GET", url, self.scope(repository), {"Accept": ACCEPT}, consume, self.limits.manifest_deadline
        )
        return result

    async def head_manifest(self, repository: str, reference: str) -> str | None:
        """The digest the registry serves for `reference`, or None when it has no such manifest."""

        async def consume(answer: Answer) -> str | None:
            if answer.response.status == 404:
                return None
            raise_for_status(answer.response, f"manifest {repository}:{reference}")
            digest = answer.response.headers.get("docker-content-digest")
            if digest:
                return check_digest(digest, f"the digest of manifest {repository}:{reference}")
            return reference if ":" in reference else None

        if ":" in reference:
            check_digest(reference, f"manifest {repository}")
        result: str | None = await self._send(
            "HEAD",
            self.url(repository, "manifests", reference),
            self.scope(repository),
            {"Accept": ACCEPT},
            consume,
            self.limits.manifest_deadline,
        )
        return result

    async def delete_manifest(self, repository: str, digest: str) -> None:
        check_digest(digest, f"manifest {repository}")

        async def consume(answer: Answer) -> None:
            if answer.response.status != 404:
                raise_for_status(answer.response, f"manifest {repository}@{digest}")

        await self._send(
            "DELETE",
            self.url(repository, "manifests", digest),
            self.scope(repository, "pull,push,delete"),
            {},
            consume,
            self.limits.manifest_deadline,
        )
