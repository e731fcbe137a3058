"""A client for the OCI distribution API, just big enough to pull an image through a cache.

Built on aiohttp (connection pool, proxies from `HTTPS_PROXY`/`NO_PROXY`, TLS with the system CA
bundle or `SSL_CERT_FILE`), chosen over httpx by measurement: the same minimal warm costs it a
third of httpx's client CPU (bench/README.md). stamina retries with backoff. What neither
does, and is kept here: deadlines and progress limits per request, body caps (`limits.Limits`), redirects
followed by hand so that no login leaves the registry's origin, and the login flow (`auth`).
Blobs are streamed and discarded; nothing is written to disk. Credentials never appear in a
message, and URLs appear only redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import stamina
from yarl import URL

from components.model.ecr import EcrRegistry
from components.redaction import redact
from components.warm.answers import (
    REDIRECT_STATUS,
    RETRYABLE_STATUS,
    Answer,
    describe_transport,
    drain,
    read_capped,
    retry_hook,
    retryable,
    route_to,
)
from components.warm.auth import CredentialSource, RegistryAuth, is_loopback, origin_of
from components.warm.blobs import BlobReads
from components.warm.ecr_login import ecr_login
from components.warm.errors import (
    CredentialRefused,
    DeadlineExceeded,
    RegistryError,
    ResponseError,
    TransferStalled,
    TransportError,
    UnsafeRedirect,
)
from components.warm.limits import Limits
from components.warm.listing import UpstreamReads
from components.warm.manifest_requests import ManifestRequests
from components.warm.uploads import BlobUploads

# Requests on the critical path (see `RegistryClient.urgent`) get a lane of their own.
URGENT_LANES = 1
_urgent: contextvars.ContextVar[bool] = contextvars.ContextVar("urgent", default=False)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts per request, the backoff bounds, and the overall time budget.

    A request whose body streams (a blob) is bounded by its attempts, not by the budget: each
    attempt already ends when its body stops progressing (`limits.Limits`), and a layer that took
    an hour to arrive and then broke off deserves another try. A stalled attempt is tried again
    once (`stalled_attempts`): that recovers a dead connection, and a registry that stalls every
    answer fails its image in about twice the stall limit instead of six times.
    """

    attempts: int = 6
    wait_initial: float = 0.2
    wait_max: float = 10.0
    timeout: float = 120.0
    stalled_attempts: int = 2


@dataclass
class RegistryClient(BlobReads, BlobUploads, ManifestRequests, UpstreamReads):
    """Talks to one registry endpoint, `base_url`, which may carry a path (ECR's `/<prefix>`).

    `credentials` is the login for this registry's origin only (see `auth`); `trusted_realms`
    adds token-service origins the login may go to. Every request obeys `limits`.
    """

    base_url: str
    credentials: CredentialSource | None = None
    concurrency: int = 8
    limits: Limits = field(default_factory=Limits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    plain_http: bool = False
    trusted_realms: frozenset[str] = frozenset()
    requests: int = 0
    bytes_received: int = 0

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"{redact(self.base_url)!r} is not an http(s) registry URL")
        if "@" in parts.netloc:
            raise ValueError(f"{redact(self.base_url)!r}: a login in the URL is refused; pass it apart")
        if parts.scheme == "http" and not (self.plain_http and is_loopback(parts.hostname or "")):
            raise ValueError(
                f"{self.base_url!r}: plain HTTP is only allowed for loopback addresses, with --plain-http"
            )
        self.origin = origin_of(self.base_url)
        self.ecr = EcrRegistry.parse(parts.hostname or "")
        self.path_prefix = parts.path.strip("/")
        if self.credentials is None:
            self.credentials = ecr_login(parts.hostname or "")
        self.auth = RegistryAuth(self.base_url, self.credentials, self.trusted_realms)
        self._slots = asyncio.Semaphore(self.concurrency)
        self._urgent_slots = asyncio.Semaphore(URGENT_LANES)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        """The session, made on first use: aiohttp wants a running event loop for it."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.concurrency + URGENT_LANES),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.limits.connect_timeout),
                trust_env=False,  # proxies come from `route_to`, looked up once per origin
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding",),
                max_line_size=self.limits.max_header_bytes,
                max_field_size=self.limits.max_header_bytes,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    @contextlib.contextmanager
    def urgent(self) -> Iterator[None]:
        """Requests made inside go through a lane of their own instead of queueing behind the others.

        For a chain of requests everything else ends up waiting on: a layer many repositories share,
        which a pull-through cache stores for one repository after another (see `warmer.Warmer`).
        """
        token = _urgent.set(True)
        try:
            yield
        finally:
            _urgent.reset(token)

    def url(self, repository: str, kind: str, reference: str) -> str:
        """The one place a registry URL is built; digests are checked before they get here."""
        name = f"{self.path_prefix}/{repository}" if self.path_prefix else repository
        return f"{self.origin}/v2/{name}/{kind}/{reference}"

    def scope(self, repository: str, actions: str = "pull") -> str:
        name = f"{self.path_prefix}/{repository}" if self.path_prefix else repository
        return f"repository:{name}:{actions}"

    async def _fetch_token(self, realm: str, query: dict[str, str], login: str | None) -> bytes:
        """The token service's answer, bounded in time and size, never following a redirect."""
        what = f"the token service {redact(realm)}"
        headers = {"Authorization": login} if login else {}
        try:
            async with asyncio.timeout(self.limits.token_deadline):
                async with self._http().get(
                    realm, params=query, headers=headers, allow_redirects=False, **route_to(URL(realm))
                ) as response:
                    if response.status in (401, 403):
                        raise CredentialRefused(
                            f"{what} refused access ({response.status}){self.auth.withheld_hint()}",
                            response.status,
                        )
                    if response.status != 200:
                        raise ResponseError(f"{what} answered {response.status}", response.status)
                    return await read_capped(response, self.limits.max_token_bytes, what)
        except TimeoutError:
            raise DeadlineExceeded(
                f"{what}: no complete answer within {self.limits.token_deadline:g} s"
            ) from None
        except aiohttp.ClientError as error:
            raise TransportError(f"{what}: {describe_transport(error)}") from None

    async def _send(
        self,
        method: str,
        url: str,
        scope: str,
        headers: dict[str, str],
        consume: Callable[[Answer], Awaitable[Any]],
        deadline: float,
        follow_redirects: bool = True,
        *,
        body_streams: bool = False,
        data: bytes | None = None,
        retried: bool = True,
    ) -> Any:
        """One request with auth, a deadline per attempt, and retries; `consume` reads the answer
        while the connection is held.

        `deadline` covers the whole attempt, or with `body_streams` the login, redirects and
        headers only: `consume` then lifts it (`Answer.stream_body`) and reads under the progress
        limits, and the attempts alone bound the retries (`RetryPolicy`). `data` is the request's
        body (sent again after a login challenge). A step of an upload session is not `retried`:
        its caller starts the whole upload again instead, since a registry may have taken part of it.
        """
        stalls = 0

        def should_retry(error: Exception) -> bool | float:
            nonlocal stalls
            if isinstance(error, TransferStalled):
                stalls += 1
                return stalls < self.retry.stalled_attempts
            return retry_hook(error)

        awaited = "headers" if body_streams else "complete answer"
        async for attempt in stamina.retry_context(
            on=should_retry,
            attempts=self.retry.attempts if retried else 1,
            timeout=None if body_streams else self.retry.timeout,
            wait_initial=self.retry.wait_initial,
            wait_max=self.retry.wait_max,
        ):
            with attempt:
                async with self._urgent_slots if _urgent.get() else self._slots:
                    try:
                        async with asyncio.timeout(deadline) as timeout:
                            return await self._exchange(
                                method, url, scope, headers, consume, follow_redirects, timeout, data
                            )
                    except TimeoutError:
                        raise DeadlineExceeded(
                            f"{method} {redact(url)}: no {awaited} within {deadline:g} s"
                        ) from None
                    except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientResponseError) as error:
                        # An untrusted certificate, or an answer aiohttp cannot parse (headers past
                        # the cap): another try fails alike.
                        raise RegistryError(f"{method} {redact(url)}: {describe_transport(error)}") from None
                    except aiohttp.ClientError as error:
                        raise TransportError(f"{method} {redact(url)}: {describe_transport(error)}") from None
        raise AssertionError("stamina either returns or raises")  # pragma: no cover

    async def _exchange(
        self,
        method: str,
        url: str,
        scope: str,
        headers: dict[str, str],
        consume: Callable[[Answer], Awaitable[Any]],
        follow_redirects: bool,
        deadline: asyncio.Timeout,
        data: bytes | None,
    ) -> Any:
        for authorized in (False, True):
            answer = await self._request(method, url, scope, headers, follow_redirects, deadline, data)
            response = answer.response
            try:
                if response.status == 401 and answer.redirected:
                    raise CredentialRefused(
                        f"{method} {redact(url)}: the redirect target {redact(str(response.url))} "
                        "refused the request (401); the registry's login is not sent there",
                        401,
                    )
                if response.status == 401 and authorized:
                    raise CredentialRefused(
                        f"{method} {redact(url)}: still unauthorized after logging in{self.auth.withheld_hint()}",
                        401,
                    )
                if response.status == 401:
                    challenge = response.headers.get("www-authenticate", "")
                    await drain(response)
                    await self.auth.on_challenge(challenge, scope, self._fetch_token)
                    continue
                if response.status in RETRYABLE_STATUS:
                    raise retryable(
                        f"{method} {redact(url)}",
                        response,
                        min(self.limits.max_retry_after, self.retry.timeout),
                    )
                result = await consume(answer)
                await drain(response)  # within the deadline; never on the way out of a failure
                return result
            finally:
                response.release()
        raise AssertionError("the second answer returns or raises")  # pragma: no cover

    async def _request(
        self,
        method: str,
        url: str,
        scope: str,
        headers: dict[str, str],
        follow_redirects: bool,
        deadline: asyncio.Timeout,
        data: bytes | None = None,
    ) -> Answer:
        """Send, following redirects by hand: `Authorization` goes only to the registry's origin."""
        current = URL(url, encoded=True)
        redirected = False
        for _ in range(self.limits.max_redirects + 1):
            self.requests += 1
            same_origin = origin_of(str(current)) == self.origin
            sent = {**headers, **self.auth.headers(scope)} if same_origin else dict(headers)
            response = await self._http().request(
                method, current, headers=sent, data=data, allow_redirects=False, **route_to(current)
            )
            location = response.headers.get("location")
            if not (follow_redirects and response.status in REDIRECT_STATUS and location):
                return Answer(response, redirected, deadline)
            await drain(response)
            response.release()
            # A login in the Location is dropped: aiohttp would send it, to an origin of the redirect's choosing.
            target = current.join(URL(location, encoded=True)).with_user(None)
            if target.scheme != "https" and not (target.scheme == "http" and is_loopback(target.host or "")):
                raise UnsafeRedirect(f"{method} {redact(url)}: refused a redirect to {redact(str(target))}")
            current, redirected = target, True
        raise UnsafeRedirect(f"{method} {redact(url)}: more than {self.limits.max_redirects} redirects")
