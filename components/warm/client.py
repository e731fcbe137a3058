"""A client for the OCI distribution API, just big enough to pull an image through a cache.

Built on aiohttp (connection pool, proxies from `HTTPS_PROXY`/`NO_PROXY`, TLS with the system CA
bundle or `SSL_CERT_FILE`), chosen over httpx by measurement: the same minimal warm costs it a
third of httpx's client CPU (bench/README.md). stamina retries with backoff. What neither
does, and is kept here: a total deadline per request, body caps (`limits.Limits`), redirects
followed by hand so that no login leaves the registry's origin, and the login flow (`auth`).
Blobs are streamed and discarded; nothing is written to disk. Credentials never appear in a
message, and URLs appear only redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import functools
import hashlib
import math
import os
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import stamina
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from components.redaction import redact
from components.warm.auth import CredentialSource, RegistryAuth, is_loopback, origin_of
from components.warm.digests import check_digest, hasher_for
from components.warm.ecr_login import ecr_login
from components.warm.errors import (
    BodyTooLarge,
    CredentialRefused,
    DeadlineExceeded,
    DigestMismatch,
    RegistryError,
    ResponseError,
    RetryableResponse,
    TransportError,
    UnsafeRedirect,
)
from components.warm.limits import Limits
from components.warm.manifests import Manifest, parse_manifest
from components.warm.media_types import ACCEPT

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 256 * 1024
# An answer the client does not use (a 401 challenge, a 404) is read to its end when it is at
# most this size, so that aiohttp keeps its connection open instead of closing it.
_DRAIN_LIMIT = 64 * 1024
# Requests on the critical path (see `RegistryClient.urgent`) get a lane of their own.
URGENT_LANES = 1
_urgent: contextvars.ContextVar[bool] = contextvars.ContextVar("urgent", default=False)


class BlobStatus(enum.Enum):
    """Whether a cache holds a blob itself, or only relays it from its upstream."""

    ABSENT = "absent"
    STORED = "stored"
    PASSED_THROUGH = "passed through"


@dataclass(frozen=True)
class Blob:
    """A blob fetched and checked: its size, its bytes when asked to keep them, and whether the
    answer came from the registry's own storage (`served_from_storage`)."""

    size: int
    body: bytes | None
    stored: bool


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts per request, the backoff bounds, and the overall time budget."""

    attempts: int = 6
    wait_initial: float = 0.2
    wait_max: float = 10.0
    timeout: float = 120.0


@dataclass(frozen=True)
class _Answer:
    """A response, and whether a redirect led to it (then it is not the registry's own)."""

    response: aiohttp.ClientResponse
    redirected: bool


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header; `inf` or NaN mean "forever". HTTP dates are rare from
    registries and treated as absent."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else math.inf


def served_from_storage(headers: Any, digest: str, redirected: bool) -> bool:
    """Whether a 2xx blob answer (HEAD or GET) came from the registry's own storage.

    distribution's proxy mode relays a blob it has not stored from its upstream, with an
    unquoted `ETag: <digest>` and no `Accept-Ranges`; from its storage it answers with a
    quoted ETag and `Accept-Ranges` (registry/proxy/proxyblobstore.go). Only that exact
    unquoted digest counts as relayed: other registries, ECR among them, answer from their
    own storage. A redirect (ECR points at S3) means the blob is in the registry's storage.
    """
    if redirected:
        return True
    return headers.get("etag") != digest or "accept-ranges" in headers


def _retry_hook(error: Exception) -> bool | float:
    """stamina's backoff hook: honour Retry-After, retry transport failures and corrupt transfers.

    Retry-After was already checked against the cap and the budget (`_retryable`)."""
    if isinstance(error, RetryableResponse):
        return error.retry_after if error.retry_after is not None else True
    return isinstance(error, TransportError | DigestMismatch)


@functools.cache
def env_proxy(scheme: str, host: str, port: int | None) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` give for an origin, by aiohttp's own rules.

    Looked up once per origin: aiohttp's `trust_env` looks it up, and `~/.netrc`, on a thread for
    every request, a quarter of the warm's client CPU (bench/README.md). `.netrc` logins are not
    wanted anyway: a login goes only where `auth` allows.
    """
    try:
        return get_env_proxy_for_url(URL.build(scheme=scheme, host=host, port=port))
    except LookupError:
        return None, None


def ssl_context() -> ssl.SSLContext:
    """Verification on, against `SSL_CERT_FILE` when set, otherwise the system's CA bundle."""
    return ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or None)


@dataclass
class RegistryClient:
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
                connector=aiohttp.TCPConnector(limit=self.concurrency + URGENT_LANES, ssl=ssl_context()),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.limits.connect_timeout),
                trust_env=False,  # proxies come from `env_proxy`, once per origin
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
                    realm, params=query, headers=headers, allow_redirects=False
                ) as response:
                    if response.status in (401, 403):
                        raise CredentialRefused(f"{what} refused access ({response.status})", response.status)
                    if response.status != 200:
                        raise ResponseError(f"{what} answered {response.status}", response.status)
                    return await _read_capped(response, self.limits.max_token_bytes, what)
        except TimeoutError:
            raise DeadlineExceeded(
                f"{what}: no complete answer within {self.limits.token_deadline:g} s"
            ) from None
        except aiohttp.ClientError as error:
            raise TransportError(f"{what}: {_describe_transport(error)}") from None

    async def _send(
        self,
        method: str,
        url: str,
        scope: str,
        headers: dict[str, str],
        consume: Callable[[_Answer], Awaitable[Any]],
        deadline: float,
        follow_redirects: bool = True,
    ) -> Any:
        """One request with auth, a total deadline per attempt, and retries; `consume` reads the
        answer while the connection is held."""
        async for attempt in stamina.retry_context(
            on=_retry_hook,
            attempts=self.retry.attempts,
            timeout=self.retry.timeout,
            wait_initial=self.retry.wait_initial,
            wait_max=self.retry.wait_max,
        ):
            with attempt:
                async with self._urgent_slots if _urgent.get() else self._slots:
                    try:
                        async with asyncio.timeout(deadline):
                            return await self._exchange(
                                method, url, scope, headers, consume, follow_redirects
                            )
                    except TimeoutError:
                        raise DeadlineExceeded(
                            f"{method} {redact(url)}: no complete answer within {deadline:g} s"
                        ) from None
                    except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientResponseError) as error:
                        # An untrusted certificate, or an answer aiohttp cannot parse (headers past
                        # the cap): another try fails alike.
                        raise RegistryError(f"{method} {redact(url)}: {_describe_transport(error)}") from None
                    except aiohttp.ClientError as error:
                        raise TransportError(
                            f"{method} {redact(url)}: {_describe_transport(error)}"
                        ) from None
        raise AssertionError("stamina either returns or raises")  # pragma: no cover

    async def _exchange(
        self,
        method: str,
        url: str,
        scope: str,
        headers: dict[str, str],
        consume: Callable[[_Answer], Awaitable[Any]],
        follow_redirects: bool,
    ) -> Any:
        for authorized in (False, True):
            answer = await self._request(method, url, scope, headers, follow_redirects)
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
                        f"{method} {redact(url)}: still unauthorized after logging in", 401
                    )
                if response.status == 401:
                    challenge = response.headers.get("www-authenticate", "")
                    await _drain(response)
                    await self.auth.on_challenge(challenge, scope, self._fetch_token)
                    continue
                if response.status in RETRYABLE_STATUS:
                    raise self._retryable(method, url, response)
                result = await consume(answer)
                await _drain(response)  # within the deadline; never on the way out of a failure
                return result
            finally:
                response.release()
        raise AssertionError("the second answer returns or raises")  # pragma: no cover

    def _retryable(self, method: str, url: str, response: aiohttp.ClientResponse) -> RegistryError:
        """429/5xx as a retry, unless the registry asks to wait longer than the cap or the budget."""
        what = f"{method} {redact(url)}: {response.status}"
        wait = parse_retry_after(response.headers.get("retry-after"))
        cap = min(self.limits.max_retry_after, self.retry.timeout)
        if wait is not None and wait > cap:
            shown = "forever" if math.isinf(wait) else f"{wait:g} s"
            return ResponseError(
                f"{what}, and the upstream asked to wait {shown}; the warm waits at most {cap:g} s",
                response.status,
            )
        return RetryableResponse(what, response.status, wait)

    async def _request(
        self, method: str, url: str, scope: str, headers: dict[str, str], follow_redirects: bool
    ) -> _Answer:
        """Send, following redirects by hand: `Authorization` goes only to the registry's origin."""
        current = URL(url, encoded=True)
        redirected = False
        for _ in range(self.limits.max_redirects + 1):
            self.requests += 1
            same_origin = origin_of(str(current)) == self.origin
            sent = {**headers, **self.auth.headers(scope)} if same_origin else dict(headers)
            proxy, proxy_auth = env_proxy(current.scheme, current.host or "", current.port)
            response = await self._http().request(
                method, current, headers=sent, allow_redirects=False, proxy=proxy, proxy_auth=proxy_auth
            )
            location = response.headers.get("location")
            if not (follow_redirects and response.status in REDIRECT_STATUS and location):
                return _Answer(response, redirected)
            await _drain(response)
            response.release()
            # A login in the Location is dropped: aiohttp would send it, to an origin of the redirect's choosing.
            target = current.join(URL(location, encoded=True)).with_user(None)
            if target.scheme != "https" and not (target.scheme == "http" and is_loopback(target.host or "")):
                raise UnsafeRedirect(f"{method} {redact(url)}: refused a redirect to {redact(str(target))}")
            current, redirected = target, True
        raise UnsafeRedirect(f"{method} {redact(url)}: more than {self.limits.max_redirects} redirects")

    async def get_manifest(self, repository: str, reference: str) -> Manifest:
        """A manifest or index, capped in size, checked against its digest and parsed."""
        url = self.url(repository, "manifests", reference)
        source = redact(url)

        async def consume(answer: _Answer) -> Manifest:
            response = answer.response
            _raise_for_status(response, f"manifest {repository}:{reference}")
            body = await _read_capped(response, self.limits.max_manifest_bytes, f"manifest from {source}")
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

        async def consume(answer: _Answer) -> str | None:
            if answer.response.status == 404:
                return None
            _raise_for_status(answer.response, f"manifest {repository}:{reference}")
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

    async def fetch_blob(self, repository: str, digest: str, size: int) -> int:
        """Stream a blob through and discard it, checking its digest; returns its size."""
        return (await self.get_blob(repository, digest, size)).size

    async def get_blob(self, repository: str, digest: str, size: int, *, keep: bool = False) -> Blob:
        """Stream a blob of the declared `size`, checking its digest; bytes are kept only when asked.

        Reading stops one byte past the declared size: a longer answer fails at once."""
        check_digest(digest, f"blob of {repository}")
        what = f"blob {digest} of {repository}"
        if keep and size > self.limits.max_manifest_bytes:  # kept in memory: an image config, as small
            raise BodyTooLarge(
                f"{what} declares {size} bytes, more than the {self.limits.max_manifest_bytes} bytes "
                "kept in memory"
            )

        async def consume(answer: _Answer) -> Blob:
            response = answer.response
            _raise_for_status(response, what)
            hasher = hasher_for(digest)
            received = 0
            kept = bytearray()
            while chunk := await response.content.read(min(_CHUNK, size + 1 - received)):
                received += len(chunk)
                if received > size:
                    raise BodyTooLarge(f"{what} is longer than the {size} bytes its manifest declares")
                hasher.update(chunk)
                if keep:
                    kept += chunk
            self.bytes_received += received
            computed = f"{digest.partition(':')[0]}:{hasher.hexdigest()}"
            if received < size:
                raise DigestMismatch(f"{what} arrived truncated: {received} of {size} bytes")
            if computed != digest:
                raise DigestMismatch(
                    f"{what} does not match its digest: expected {digest}, computed {computed}"
                )
            stored = served_from_storage(response.headers, digest, answer.redirected)
            return Blob(received, bytes(kept) if keep else None, stored)

        result: Blob = await self._send(
            "GET",
            self.url(repository, "blobs", digest),
            self.scope(repository),
            {},
            consume,
            self.limits.blob_deadline,
        )
        return result

    async def blob_status(self, repository: str, digest: str) -> BlobStatus:
        """HEAD a blob, telling a stored blob from one a distribution proxy merely relays.

        A redirect (ECR points at S3) is not followed, since a URL presigned for GET refuses HEAD.
        """
        check_digest(digest, f"blob of {repository}")

        async def consume(answer: _Answer) -> BlobStatus:
            response = answer.response
            if response.status == 404:
                return BlobStatus.ABSENT
            redirect = response.status in REDIRECT_STATUS
            if not redirect:
                _raise_for_status(response, f"blob {digest} of {repository}")
            stored = served_from_storage(response.headers, digest, redirect)
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

    async def delete_manifest(self, repository: str, digest: str) -> None:
        check_digest(digest, f"manifest {repository}")

        async def consume(answer: _Answer) -> None:
            if answer.response.status != 404:
                _raise_for_status(answer.response, f"manifest {repository}@{digest}")

        await self._send(
            "DELETE",
            self.url(repository, "manifests", digest),
            self.scope(repository, "pull,push,delete"),
            {},
            consume,
            self.limits.manifest_deadline,
        )

    # ---- lockwire: reading an upstream for `lock` and for signatures (components/warm/tags.py,
    # ---- components/warm/signatures.py). New methods only; they use the limits and rules above.

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

        async def consume(answer: _Answer) -> tuple[bytes, dict[str, str]]:
            response = answer.response
            _raise_for_status(response, f"tags of {repository}")
            body = await _read_capped(response, max_bytes, what)
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

        async def consume(answer: _Answer) -> tuple[str | None, dict[str, str]]:
            response = answer.response
            headers = {name.lower(): value for name, value in response.headers.items()}
            if response.status == 404:
                return None, headers
            _raise_for_status(response, f"manifest {repository}:{tag}")
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

        async def consume(answer: _Answer) -> Manifest | None:
            response = answer.response
            if response.status == 404:
                return None
            _raise_for_status(response, f"referrers of {repository}@{digest}")
            body = await _read_capped(response, self.limits.max_manifest_bytes, f"referrers from {source}")
            self.bytes_received += len(body)
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            return parse_manifest(body, media_type, f"sha256:{hashlib.sha256(body).hexdigest()}", source)

        result: Manifest | None = await self._send(
            "GET", url, self.scope(repository), {"Accept": ACCEPT}, consume, self.limits.manifest_deadline
        )
        return result

    # ---- end of lockwire's block


async def _read_capped(response: aiohttp.ClientResponse, cap: int, what: str) -> bytes:
    """The whole body, refused as soon as it passes `cap` bytes, before it is all in memory."""
    length = response.content_length
    if length is not None and length > cap:
        raise BodyTooLarge(f"{what} is {length} bytes, more than the {cap} bytes allowed")
    body = bytearray()
    while chunk := await response.content.read(min(_CHUNK, cap + 1 - len(body))):
        body += chunk
        if len(body) > cap:
            raise BodyTooLarge(f"{what} is longer than the {cap} bytes allowed")
    return bytes(body)


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read a small unused answer to its end: aiohttp closes a connection whose answer was not read."""
    if response.closed or response.content.at_eof():
        return
    length = response.content_length
    if length is not None and length <= _DRAIN_LIMIT:
        with contextlib.suppress(aiohttp.ClientError):  # the connection is closed then, as it would have been
            await response.content.read(length + 1)


def _describe_transport(error: aiohttp.ClientError) -> str:
    """aiohttp's error as one line without URLs (which could carry a signature or a login)."""
    if isinstance(error, aiohttp.ClientResponseError):
        return f"unreadable answer ({error.message[:120]})"
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        return "cannot connect: its TLS certificate is not trusted (see SSL_CERT_FILE)"
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"cannot connect ({error.os_error.strerror or type(error.os_error).__name__})"
    return type(error).__name__


def _raise_for_status(response: aiohttp.ClientResponse, what: str) -> None:
    if response.status >= 400:
        raise ResponseError(f"{what}: the registry answered {response.status}", response.status)
