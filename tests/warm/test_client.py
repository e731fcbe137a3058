"""The registry client against loopback registries: auth, media types, digests and retries."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import httpx
import pytest

from components.model.ecr import EcrRegistry
from components.warm.answers import Blob, BlobStatus, env_proxy, parse_retry_after
from components.warm.auth import parse_challenge
from components.warm.client import RegistryClient, RetryPolicy
from components.warm.ecr_login import ecr_credentials, ecr_login
from components.warm.errors import DeadlineExceeded, DigestMismatch, RegistryError, TransportError
from components.warm.limits import Limits
from components.warm.media_types import ACCEPT, DOCKER_MANIFEST, OCI_INDEX
from tests.warm.loopback import Handler, serving

FAST = RetryPolicy(attempts=4, wait_initial=0.01, wait_max=0.05, timeout=10)
CONFIG = {
    "mediaType": "application/vnd.docker.container.image.v1+json",
    "digest": "sha256:" + "c" * 64,
    "size": 2,
}
MANIFEST = json.dumps(
    {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": CONFIG, "layers": []}
).encode()
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
BLOB = b"layer-bytes" * 1000
BLOB_DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()

HOSTS = ("registry.example", "auth.example", "s3.example")
T = TypeVar("T")


def call(
    handler: Handler,
    action: Callable[[RegistryClient], Awaitable[T]],
    base_url: str = "https://registry.example",
    **kwargs: Any,
) -> T:
    """`action` on a client of `base_url`, its hosts served on loopback by `handler`."""

    async def go() -> T:
        async with serving(handler, HOSTS) as loopback:
            kwargs.setdefault("retry", FAST)
            kwargs["trusted_realms"] = frozenset(map(loopback.real, kwargs.get("trusted_realms", ())))
            async with RegistryClient(loopback.real(base_url), plain_http=True, **kwargs) as registry:
                return await action(registry)

    return asyncio.run(go())


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def manifest_response(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        content=MANIFEST,
        headers={"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": MANIFEST_DIGEST},
    )


def test_accept_header_asks_for_every_modern_type_and_never_schema1() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["accept"])
        return manifest_response(request)

    manifest = call(handler, lambda c: c.get_manifest("library/nginx", "1.27"))
    assert manifest.digest == MANIFEST_DIGEST and manifest.media_type == DOCKER_MANIFEST
    assert seen == [ACCEPT]
    assert "application/vnd.oci.image.index.v1+json" in ACCEPT
    assert "application/vnd.docker.distribution.manifest.list.v2+json" in ACCEPT
    assert "prettyjws" not in ACCEPT
    assert "application/vnd.docker.distribution.manifest.v1+json" not in ACCEPT


def test_schema1_answer_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.dumps({"schemaVersion": 1}).encode()
        return httpx.Response(
            200,
            content=body,
            headers={"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"},
        )

    with pytest.raises(RegistryError, match="unsupported media type"):
        call(handler, lambda c: c.get_manifest("a/b", "1"))


def test_bearer_challenge_fetches_a_token_for_the_scope_from_a_realm_the_caller_trusts() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if request.url.host == "auth.example":
            assert request.url.params["scope"] == "repository:docker-hub/library/nginx:pull"
            assert request.url.params["service"] == "registry.example"
            assert request.headers["authorization"] == "Basic " + base64.b64encode(b"user:pw").decode()
            return httpx.Response(200, json={"token": "T0KEN"})
        if request.headers.get("authorization") != "Bearer T0KEN":
            challenge = 'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:docker-hub/library/nginx:pull"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return manifest_response(request)

    call(
        handler,
        lambda c: c.get_manifest("library/nginx", "1"),
        "https://registry.example/docker-hub",
        credentials=lambda: ("user", "pw"),
        trusted_realms={"https://auth.example"},
    )
    assert calls[0] == "https://registry.example/v2/docker-hub/library/nginx/manifests/1"
    assert calls[1].startswith("https://auth.example/token")
    assert len(calls) == 3


def test_basic_challenge_uses_the_credentials_and_never_shows_them() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        expected = "Basic " + base64.b64encode(b"AWS:s3cr3t-password").decode()
        if request.headers.get("authorization") != expected:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="https://x/"'})
        return httpx.Response(403)

    with pytest.raises(RegistryError) as caught:
        call(handler, lambda c: c.get_manifest("a", "1"), credentials=lambda: ("AWS", "s3cr3t-password"))
    assert "403" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


class FakeEcr:
    """boto3's ECR client, answering GetAuthorizationToken with a token that expires at `expires`."""

    calls: ClassVar[list[str]] = []
    expires = 0.0

    def __init__(self, region: str) -> None:
        self.region = region

    def get_authorization_token(self) -> dict[str, Any]:
        FakeEcr.calls.append(self.region)
        token = base64.b64encode(f"AWS:ecr-password-{len(FakeEcr.calls)}".encode()).decode()
        expires_at = datetime.datetime.fromtimestamp(FakeEcr.expires, tz=datetime.UTC)
        return {"authorizationData": [{"authorizationToken": token, "expiresAt": expires_at}]}


def test_ecr_hosts_log_in_with_an_authorization_token_renewed_before_it_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_boto3 = type(
        "boto3", (), {"client": staticmethod(lambda service, region_name: FakeEcr(region_name))}
    )
    monkeypatch.setitem(sys.modules, "boto3", fake_boto3)
    FakeEcr.calls = []
    FakeEcr.expires = time.time() + 12 * 3600
    logins: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        login = request.headers.get("authorization")
        if login is None:
            challenge = 'Basic realm="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/",service="ecr.amazonaws.com"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        logins.append(base64.b64decode(login.removeprefix("Basic ")).decode())
        return manifest_response(request)

    assert RegistryClient("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/x").credentials is not None
    login = ecr_credentials("eu-west-1")
    call(handler, lambda c: c.get_manifest("library/nginx", "1.27"), credentials=login)
    assert logins == ["AWS:ecr-password-1"] and FakeEcr.calls == ["eu-west-1"]
    login()
    assert FakeEcr.calls == ["eu-west-1"], "a 12-hour token is reused"
    eleven_and_a_half_hours_later = time.time() + 11.5 * 3600
    monkeypatch.setattr(time, "time", lambda: eleven_and_a_half_hours_later)
    assert login() == ("AWS", "ecr-password-2"), "renewed in its last hour"


def test_one_ecr_login_per_registry_host_shared_by_every_client() -> None:
    host = "210987654321.dkr.ecr.eu-west-2.amazonaws.com"
    first = RegistryClient(f"https://{host}/docker-hub").credentials
    assert first is not None
    assert RegistryClient(f"https://{host}/quay").credentials is first, "one login for two prefixes"
    assert ecr_login(host.upper()) is first
    assert ecr_login("111111111111.dkr.ecr.eu-west-2.amazonaws.com") is not first, "another registry"
    assert ecr_login("registry.example.com") is None


def test_login_needed_but_none_configured() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="x"'})

    with pytest.raises(RegistryError, match="asks for a login"):
        call(handler, lambda c: c.get_manifest("a", "1"))


def test_manifest_digest_is_verified() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            content=MANIFEST,
            headers={"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": "sha256:" + "0" * 64},
        )

    with pytest.raises(DigestMismatch):
        call(handler, lambda c: c.get_manifest("a", "1"))


def test_blob_is_streamed_and_verified() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=BLOB)

    async def fetch(c: RegistryClient) -> tuple[int, int]:
        return await c.fetch_blob("a", BLOB_DIGEST, len(BLOB)), c.bytes_received

    assert call(handler, fetch) == (len(BLOB), len(BLOB))


def test_corrupt_blob_is_retried_then_reported() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, content=BLOB[:-1] + b"X")

    with pytest.raises(DigestMismatch, match=f"expected {BLOB_DIGEST}, computed sha256:[0-9a-f]{{64}}"):
        call(handler, lambda c: c.fetch_blob("a", BLOB_DIGEST, len(BLOB)))
    assert calls == FAST.attempts


def test_429_honours_retry_after() -> None:
    stamps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            return httpx.Response(429, headers={"Retry-After": "0.5"})
        return manifest_response(request)

    call(handler, lambda c: c.get_manifest("a", "1"))
    assert len(stamps) == 2
    assert stamps[1] - stamps[0] >= 0.45, "waited as the registry asked, not the 10 ms backoff"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried(status: int) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(status) if calls < 3 else manifest_response(request)

    call(handler, lambda c: c.get_manifest("a", "1"))
    assert calls == 3


def test_connection_resets_are_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ReadError("connection reset by peer")
        if calls == 2:
            raise httpx.ReadTimeout("timed out")
        return manifest_response(request)

    call(handler, lambda c: c.get_manifest("a", "1"))
    assert calls == 3


def test_retries_run_out() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    with pytest.raises(RegistryError, match="503"):
        call(handler, lambda c: c.get_manifest("a", "1"))


def test_404_is_not_retried_and_head_says_absent() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(404)

    async def look(c: RegistryClient) -> tuple[str | None, BlobStatus]:
        return await c.head_manifest("a", "1"), await c.blob_status("a", BLOB_DIGEST)

    assert call(handler, look) == (None, BlobStatus.ABSENT)
    assert calls == 2


def test_plain_http_only_for_loopback() -> None:
    with pytest.raises(ValueError, match="only allowed for loopback"):
        RegistryClient("http://10.0.0.5:5000", plain_http=True)
    with pytest.raises(ValueError, match="only allowed for loopback"):
        RegistryClient("http://127.0.0.1:5000")
    assert RegistryClient("http://127.0.0.1:5000", plain_http=True).origin == "http://127.0.0.1:5000"
    assert RegistryClient("http://[::1]:5000", plain_http=True).origin == "http://[::1]:5000"


def test_index_media_type_from_body_when_header_is_generic() -> None:
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    assert call(handler, lambda c: c.get_manifest("a", "1")).is_index


def test_challenge_and_retry_after_parsing() -> None:
    assert parse_challenge('Bearer realm="https://a/t",service="s",scope="repository:x:pull"') == (
        "bearer",
        {"realm": "https://a/t", "service": "s", "scope": "repository:x:pull"},
    )
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after(None) is None


RELAYED, ECR, REDIRECTED, STORED, MISSING = ("sha256:" + c * 64 for c in "12345")


def test_blob_status_tells_stored_from_relayed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(RELAYED):
            return httpx.Response(200, headers={"ETag": RELAYED})
        if request.url.path.endswith(ECR):
            return httpx.Response(200, headers={"ETag": '"0f343b0931126a20f133d67c2b018a3b"'})
        if request.url.path.endswith(REDIRECTED):
            assert request.method == "HEAD"
            return httpx.Response(307, headers={"Location": "https://s3.example/layer?X-Amz-Signature=abc"})
        if request.url.host == "s3.example":
            return httpx.Response(403)
        return httpx.Response(200, headers={"ETag": '"stored"', "Accept-Ranges": "bytes"})

    async def statuses(c: RegistryClient) -> list[BlobStatus]:
        return [await c.blob_status("a", d) for d in (RELAYED, STORED, ECR, REDIRECTED)]

    assert call(handler, statuses) == [
        BlobStatus.PASSED_THROUGH,
        BlobStatus.STORED,
        BlobStatus.STORED,
        BlobStatus.STORED,  # the presigned URL is not followed
    ]


def test_blob_redirect_to_storage_drops_the_registry_login() -> None:
    seen: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.host] = request.headers.get("authorization")
        if request.url.host == "s3.example":
            return httpx.Response(200, content=BLOB)
        if request.headers.get("authorization") is None:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="x"'})
        return httpx.Response(307, headers={"Location": "https://s3.example/layer?X-Amz-Signature=abc"})

    fetched = call(
        handler, lambda c: c.fetch_blob("a", BLOB_DIGEST, len(BLOB)), credentials=lambda: ("AWS", "token")
    )
    assert fetched == len(BLOB)
    assert seen["registry.example"] is not None
    assert seen["s3.example"] is None, "the ECR token never reaches the storage host"


def test_blob_get_tells_whether_the_cache_answered_from_its_storage() -> None:
    """The GET's own answer proves storage when it came from the cache's storage; a relayed one does not."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "s3.example":
            return httpx.Response(200, content=BLOB, headers={"ETag": '"0f343b09"'})
        if request.url.path.startswith("/v2/relayed/"):
            return httpx.Response(200, content=BLOB, headers={"ETag": BLOB_DIGEST})
        if request.url.path.startswith("/v2/stored/"):
            headers = {"ETag": f'"{BLOB_DIGEST}"', "Accept-Ranges": "bytes"}
            return httpx.Response(200, content=BLOB, headers=headers)
        return httpx.Response(307, headers={"Location": "https://s3.example/layer?X-Amz-Signature=abc"})

    async def blobs(c: RegistryClient) -> list[Blob]:
        return [
            await c.get_blob("relayed", BLOB_DIGEST, len(BLOB)),
            await c.get_blob("stored", BLOB_DIGEST, len(BLOB), keep=True),
            await c.get_blob("ecr", BLOB_DIGEST, len(BLOB)),
        ]

    relayed, stored, ecr = call(handler, blobs)
    assert (relayed.size, relayed.body, relayed.stored) == (len(BLOB), None, False)
    assert stored == Blob(len(BLOB), BLOB, True)
    assert ecr.stored, "a redirect to storage proves it"


def test_ecr_proves_storage_only_by_a_redirect_into_its_layer_bucket() -> None:
    """ECR's pull-through cache redirects a layer it has not cached yet to the upstream's CDN
    (aws/containers-roadmap#2304): neither that GET nor a HEAD redirected so shows the cache keeps it."""
    cdn = "https://s3.example/registry-v2/blobs/layer?verify=1"  # plays production.cloudflare.docker.com

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "s3.example":
            return httpx.Response(200, content=BLOB)
        return httpx.Response(307, headers={"Location": cdn})

    async def look(c: RegistryClient) -> tuple[BlobStatus, Blob, BlobStatus]:
        other = await c.blob_status("a", BLOB_DIGEST)
        c.ecr = EcrRegistry("123456789012", "eu-west-1")  # the loopback stand-in plays an ECR host
        return other, await c.get_blob("a", BLOB_DIGEST, len(BLOB)), await c.blob_status("a", BLOB_DIGEST)

    other, fetched, status = call(handler, look)
    assert other is BlobStatus.STORED, "another registry's redirect goes to its storage"
    assert not fetched.stored
    assert status is BlobStatus.PASSED_THROUGH


@dataclass
class HangUp:
    """Write these bytes, then close the connection."""

    data: bytes = b""


class ScriptedServer:
    """An HTTP/1.1 server on 127.0.0.1 whose every answer `respond` writes as raw bytes, for the client's
    own transport: keep-alive, chunked bodies, closed and stalled connections."""

    def __init__(self, respond: Callable[[str, str, int], Awaitable[bytes | HangUp]]) -> None:
        self.respond = respond
        self.connections = 0
        self.requests: list[str] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        try:
            while request_line := await reader.readline():
                method, target, _ = request_line.decode().split(" ", 2)
                while (await reader.readline()).strip():
                    pass
                self.requests.append(f"{method} {target}")
                answer = await self.respond(method, target, connection)
                writer.write(answer.data if isinstance(answer, HangUp) else answer)
                await writer.drain()
                if isinstance(answer, HangUp):
                    break
        finally:
            writer.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        async with server:
            yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def answer(status: int, body: bytes = b"", head: bool = False, **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (b"" if head else body)


def test_one_connection_serves_heads_and_unread_error_answers() -> None:
    """A connection is kept only for answers read to their end, empty ones included."""

    async def respond(method: str, target: str, connection: int) -> bytes:
        if target.endswith(("missing", MISSING)):
            return answer(404, b'{"errors": [{"code": "BLOB_UNKNOWN"}]}', head=method == "HEAD")
        return answer(200, head=method == "HEAD", Docker_Content_Digest=MANIFEST_DIGEST)

    server = ScriptedServer(respond)

    async def go() -> None:
        async with server.running() as url, RegistryClient(url, plain_http=True, concurrency=1) as c:
            for _ in range(3):
                assert await c.head_manifest("a", "1") == MANIFEST_DIGEST
                assert await c.blob_status("a", MISSING) is BlobStatus.ABSENT
                with pytest.raises(RegistryError, match="404"):
                    await c.get_manifest("a", "missing")

    run(go())
    assert server.connections == 1 and len(server.requests) == 9


def test_chunked_blob_and_a_connection_the_server_closed_while_idle() -> None:
    async def respond(method: str, target: str, connection: int) -> HangUp:
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (BLOB[:5000], BLOB[5000:]))
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        return HangUp(head + chunks + b"0\r\n\r\n")  # without saying so beforehand

    server = ScriptedServer(respond)

    async def go() -> None:
        no_retries = RetryPolicy(attempts=1)
        async with server.running() as url, RegistryClient(url, plain_http=True, retry=no_retries) as c:
            assert await c.fetch_blob("a", BLOB_DIGEST, len(BLOB)) == len(BLOB)
            await asyncio.sleep(0.05)  # the server hangs up meanwhile; the client sees it before asking
            assert await c.fetch_blob("a", BLOB_DIGEST, len(BLOB)) == len(BLOB)

    run(go())
    assert server.connections == 2


def test_a_connection_closed_mid_blob_is_retried() -> None:
    async def respond(method: str, target: str, connection: int) -> bytes | HangUp:
        if connection == 1:
            return HangUp(answer(200, BLOB)[: len(BLOB) // 2])
        return answer(200, BLOB)

    server = ScriptedServer(respond)

    async def go() -> None:
        async with server.running() as url, RegistryClient(url, plain_http=True, retry=FAST) as c:
            assert await c.fetch_blob("a", BLOB_DIGEST, len(BLOB)) == len(BLOB)

    run(go())
    assert server.connections == 2


def test_a_stalled_answer_hits_the_deadline_and_a_refused_connection_is_a_transport_error() -> None:
    async def respond(method: str, target: str, connection: int) -> bytes:
        await asyncio.sleep(5)
        return answer(200)

    server = ScriptedServer(respond)
    quick = RetryPolicy(attempts=2, wait_initial=0.01, wait_max=0.01)

    async def go() -> None:
        async with server.running() as url:
            limits = Limits(manifest_deadline=0.1)
            async with RegistryClient(url, plain_http=True, retry=quick, limits=limits) as stalled:
                with pytest.raises(DeadlineExceeded, match=r"within 0\.1 s"):
                    await stalled.head_manifest("a", "1")
        async with RegistryClient(url, plain_http=True, retry=quick) as refused:
            with pytest.raises(TransportError, match="cannot connect"):
                await refused.head_manifest("a", "1")

    run(go())
    assert server.connections == 1, "a deadline is not retried"


def test_requests_in_flight_stay_within_the_concurrency() -> None:
    in_flight = peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        in_flight -= 1
        return httpx.Response(200, content=BLOB)

    async def go(registry: RegistryClient) -> None:
        await asyncio.gather(*(registry.fetch_blob(f"r{n}", BLOB_DIGEST, len(BLOB)) for n in range(20)))

    call(handler, go, concurrency=3)
    assert peak == 3


def test_urgent_requests_do_not_queue_behind_the_others() -> None:
    release = asyncio.Event()
    finished: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v2/slow/"):
            await release.wait()
        return httpx.Response(200, content=BLOB)

    async def go(registry: RegistryClient) -> None:
        slow = asyncio.ensure_future(registry.fetch_blob("slow", BLOB_DIGEST, len(BLOB)))
        queued = asyncio.ensure_future(registry.fetch_blob("queued", BLOB_DIGEST, len(BLOB)))
        await asyncio.sleep(0.01)
        with registry.urgent():
            await registry.fetch_blob("urgent", BLOB_DIGEST, len(BLOB))
        finished.append("urgent")
        assert not slow.done() and not queued.done(), "the only normal slot is still taken"
        release.set()
        await asyncio.gather(slow, queued)

    call(handler, go, concurrency=1)
    assert finished == ["urgent"]


@pytest.mark.parametrize(
    ("retry_after", "shown"),
    [("999999", "999999 s"), ("inf", "forever"), ("nan", "forever"), ("61", "61 s"), ("11", "11 s")],
)
def test_a_retry_after_beyond_the_cap_or_the_budget_fails_at_once(retry_after: str, shown: str) -> None:
    """stamina sleeps whatever its hook returns, past its own budget (checked with stamina 26.1.0), so
    the client never hands it more than min(60 s, the retry budget): FAST's budget is 10 s."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(429, headers={"Retry-After": retry_after})

    started = time.monotonic()
    with pytest.raises(
        RegistryError, match=f"the upstream asked to wait {shown}; the warm waits at most 10 s"
    ):
        call(handler, lambda c: c.get_manifest("a", "1"))
    assert calls == 1 and time.monotonic() - started < 5
    assert parse_retry_after("nan") == parse_retry_after("inf") == float("inf")


def test_a_body_past_its_cap_is_refused_before_it_is_all_read() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b" " * 5000, headers={"Content-Type": DOCKER_MANIFEST})

    with pytest.raises(RegistryError, match="is 5000 bytes, more than the 4096 bytes allowed"):
        call(handler, lambda c: c.get_manifest("a", "1"), limits=Limits(max_manifest_bytes=4096))


def test_a_login_the_registry_still_refuses_is_named_so() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="x"'})

    with pytest.raises(RegistryError, match="still unauthorized after logging in"):
        call(handler, lambda c: c.head_manifest("a", "1"), credentials=lambda: ("AWS", "wrong"))
    assert calls == 2


def test_a_blob_kept_in_memory_may_not_declare_more_than_a_manifests_cap() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("refused before asking")

    with pytest.raises(RegistryError, match="declares 4097 bytes, more than the 4096 bytes kept in memory"):
        call(
            handler,
            lambda c: c.get_blob("a", BLOB_DIGEST, 4097, keep=True),
            limits=Limits(max_manifest_bytes=4096),
        )


def test_a_blob_longer_than_declared_stops_one_byte_past_it() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=BLOB)

    with pytest.raises(
        RegistryError, match=f"is longer than the {len(BLOB) - 1} bytes its manifest declares"
    ):
        call(handler, lambda c: c.get_blob("a", BLOB_DIGEST, len(BLOB) - 1))


def test_headers_past_the_cap_fail_without_retrying() -> None:
    async def respond(method: str, target: str, connection: int) -> bytes:
        return answer(200, Docker_Content_Digest=MANIFEST_DIGEST, X_Padding="x" * 10_000)

    server = ScriptedServer(respond)

    async def go() -> None:
        async with server.running() as url, RegistryClient(url, plain_http=True, retry=FAST) as c:
            with pytest.raises(RegistryError, match="unreadable answer") as caught:
                await c.head_manifest("a", "1")
            assert not isinstance(caught.value, TransportError)

    run(go())
    assert len(server.requests) == 1


def test_proxies_come_from_the_environment_once_per_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "registry.internal")
    env_proxy.cache_clear()
    try:
        proxy, _ = env_proxy("https", "quay.io", None)
        assert str(proxy) == "http://proxy.internal:3128"
        assert env_proxy("https", "registry.internal", None) == (None, None), "NO_PROXY is honoured"
        monkeypatch.delenv("HTTPS_PROXY")
        assert env_proxy("https", "quay.io", None)[0] == proxy, "looked up once, not per request"
    finally:
        env_proxy.cache_clear()


def test_the_token_request_goes_through_the_environment_proxy_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """aiohttp's `trust_env` is off, so each request is given its proxy (`answers.route_to`): the
    token service's request as well as the registry's."""
    registry = "http://127.0.0.2:5000"  # reached only through the proxy, which is the scripted server

    async def respond(method: str, target: str, connection: int) -> bytes:
        if target.startswith(f"{registry}/token"):
            return answer(200, b'{"token": "T0KEN"}')
        if sum(request.endswith("/manifests/1") for request in server.requests) == 1:
            return answer(401, head=True, WWW_Authenticate=f'Bearer realm="{registry}/token",service="s"')
        return answer(200, head=True, Docker_Content_Digest=MANIFEST_DIGEST)

    server = ScriptedServer(respond)

    async def go() -> str | None:
        async with server.running() as proxy_url:
            monkeypatch.setenv("HTTP_PROXY", proxy_url)
            monkeypatch.delenv("NO_PROXY", raising=False)
            env_proxy.cache_clear()
            async with RegistryClient(registry, plain_http=True, retry=FAST) as client:
                return await client.head_manifest("a", "1")

    try:
        assert run(go()) == MANIFEST_DIGEST
    finally:
        env_proxy.cache_clear()
    assert [request.split("?")[0] for request in server.requests] == [
        f"HEAD {registry}/v2/a/manifests/1",
        f"GET {registry}/token",
        f"HEAD {registry}/v2/a/manifests/1",
    ]
