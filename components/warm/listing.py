"""What `lock` and the signature warm read from an upstream: tag lists, tag digests, referrers.

A mixin of `client.RegistryClient` (components/warm/tags.py and components/warm/signatures.py call
these through the client), kept apart so the client's module holds the request flow only. Every
method goes through the client's `_send`: the same deadlines, caps, retries and login rules.
"""

from __future__ import annotations

import hashlib
import re

from yarl import URL

from components.redaction import redact
from components.warm.answers import Answer, RequestFlow, raise_for_status, read_capped
from components.warm.auth import origin_of
from components.warm.digests import check_digest
from components.warm.errors import RegistryError, UnsafeRedirect
from components.warm.manifests import Manifest, parse_manifest
from components.warm.media_types import ACCEPT

_LINK = re.compile(r"<(?P<target>[^>]*)>(?P<params>[^,]*)")
# Referrers past this many pages are refused rather than followed: with each page capped like a
# manifest (`Limits.max_manifest_bytes`), this bounds what one image's referrers can cost.
MAX_REFERRER_PAGES = 16


def next_link(header: str | None) -> str | None:
    """The target of the `rel="next"` link in a `Link` header, or None."""
    for match in _LINK.finditer(header or ""):
        for param in match["params"].split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "rel" and "next" in value.strip().strip('"').lower().split():
                return match["target"].strip()
    return None


def next_page(first: URL, link: str, what: str) -> URL:
    """The page a `Link: <...>; rel="next"` names, on the first page's origin and path only: a
    registry cannot point a listing, or the login that goes with it, anywhere else."""
    url = first.join(URL(link, encoded=True)).with_user(None).with_fragment(None)
    if origin_of(str(url)) != origin_of(str(first)) or url.path != first.path:
        raise UnsafeRedirect(f"{what} points its next page at {redact(str(url))}, off {redact(str(first))}")
    return url


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
            url = next_page(first, next_link, f"the tag list of {repository}")
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

    async def list_referrers(self, repository: str, digest: str) -> list[str] | None:
        """The digests the OCI referrers API lists for `digest` (`GET /v2/<name>/referrers/<digest>`),
        every page of it; None when the registry answers 404, which the spec says means it has no
        referrers API, so the caller falls back to the `sha256-<hex>` tag schema
        (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-referrers).

        Each page is an index, capped and parsed like a manifest; a registry may page the list with
        `Link: <...>; rel="next"`, followed as the tag list's is (`next_page`), a page seen twice
        refused, and at most `MAX_REFERRER_PAGES` pages.
        """
        check_digest(digest, f"referrers of {repository}")
        first = URL(self.url(repository, "referrers", digest), encoded=True)
        what = f"the referrers of {repository}@{digest}"
        referrers: list[str] = []
        url, seen = first, set()
        for _ in range(MAX_REFERRER_PAGES):
            seen.add(str(url))
            page = await self._referrers_page(repository, digest, url)
            if page is None and url == first:
                return None
            if page is None:
                raise RegistryError(f"{what}: its next page {redact(str(url))} answered 404")
            index, link = page
            referrers += [descriptor.digest for descriptor in index.manifests]
            if link is None:
                return referrers
            url = next_page(first, link, what)
            if str(url) in seen:
                raise RegistryError(f"{what}: the next page repeats an earlier one")
        raise RegistryError(f"{what} runs past {MAX_REFERRER_PAGES} pages")

    async def _referrers_page(
        self, repository: str, digest: str, url: URL
    ) -> tuple[Manifest, str | None] | None:
        """One page of referrers and its next page's link; None for a 404."""
        source = redact(str(url))

        async def consume(answer: Answer) -> tuple[Manifest, str | None] | None:
            response = answer.response
            if response.status == 404:
                return None
            raise_for_status(response, f"referrers of {repository}@{digest}")
            body = await read_capped(response, self.limits.max_manifest_bytes, f"referrers from {source}")
            self.bytes_received += len(body)
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            index = parse_manifest(body, media_type, f"sha256:{hashlib.sha256(body).hexdigest()}", source)
            return index, next_link(response.headers.get("link"))

        result: tuple[Manifest, str | None] | None = await self._send(
            "GET",
            str(url),
            self.scope(repository),
            {"Accept": ACCEPT},
            consume,
            self.limits.manifest_deadline,
        )
        return result
