"""Reading a registry's answers: statuses, bounded bodies, retry hints, and where a blob came from.

The helpers `client.RegistryClient` reads every response with (and `listing` with it), kept apart
from the request flow: each takes an aiohttp response and caps what it reads (`limits.Limits`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import math
import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from components.model.ecr import EcrRegistry, in_layer_bucket
from components.warm.errors import (
    BodyTooLarge,
    DigestMismatch,
    ResponseError,
    RetryableResponse,
    TransportError,
)
from components.warm.limits import Limits

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
CHUNK = 256 * 1024
# An answer the client does not use (a 401 challenge, a 404) is read to its end when it is at
# most this size, so that aiohttp keeps its connection open instead of closing it.
DRAIN_LIMIT = 64 * 1024


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
class Answer:
    """A response, whether a redirect led to it (then it is not the registry's own), and the
    attempt's deadline, which a body that streams lifts once the headers are in (`stream_body`)."""

    response: aiohttp.ClientResponse
    redirected: bool
    deadline: asyncio.Timeout | None = None

    def stream_body(self) -> None:
        """The headers are in: from here the body is limited by its progress (`progress.BodyProgress`),
        not by the deadline, which was the headers' only."""
        if self.deadline is not None:
            self.deadline.reschedule(None)


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


def served_from_storage(headers: Any, digest: str, redirect: str | None, ecr: EcrRegistry | None) -> bool:
    """Whether a blob answer (HEAD or GET, or the `redirect` to where it is) came from the
    registry's own storage; `ecr` is the registry when it is ECR.

    distribution's proxy mode relays a blob it has not stored from its upstream, with an
    unquoted `ETag: <digest>` and no `Accept-Ranges`; from its storage it answers with a
    quoted ETag and `Accept-Ranges` (registry/proxy/proxyblobstore.go). Only that exact
    unquoted digest counts as relayed: other registries answer from their own storage. A
    redirect points at a registry's storage, except that ECR's is its layer bucket: a redirect
    anywhere else is its pull-through cache sending a layer it has not cached yet to the
    upstream (`model.ecr.in_layer_bucket`).
    """
    if redirect is not None:
        return ecr is None or in_layer_bucket(redirect, ecr.region)
    return headers.get("etag") != digest or "accept-ranges" in headers


def retryable(what: str, response: aiohttp.ClientResponse, cap: float) -> ResponseError:
    """429/5xx as a retry, unless the registry asks to wait longer than `cap` (the cap or the budget)."""
    what = f"{what}: {response.status}"
    wait = parse_retry_after(response.headers.get("retry-after"))
    if wait is not None and wait > cap:
        shown = "forever" if math.isinf(wait) else f"{wait:g} s"
        return ResponseError(
            f"{what}, and the upstream asked to wait {shown}; the warm waits at most {cap:g} s",
            response.status,
        )
    return RetryableResponse(what, response.status, wait)


def retry_hook(error: Exception) -> bool | float:
    """stamina's backoff hook: honour Retry-After, retry transport failures and corrupt transfers.

    Retry-After was already checked against the cap and the budget (`retryable`); how often a
    stalled transfer is tried again is the request's to decide (`client.RegistryClient._send`)."""
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


def route_to(url: URL) -> dict[str, Any]:
    """aiohttp's request options that reach `url`: the proxy the environment gives for its origin
    (`env_proxy`) and what verifies its TLS (`tls_for`)."""
    proxy, proxy_auth = env_proxy(url.scheme, url.host or "", url.port)
    return {"proxy": proxy, "proxy_auth": proxy_auth, "ssl": tls_for(url)}


def tls_for(url: URL) -> ssl.SSLContext | bool:
    """What verifies a request to `url`: a context trusting `SSL_CERT_FILE` when set, otherwise the
    system's CA bundle; for plain HTTP, which needs none, aiohttp's default (`True`)."""
    return _verifying_context(os.environ.get("SSL_CERT_FILE") or None) if url.scheme == "https" else True


@functools.cache
def _verifying_context(cafile: str | None) -> ssl.SSLContext:
    """Made once per CA file, on the first HTTPS request: loading a bundle costs ~15 ms, which a
    plain-HTTP loopback cache never needs."""
    return ssl.create_default_context(cafile=cafile)


async def read_capped(response: aiohttp.ClientResponse, cap: int, what: str) -> bytes:
    """The whole body, refused as soon as it passes `cap` bytes, before it is all in memory."""
    length = response.content_length
    if length is not None and length > cap:
        raise BodyTooLarge(f"{what} is {length} bytes, more than the {cap} bytes allowed")
    body = bytearray()
    while chunk := await response.content.read(min(CHUNK, cap + 1 - len(body))):
        body += chunk
        if len(body) > cap:
            raise BodyTooLarge(f"{what} is longer than the {cap} bytes allowed")
    return bytes(body)


async def drain(response: aiohttp.ClientResponse) -> None:
    """Read a small unused answer to its end: aiohttp closes a connection whose answer was not read."""
    if response.closed or response.content.at_eof():
        return
    length = response.content_length
    if length is not None and length <= DRAIN_LIMIT:
        with contextlib.suppress(aiohttp.ClientError):  # the connection is closed then, as it would have been
            await response.content.read(length + 1)


def describe_transport(error: aiohttp.ClientError) -> str:
    """aiohttp's error as one line without URLs (which could carry a signature or a login)."""
    if isinstance(error, aiohttp.ClientResponseError):
        return f"unreadable answer ({error.message[:120]})"
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        return "cannot connect: its TLS certificate is not trusted (see SSL_CERT_FILE)"
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"cannot connect ({error.os_error.strerror or type(error.os_error).__name__})"
    return type(error).__name__


def raise_for_status(response: aiohttp.ClientResponse, what: str) -> None:
    if response.status >= 400:
        raise ResponseError(f"{what}: the registry answered {response.status}", response.status)


class RequestFlow:
    """What the client's API mixins (`blobs`, `listing`) use of `client.RegistryClient`: its URLs,
    limits, byte count and `_send`, the one request flow (login, deadline, retries, redirects)."""

    origin: str
    ecr: EcrRegistry | None
    limits: Limits
    bytes_received: int

    if TYPE_CHECKING:

        def url(self, repository: str, kind: str, reference: str) -> str: ...

        def scope(self, repository: str, actions: str = "pull") -> str: ...

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
        ) -> Any: ...
