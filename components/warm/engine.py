"""The warm engine, the one way both paths warm: one client per registry origin, one ECR login per
registry, every manifest resolved before the blobs, each image verified once its blobs are in.
It copies too (`copy_all`, `copy_one`): an image of an upstream the pull-through cache does not
support is read from that upstream and pushed into the same registry the cache lives in, through
that registry's one client and login (`copier.Copier`).

- The CLI (`python -m components warm`) calls `WarmEngine.warm_all` once for the catalogue.
- `pulumi up`'s dynamic provider (`components.warm.operations`) runs each `WarmedImage` operation on
  a thread of the provider process; `shared_engine()` gives them all one `WarmEngine`, on an event
  loop of its own, so they share the pools, the ECR login and the warmer's per-digest order.

Targets arrive grouped by cache URL (`https://<host>/<prefix>`, as the stack and `--mirror` name a
cache prefix); their `repository` is below that URL. Two prefixes of one registry are one origin:
one client, one pool, one login, and a layer both share is fetched by one warmer in digest order.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import functools
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from components.warm.auth import CredentialSource, UpstreamLogin, is_loopback, origin_of
from components.warm.client import RegistryClient, RetryPolicy
from components.warm.copier import Copier
from components.warm.limits import Limits
from components.warm.targets import WarmResult, WarmTarget
from components.warm.warmer import Warmer, warm_all

T = TypeVar("T")
Report = Callable[[WarmResult], None]
MakeWarmer = Callable[[RegistryClient], Warmer]


def _no_login(_origin: str) -> CredentialSource | None:
    return None


def _no_upstream_login(_registry: str) -> UpstreamLogin | None:
    return None


@dataclass(frozen=True)
class WarmOptions:
    """How to warm: requests in flight per origin, what to fetch, and how hard to try.

    `login` gives the login for a cache origin that is not ECR (ECR's comes from `ecr_login`);
    `upstream_login` the login for a copied upstream, by the registry's name as images name it."""

    concurrency: int = 8
    attestations: bool = False
    plain_http: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    limits: Limits = field(default_factory=Limits)
    login: Callable[[str], CredentialSource | None] = _no_login
    upstream_login: Callable[[str], UpstreamLogin | None] = _no_upstream_login


@dataclass(frozen=True)
class CopyRoute:
    """Where copies come from and go: the upstream `registry` as images name it, the URL its API
    answers on (`https://nvcr.io`, or a mirror's), and the target prefix's URL (`https://<registry>/<prefix>`)."""

    registry: str
    upstream_url: str
    target_url: str


def split_cache_url(url: str) -> tuple[str, str]:
    """A cache URL as its origin and the path of the prefix below it (`""` for none)."""
    return origin_of(url), urlsplit(url).path.strip("/")


def at_origin(url: str, target: WarmTarget) -> WarmTarget:
    """`target` with its repository named from the origin's root, as one client per origin asks."""
    _, path = split_cache_url(url)
    return dataclasses.replace(
        target, repository=f"{path}/{target.repository}" if path else target.repository
    )


class WarmEngine:
    """Clients and warmers, made once per origin and kept until `aclose`."""

    def __init__(self, options: WarmOptions, make_warmer: MakeWarmer | None = None) -> None:
        self.options = options
        self._make_warmer = make_warmer or (lambda client: Warmer(client, attestations=options.attestations))
        self._clients: dict[str, RegistryClient] = {}
        self._warmers: dict[str, Warmer] = {}
        self._sources: dict[str, RegistryClient] = {}  # upstreams read for copies, by registry and URL
        self._copiers: dict[str, Copier] = {}

    def client(self, url: str) -> RegistryClient:
        self.warmer(url)
        return self._clients[split_cache_url(url)[0]]

    def warmer(self, url: str) -> Warmer:
        origin, _ = split_cache_url(url)
        warmer = self._warmers.get(origin)
        if warmer is None:
            plain_http = self.options.plain_http and is_loopback(urlsplit(origin).hostname or "")
            client = RegistryClient(
                origin,
                credentials=self.options.login(origin),
                concurrency=self.options.concurrency,
                plain_http=plain_http,
                retry=self.options.retry,
                limits=self.options.limits,
            )
            self._clients[origin] = client
            warmer = self._warmers[origin] = self._make_warmer(client)
        return warmer

    def source(self, route: CopyRoute) -> RegistryClient:
        """The client that reads `route`'s upstream, with its own login: never the target's."""
        key = f"{route.registry} {route.upstream_url}"  # one login per registry, even on one URL
        client = self._sources.get(key)
        if client is None:
            login = self.options.upstream_login(route.registry)
            client = self._sources[key] = RegistryClient(
                route.upstream_url,
                credentials=login.credentials if login else None,
                trusted_realms=login.trusted_realms if login else frozenset(),
                concurrency=self.options.concurrency,
                plain_http=self.options.plain_http
                and is_loopback(urlsplit(route.upstream_url).hostname or ""),
                retry=self.options.retry,
                limits=self.options.limits,
            )
        return client

    def copier(self, url: str) -> Copier:
        origin, _ = split_cache_url(url)
        if origin not in self._copiers:
            self._copiers[origin] = Copier(self.client(url))
        return self._copiers[origin]

    async def copy_all(
        self, grouped: Mapping[CopyRoute, Sequence[WarmTarget]], report: Report
    ) -> list[WarmResult]:
        """Copy every target, reporting each as it is done; results in the order of `grouped`."""

        async def one(route: CopyRoute, target: WarmTarget) -> WarmResult:
            result = await self.copy_one(route, target)
            report(result)
            return result

        return list(
            await asyncio.gather(*(one(route, t) for route, targets in grouped.items() for t in targets))
        )

    async def copy_one(self, route: CopyRoute, target: WarmTarget) -> WarmResult:
        """One image, copied from the route's upstream and verified in the target."""
        return await self.copier(route.target_url).copy(
            self.source(route), at_origin(route.target_url, target)
        )

    async def warm_all(self, grouped: Mapping[str, Sequence[WarmTarget]], report: Report) -> list[WarmResult]:
        """Warm every target, origins side by side; results in the order of `grouped`."""
        by_origin: dict[str, list[WarmTarget]] = {}
        for url, targets in grouped.items():
            self.warmer(url)
            by_origin.setdefault(split_cache_url(url)[0], []).extend(at_origin(url, t) for t in targets)
        results = await asyncio.gather(
            *(warm_all(self._warmers[origin], targets, report) for origin, targets in by_origin.items())
        )
        return [result for group in results for result in group]

    async def warm_one(self, url: str, target: WarmTarget) -> WarmResult:
        """One image, fetched then verified, through the origin's shared warmer."""
        return await self.warmer(url).warm(at_origin(url, target))

    async def head_manifest(self, url: str, repository: str, reference: str) -> str | None:
        _, path = split_cache_url(url)
        return await self.client(url).head_manifest(f"{path}/{repository}" if path else repository, reference)

    async def delete_manifest(self, url: str, repository: str, digest: str) -> None:
        _, path = split_cache_url(url)
        await self.client(url).delete_manifest(f"{path}/{repository}" if path else repository, digest)

    async def aclose(self) -> None:
        clients = [*self._clients.values(), *self._sources.values()]
        await asyncio.gather(*(client.aclose() for client in clients))
        self._clients.clear()
        self._warmers.clear()
        self._sources.clear()
        self._copiers.clear()

    async def __aenter__(self) -> WarmEngine:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


class SharedEngine:
    """A `WarmEngine` on an event loop of its own thread, for callers that are not async.

    Pulumi's Python dynamic provider serves each resource operation on a thread of one provider
    process (a gRPC thread pool), each call synchronous. Running every call on this one loop is
    what lets them share connections, logins and the warmer's digest order: `asyncio.run` per
    call, as before, made a client, a pool and an ECR login per image.
    """

    def __init__(self, engine: WarmEngine) -> None:
        self.engine = engine
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="warm-engine", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def run(self, work: Callable[[WarmEngine], Coroutine[Any, Any, T]]) -> T:
        return asyncio.run_coroutine_threadsafe(work(self.engine), self._loop).result()

    def close(self) -> None:
        """Close the pools, then the loop (at exit: a daemon thread would leave sockets unclosed)."""
        if self._loop.is_closed():
            return
        self.run(lambda engine: engine.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


@functools.cache
def shared_engine(
    make_warmer: MakeWarmer, upstream_login: Callable[[str], UpstreamLogin | None] = _no_upstream_login
) -> SharedEngine:
    """The process's engine for the dynamic provider, one per kind of warmer (tests swap in
    their own). A registry URL's scheme decides plain HTTP, which the client allows on loopback only."""
    return SharedEngine(WarmEngine(WarmOptions(plain_http=True, upstream_login=upstream_login), make_warmer))
