"""The upstream's tags and digests for `python -m components lock`: `TagSource` on the registry client.

`lock` reads the UPSTREAM registry itself, never the cache: a pull-through cache cannot list
upstream tags, and a tag it never pulled does not exist for it. So each registry name maps to
its API host through the project's one table (`components.model.upstreams.api_host`:
`docker.io` is `registry-1.docker.io`; a registry the warm copies answers on its own name),
unless `endpoints` names another URL (`--upstream`: a corporate mirror, or a local stand-in in
the tests; plain HTTP only on loopback, as the client enforces).

What is asked, and what is trusted:
- `GET /v2/<name>/tags/list?n=` and each `Link: <...>; rel="next"` page, on the registry's own
  origin and path only (`RegistryClient.list_tags_page`), at most `TagListLimits.max_pages`
  pages and `max_tags` tags, each page capped in bytes, a page seen twice refused;
- `HEAD /v2/<name>/manifests/<tag>` for each selected tag's `Docker-Content-Digest`, checked to
  be a digest (Docker Hub does not count a HEAD as a pull);
- after every answer, Docker Hub's `ratelimit-remaining` (`image_lock.rate_budget`): once it
  says stop, the next request to that registry raises `BudgetSpent`, saying how long to wait.
  A 429 stops alike, the wait being its `Retry-After` when the client retried it, else the
  window last reported (or Docker Hub's 6 hours).

Logins are read-only tokens from the environment, per registry (`auth.login_variables`), and go only
to that registry's origin and its own token service (`warm.auth`). Anonymous otherwise; ECR
private upstreams log in with the caller's AWS credentials, as the client does for any ECR host.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from components.model.image_lock import BudgetSpent, RateBudget, ResolveError, rate_budget
from components.model.upstreams import api_host
from components.warm.auth import is_loopback, login_from_environment
from components.warm.client import RegistryClient, RetryPolicy
from components.warm.errors import RegistryError, ResponseError, RetryableResponse
from components.warm.json_bodies import load_json
from components.warm.limits import Limits
from components.warm.listing import next_link

T = TypeVar("T")
# `Link: </v2/x/tags/list?n=100&last=y>; rel="next"` (RFC 8288); other links and relations are ignored.
# Docker Hub's window when a 429 names none: its documented 6 hours (https://docs.docker.com/docker-hub/usage/pulls/).
_DEFAULT_WINDOW = 6 * 3600


@dataclass(frozen=True)
class TagListLimits:
    """How much of a tag list `lock` reads: `page_size` per request (the `n` query parameter),
    at most `max_pages` pages and `max_tags` tags, a page's body at most `max_page_bytes`.

    A tag is at most 128 characters, so 1,000 tags fit in well under 256 KiB; the caps stop a
    registry that pages forever or answers with endless JSON.
    """

    page_size: int = 1000
    max_pages: int = 100
    max_tags: int = 50_000
    max_page_bytes: int = 4 * 1024 * 1024


def api_url(registry: str, endpoints: Mapping[str, str]) -> str:
    """Where `registry`'s API answers: `endpoints[registry]` (`--upstream`), or HTTPS on its API host."""
    if registry in endpoints:
        return endpoints[registry].rstrip("/")
    return f"https://{api_host(registry)}"


def parse_tags_page(body: bytes, where: str) -> list[str]:
    """The `tags` of a tag list page (`{"name": ..., "tags": [...]}`; `null` for none)."""
    try:
        document = load_json(body)
    except ValueError as error:
        raise ResolveError(f"{where}: the tag list is not JSON ({error})") from None
    tags = document.get("tags") if isinstance(document, dict) else None
    if tags is None and isinstance(document, dict) and "tags" in document:
        return []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise ResolveError(f"{where}: the tag list has no 'tags' list of strings")
    return tags


@dataclass
class UpstreamTags:
    """The asynchronous side: one `RegistryClient` per upstream registry, made on first use."""

    endpoints: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    limits: Limits = field(default_factory=Limits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    tag_limits: TagListLimits = field(default_factory=TagListLimits)
    _clients: dict[str, RegistryClient] = field(default_factory=dict, init=False)
    _spent: dict[str, RateBudget] = field(default_factory=dict, init=False)
    _windows: dict[str, int] = field(default_factory=dict, init=False)

    def client(self, registry: str) -> RegistryClient:
        if registry not in self._clients:
            url = api_url(registry, self.endpoints)
            login = login_from_environment(registry, self.environ)
            self._clients[registry] = RegistryClient(
                url,
                credentials=login.credentials if login else None,
                trusted_realms=login.trusted_realms if login else frozenset(),
                concurrency=2,
                limits=self.limits,
                retry=self.retry,
                plain_http=urlsplit(url).scheme == "http" and is_loopback(urlsplit(url).hostname or ""),
            )
        return self._clients[registry]

    def _before(self, registry: str) -> None:
        if registry in self._spent:
            raise BudgetSpent(registry, self._spent[registry])

    def _after(self, registry: str, headers: Mapping[str, str]) -> None:
        """Read the rate budget an answer reports; the next request to `registry` stops if it is spent."""
        budget = rate_budget(headers)
        window = re.search(r"w=(\d+)", headers.get("ratelimit-remaining", ""))
        if window:
            self._windows[registry] = int(window[1])
        if not budget.proceed:
            self._spent[registry] = budget

    def _failed(self, registry: str, what: str, error: RegistryError) -> Exception:
        """A 429 stops everything (BudgetSpent, with how long to wait); anything else fails one image."""
        if isinstance(error, ResponseError) and error.status == 429:
            # A Retry-After past the client's cap arrives as a plain ResponseError: wait the window.
            asked = error.retry_after if isinstance(error, RetryableResponse) else None
            wait = math.ceil(asked) if asked is not None else self._windows.get(registry, _DEFAULT_WINDOW)
            self._spent[registry] = RateBudget(False, 0, wait)
            return BudgetSpent(registry, self._spent[registry])
        return ResolveError(f"{what}: {error}")

    async def list_tags(self, registry: str, repository: str) -> list[str]:
        where = f"{registry}/{repository}"
        client = self.client(registry)
        caps = self.tag_limits
        tags: list[str] = []
        link: str | None = None
        seen: set[str | None] = set()
        for _ in range(caps.max_pages):
            self._before(registry)
            seen.add(link)
            try:
                body, headers = await client.list_tags_page(
                    repository, link, n=caps.page_size, max_bytes=caps.max_page_bytes
                )
            except RegistryError as error:
                raise self._failed(registry, where, error) from None
            self._after(registry, headers)
            tags += parse_tags_page(body, where)
            if len(tags) > caps.max_tags:
                raise ResolveError(f"{where}: the upstream lists more than {caps.max_tags} tags")
            link = next_link(headers.get("link"))
            if link is None:
                return tags
            if link in seen:
                raise ResolveError(f"{where}: the tag list's next page repeats an earlier one")
        raise ResolveError(f"{where}: the tag list runs past {caps.max_pages} pages")

    async def resolve_digest(self, registry: str, repository: str, tag: str) -> str:
        where = f"{registry}/{repository}:{tag}"
        self._before(registry)
        try:
            digest, headers = await self.client(registry).manifest_digest(repository, tag)
        except RegistryError as error:
            raise self._failed(registry, where, error) from None
        self._after(registry, headers)
        if digest is None:
            raise ResolveError(f"{where}: the upstream has no such tag (it was listed, then removed?)")
        return digest

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()


class UpstreamTagSource:
    """`image_lock.TagSource`, synchronous as `lock_command` calls it, over `UpstreamTags` on one
    event loop of its own. Use it as a context manager, so its connections are closed."""

    def __init__(self, tags: UpstreamTags | None = None) -> None:
        self.tags = tags or UpstreamTags()
        self._runner = asyncio.Runner()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coroutine)

    def list_tags(self, registry: str, repository: str) -> list[str]:
        return self._run(self.tags.list_tags(registry, repository))

    def resolve_digest(self, registry: str, repository: str, tag: str) -> str:
        return self._run(self.tags.resolve_digest(registry, repository, tag))

    def close(self) -> None:
        try:
            self._run(self.tags.aclose())
        finally:
            self._runner.close()

    def __enter__(self) -> UpstreamTagSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
