"""A client for the OCI distribution API, just big enough to pull an image through a cache.

Built on httpx (connection pool, timeouts, streaming) and stamina (retries with
backoff). What neither library does, and is small enough to keep here: parsing
`WWW-Authenticate` challenges and the registry token dance
(https://distribution.github.io/distribution/spec/auth/token/). Blobs are
streamed and discarded; nothing is written to disk. Credentials never appear in
an exception message or a log line.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import enum
import hashlib
import ipaddress
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import stamina

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
# Schema 1 is never asked for: it is deprecated, unsigned content ECR does not cache.
ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))
ECR_HOST = re.compile(r"[0-9]{12}\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?")
ECR_TOKEN_LIFETIME = 12 * 3600
ECR_TOKEN_REFRESH_MARGIN = 3600
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_CHUNK = 256 * 1024
# An answer the client does not read (a 401 challenge, a 404) is read to its end when it is at
# most this size, so that httpx keeps its connection open instead of closing it.
_DRAIN_LIMIT = 64 * 1024
# Requests on the critical path (see `RegistryClient.urgent`) get a lane of their own.
URGENT_LANES = 1
_urgent: contextvars.ContextVar[bool] = contextvars.ContextVar("urgent", default=False)


class RegistryError(Exception):
    """A registry answered, but not with what was asked for."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RetryableResponse(RegistryError):
    """429 or 5xx: worth another try, after `retry_after` seconds when the registry says so."""

    def __init__(self, message: str, status: int, retry_after: float | None) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class BlobStatus(enum.Enum):
    """Whether a cache holds a blob itself, or only relays it from its upstream."""

    ABSENT = "absent"
    STORED = "stored"
    PASSED_THROUGH = "passed through"


class DigestMismatch(RegistryError):
    """Content that does not hash to its digest: a truncated or corrupted transfer."""


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    body: bytes

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


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


Credentials = tuple[str, str]
CredentialSource = Callable[[], Credentials]


def is_loopback(host: str) -> bool:
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header; HTTP dates are rare from registries and treated as absent."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, params = header.partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(params))


def served_from_storage(response: httpx.Response, digest: str) -> bool:
    """Whether a 2xx blob answer (HEAD or GET) came from the registry's own storage.

    distribution's proxy mode relays a blob it has not stored from its upstream, with an
    unquoted `ETag: <digest>` and no `Accept-Ranges`; from its storage it answers with a
    quoted ETag and `Accept-Ranges` (registry/proxy/proxyblobstore.go). Only that exact
    unquoted digest counts as relayed: other registries, ECR among them, answer from their
    own storage. A redirect (ECR points at S3) means the blob is in the registry's storage;
    `response.history` holds it when a GET followed it.
    """
    if response.history or response.is_redirect:
        return True
    return response.headers.get("etag") != digest or "accept-ranges" in response.headers


def _retry_hook(error: Exception) -> bool | float:
    """stamina's backoff hook: honour Retry-After, retry transport failures and corrupt transfers."""
    if isinstance(error, RetryableResponse):
        return error.retry_after if error.retry_after is not None else True
    return isinstance(error, httpx.TransportError | DigestMismatch)


def ecr_credentials(region: str) -> CredentialSource:
    """`AWS:<password>` from ECR's GetAuthorizationToken, renewed an hour before its 12 hours end."""
    cached: dict[str, Any] = {}

    def fetch() -> Credentials:
        if cached and cached["expires"] - time.time() > ECR_TOKEN_REFRESH_MARGIN:
            return cached["credentials"]  # type: ignore[no-any-return]
        import boto3

        data = boto3.client("ecr", region_name=region).get_authorization_token()["authorizationData"][0]
        user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        expires = data.get("expiresAt")
        cached["expires"] = expires.timestamp() if expires else time.time() + ECR_TOKEN_LIFETIME
        cached["credentials"] = (user, password)
        return user, password

    return fetch


@dataclass
class RegistryClient:
    """Talks to one registry endpoint, `base_url`, which may carry a path (ECR's `/<prefix>`)."""

    base_url: str
    credentials: CredentialSource | None = None
    concurrency: int = 8
    request_timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    plain_http: bool = False
    transport: httpx.AsyncBaseTransport | None = None
    requests: int = 0
    bytes_received: int = 0

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError(f"{self.base_url!r} is not an http(s) registry URL")
        if parts.scheme == "http" and not (self.plain_http and is_loopback(parts.hostname or "")):
            raise ValueError(
                f"{self.base_url!r}: plain HTTP is only allowed for loopback addresses, with --plain-http"
            )
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.path_prefix = parts.path.strip("/")
        if self.credentials is None and (match := ECR_HOST.fullmatch(parts.hostname or "")):
            self.credentials = ecr_credentials(match["region"])
        self._tokens: dict[str, str] = {}
        self._basic: str | None = None
        self._slots = asyncio.Semaphore(self.concurrency)
        self._urgent_slots = asyncio.Semaphore(URGENT_LANES)
        self._http = httpx.AsyncClient(
            transport=self.transport,
            timeout=httpx.Timeout(self.request_timeout, connect=10.0),
            limits=httpx.Limits(
                max_connections=self.concurrency + URGENT_LANES,
                max_keepalive_connections=self.concurrency + URGENT_LANES,
            ),
            follow_redirects=True,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

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
        name = f"{self.path_prefix}/{repository}" if self.path_prefix else repository
        return f"{self.origin}/v2/{name}/{kind}/{reference}"

    def scope(self, repository: str, actions: str = "pull") -> str:
        name = f"{self.path_prefix}/{repository}" if self.path_prefix else repository
        return f"repository:{name}:{actions}"

    async def _authorize(self, challenge: str, scope: str) -> None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if self.credentials is None:
                raise RegistryError("the registry asks for a login, and none is configured", 401)
            user, password = self.credentials()
            self._basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            return
        if scheme != "bearer" or "realm" not in params:
            raise RegistryError(f"unsupported authentication challenge {scheme!r}", 401)
        query = {"service": params.get("service", ""), "scope": params.get("scope", scope)}
        auth = self.credentials() if self.credentials is not None else None
        response = await self._http.get(params["realm"], params=query, auth=auth)
        if response.status_code != 200:
            raise RegistryError(
                f"the token service refused access ({response.status_code})", response.status_code
            )
        body = response.json()
        self._tokens[scope] = "Bearer " + (body.get("token") or body.get("access_token") or "")

    def _auth_header(self, scope: str) -> dict[str, str]:
        value = self._tokens.get(scope) or self._basic
        return {"Authorization": value} if value else {}

    async def _send(
        self,
        method: str,
        url: str,
        scope: str,
        headers: dict[str, str],
        consume: Callable[[httpx.Response], Awaitable[Any]],
        follow_redirects: bool = True,
    ) -> Any:
        """One request with auth and retries; `consume` reads the response while the connection is held."""
        async for attempt in stamina.retry_context(
            on=_retry_hook,
            attempts=self.retry.attempts,
            timeout=self.retry.timeout,
            wait_initial=self.retry.wait_initial,
            wait_max=self.retry.wait_max,
        ):
            with attempt:
                return await self._send_once(method, url, scope, headers, consume, follow_redirects)
        raise AssertionError("stamina either returns or raises")  # pragma: no cover

    async def _send_once(
        self,
        method: str,
        url: str,
        scope: str,
        headers: dict[str, str],
        consume: Callable[[httpx.Response], Awaitable[Any]],
        follow_redirects: bool,
    ) -> Any:
        async with self._urgent_slots if _urgent.get() else self._slots:
            for authorized in (False, True):
                self.requests += 1
                request = self._http.build_request(
                    method, url, headers={**headers, **self._auth_header(scope)}
                )
                response = await self._http.send(request, stream=True, follow_redirects=follow_redirects)
                try:
                    if response.status_code == 401 and not authorized:
                        challenge = response.headers.get("www-authenticate", "")
                        await self._authorize(challenge, scope)
                        continue
                    if response.status_code in RETRYABLE_STATUS:
                        raise RetryableResponse(
                            f"{method} {url}: {response.status_code}",
                            response.status_code,
                            parse_retry_after(response.headers.get("retry-after")),
                        )
                    return await consume(response)
                finally:
                    await _drain(response)
                    await response.aclose()
        raise RegistryError(f"{method} {url}: still unauthorized after logging in", 401)

    async def get_manifest(self, repository: str, reference: str) -> Manifest:
        async def consume(response: httpx.Response) -> Manifest:
            _raise_for_status(response, f"manifest {repository}:{reference}")
            body = await response.aread()
            self.bytes_received += len(body)
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            if media_type not in INDEX_TYPES | MANIFEST_TYPES:
                media_type = json.loads(body).get("mediaType", media_type)
            if media_type not in INDEX_TYPES | MANIFEST_TYPES:
                raise RegistryError(
                    f"manifest {repository}:{reference} has unsupported media type {media_type!r}"
                )
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            expected = (
                reference
                if reference.startswith("sha256:")
                else response.headers.get("docker-content-digest")
            )
            if expected and expected != digest:
                raise DigestMismatch(f"manifest {repository}:{reference} does not match {expected}")
            return Manifest(digest, media_type, body)

        result: Manifest = await self._send(
            "GET",
            self.url(repository, "manifests", reference),
            self.scope(repository),
            {"Accept": ACCEPT},
            consume,
        )
        return result

    async def head_manifest(self, repository: str, reference: str) -> str | None:
        """The digest the registry serves for `reference`, or None when it has no such manifest."""

        async def consume(response: httpx.Response) -> str | None:
            if response.status_code == 404:
                return None
            _raise_for_status(response, f"manifest {repository}:{reference}")
            digest = response.headers.get("docker-content-digest")
            return digest if digest else (reference if reference.startswith("sha256:") else None)

        result: str | None = await self._send(
            "HEAD",
            self.url(repository, "manifests", reference),
            self.scope(repository),
            {"Accept": ACCEPT},
            consume,
        )
        return result

    async def fetch_blob(self, repository: str, digest: str) -> int:
        """Stream a blob through and discard it, checking its digest; returns its size."""
        return (await self.get_blob(repository, digest)).size

    async def read_blob(self, repository: str, digest: str) -> bytes:
        """A small blob kept in memory, such as an image config, checked against its digest."""
        return (await self.get_blob(repository, digest, keep=True)).body or b""

    async def get_blob(self, repository: str, digest: str, *, keep: bool = False) -> Blob:
        """Stream a blob, checking its digest; its bytes are kept only when asked for."""

        async def consume(response: httpx.Response) -> Blob:
            _raise_for_status(response, f"blob {repository}@{digest}")
            hasher = hashlib.sha256()
            size = 0
            kept = bytearray()
            async for chunk in response.aiter_bytes(_CHUNK):
                hasher.update(chunk)
                size += len(chunk)
                if keep:
                    kept += chunk
            self.bytes_received += size
            if "sha256:" + hasher.hexdigest() != digest:
                raise DigestMismatch(f"blob {repository}@{digest} arrived corrupted or truncated")
            return Blob(size, bytes(kept) if keep else None, served_from_storage(response, digest))

        result: Blob = await self._send(
            "GET", self.url(repository, "blobs", digest), self.scope(repository), {}, consume
        )
        return result

    async def blob_status(self, repository: str, digest: str) -> BlobStatus:
        """HEAD a blob, telling a stored blob from one a distribution proxy merely relays.

        A redirect (ECR points at S3) is not followed, since a URL presigned for GET refuses HEAD.
        """

        async def consume(response: httpx.Response) -> BlobStatus:
            if response.status_code == 404:
                return BlobStatus.ABSENT
            if not response.is_redirect:
                _raise_for_status(response, f"blob {repository}@{digest}")
            return BlobStatus.STORED if served_from_storage(response, digest) else BlobStatus.PASSED_THROUGH

        result: BlobStatus = await self._send(
            "HEAD",
            self.url(repository, "blobs", digest),
            self.scope(repository),
            {},
            consume,
            follow_redirects=False,
        )
        return result

    async def delete_manifest(self, repository: str, digest: str) -> None:
        async def consume(response: httpx.Response) -> None:
            if response.status_code != 404:
                _raise_for_status(response, f"manifest {repository}@{digest}")

        await self._send(
            "DELETE",
            self.url(repository, "manifests", digest),
            self.scope(repository, "pull,push,delete"),
            {},
            consume,
        )


async def _drain(response: httpx.Response) -> None:
    """Read a small unread answer to its end: httpx closes a connection whose answer was not read."""
    if response.is_stream_consumed or response.is_closed:
        return
    length = response.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) <= _DRAIN_LIMIT:
        with contextlib.suppress(httpx.HTTPError):  # the connection is closed then, as it would have been
            await response.aread()


def _raise_for_status(response: httpx.Response, what: str) -> None:
    if response.status_code >= 400:
        raise RegistryError(f"{what}: the registry answered {response.status_code}", response.status_code)
