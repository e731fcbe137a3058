"""What `lock` and the signature warm read from an upstream: tag lists, tag digests, referrers.

A mixin of `client.RegistryClient` (components/warm/tags.py and components/warm/signatures.py call
these through the client), kept apart so the client's module holds the request flow only. Every
method goes through the client's `_send`: the same deadlines, caps, retries and login rules.
"""

from __future__ import annotations

import hashlib

from yarl import URL

from components.redaction import redact
from components.warm.answers import Answer, RequestFlow, raise_for_status, read_capped
from components.warm.auth import origin_of
from components.warm.digests import check_digest
from components.warm.errors import RegistryError, UnsafeRedirect
from components.warm.manifests import Manifest, parse_manifest
from components.warm.media_types import ACCEPT


class UpstreamReads(RequestFlow):
    """Tag lists, tag digests and referrers, for a class that has the client's request flow."""

    async def list_tags_page(
        self, repository: str, next_link: str | None, *, n: int, max_bytes: int
    ) -> tuple[bytes, dict[str, str]]:
        """One page of `GET /v2/<name>/tags/list?n=`: its body, capped, and its headers (lower case).

        `next_link` is the previous page's `Link: <...>; rel="next"` target, or None for the first
        page. It is followed only on this registry's origin and to this repository's tags/list
        path (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-tags):
        a registry cannot point the listing, or the login, anywhere else.
        """
        first = URL(self.url(repository, "tags", "list"), encoded=True)
        url = first.with_query({"n": str(n)})
        if next_link is not None:
            url = first.join(URL(next_link, encoded=True)).with_user(None).with_fragment(None)
            if origin_of(str(url)) != self.origin or url.path != first.path:
                raise UnsafeRedirect(
                    f"the tag list of {repository} points its next page at {redact(str(url))}, "
                    f"off {redact(str(first))}"
                )
        what = f"the tag list of {repository} from {redact(str(url))}"

        async def consume(answer: Answer) -> tuple[bytes, dict[str, str]]:
            response = answer.response
            raise_for_status(response, f"tags of {repository}")
            body = await read_capped(response, max_bytes, what)
            self.bytes_received += len(body)
            return body, {name.lower(): value for name, value in response.headers.items()}

        result: tuple[bytes, dict[str, str]] = await self._send(
            "GET", str(url), self.scope(repository), {}, consume, self.limits.manifest_deadline
        )
        return result

    async def manifest_digest(self, repository: str, tag: str) -> tuple[str | None, dict[str, str]]:
        """`HEAD` a tag's manifest: its `Docker-Content-Digest`, checked, or None when the registry
        has no such tag; and the answer's headers (lower case: Docker Hub's `ratelimit-*`).

        A HEAD is not a pull on Docker Hub (https://docs.docker.com/docker-hub/usage/pulls/).
        A registry that answers without the digest fails the tag: the lock never guesses one.
        """

        async def consume(answer: Answer) -> tuple[str | None, dict[str, str]]:
            response = answer.response
            headers = {name.lower(): value for name, value in response.headers.items()}
            if response.status == 404:
                return None, headers
            raise_for_status(response, f"manifest {repository}:{tag}")
            digest = headers.get("docker-content-digest")
            if digest is None:
                raise RegistryError(
                    f"manifest {repository}:{tag}: the registry sent no Docker-Content-Digest"
                )
            return check_digest(digest, f"the digest of manifest {repository}:{tag}"), headers

        result: tuple[str | None, dict[str, str]] = await self._send(
            "HEAD",
            self.url(repository, "manifests", tag),
            self.scope(repository),
            {"Accept": ACCEPT},
            consume,
            self.limits.manifest_deadline,
        )
        return result

    async def list_referrers(self, repository: str, digest: str) -> Manifest | None:
        """The OCI referrers API's index for `digest` (`GET /v2/<name>/referrers/<digest>`), parsed
        and capped like a manifest; None when the registry answers 404, which the spec says means
        it has no referrers API, so the caller falls back to the `sha256-<hex>` tag schema
        (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-referrers).
        """
        check_digest(digest, f"referrers of {repository}")
        url = self.url(repository, "referrers", digest)
        source = redact(url)

        async def consume(answer: Answer) -> Manifest | None:
            response = answer.response
            if response.status == 404:
                return None
            raise_for_status(response, f"referrers of {repository}@{digest}")
            body = await read_capped(response, self.limits.max_manifest_bytes, f"referrers from {source}")
            self.bytes_received += len(body)
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            return parse_manifest(body, media_type, f"sha256:{hashlib.sha256(body).hexdigest()}", source)

        result: Manifest | None = await self._send(
            "GET", url, self.scope(repository), {"Accept": ACCEPT}, consume, self.limits.manifest_deadline
        )
        return result
