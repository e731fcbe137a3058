"""The registry client against httpx.MockTransport: auth, media types, digests and retries."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import json
import shutil
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import httpx
import pytest

from components.oci_client import (
    ACCEPT,
    DOCKER_MANIFEST,
    OCI_INDEX,
    Blob,
    BlobStatus,
    DigestMismatch,
    RegistryClient,
    RegistryError,
    RetryPolicy,
    parse_challenge,
    parse_retry_after,
)

FAST = RetryPolicy(attempts=4, wait_initial=0.01, wait_max=0.05, timeout=10)
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": {}, "layers": []}).encode()
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
BLOB = b"layer-bytes" * 1000
BLOB_DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, base_url: str = "https://registry.example", **kwargs: object) -> RegistryClient:
    return RegistryClient(base_url, transport=httpx.MockTransport(handler), retry=FAST, **kwargs)  # type: ignore[arg-type]


T = TypeVar("T")


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

    manifest = run(client(handler).get_manifest("library/nginx", "1.27"))
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
        run(client(handler).get_manifest("a/b", "1"))


def test_bearer_challenge_fetches_a_token_for_the_scope() -> None:
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

    registry = client(handler, "https://registry.example/docker-hub", credentials=lambda: ("user", "pw"))
    run(registry.get_manifest("library/nginx", "1"))
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
        run(client(handler, credentials=lambda: ("AWS", "s3cr3t-password")).get_manifest("a", "1"))
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

    registry = RegistryClient(
        "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/docker-hub",
        transport=httpx.MockTransport(handler),
    )
    run(registry.get_manifest("library/nginx", "1.27"))
    assert logins == ["AWS:ecr-password-1"] and FakeEcr.calls == ["eu-west-1"]
    assert registry.credentials is not None
    registry.credentials()
    assert FakeEcr.calls == ["eu-west-1"], "a 12-hour token is reused"
    eleven_and_a_half_hours_later = time.time() + 11.5 * 3600
    monkeypatch.setattr(time, "time", lambda: eleven_and_a_half_hours_later)
    assert registry.credentials() == ("AWS", "ecr-password-2"), "renewed in its last hour"


def test_login_needed_but_none_configured() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="x"'})

    with pytest.raises(RegistryError, match="asks for a login"):
        run(client(handler).get_manifest("a", "1"))


def test_manifest_digest_is_verified() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            content=MANIFEST,
            headers={"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": "sha256:" + "0" * 64},
        )

    with pytest.raises(DigestMismatch):
        run(client(handler).get_manifest("a", "1"))


def test_blob_is_streamed_and_verified() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=BLOB)

    registry = client(handler)
    assert run(registry.fetch_blob("a", BLOB_DIGEST)) == len(BLOB)
    assert registry.bytes_received == len(BLOB)


def test_corrupt_blob_is_retried_then_reported() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, content=BLOB[:-1])

    with pytest.raises(DigestMismatch, match="corrupted or truncated"):
        run(client(handler).fetch_blob("a", BLOB_DIGEST))
    assert calls == FAST.attempts


def test_429_honours_retry_after() -> None:
    stamps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            return httpx.Response(429, headers={"Retry-After": "0.5"})
        return manifest_response(request)

    run(client(handler).get_manifest("a", "1"))
    assert len(stamps) == 2
    assert stamps[1] - stamps[0] >= 0.45, "waited as the registry asked, not the 10 ms backoff"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried(status: int) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(status) if calls < 3 else manifest_response(request)

    run(client(handler).get_manifest("a", "1"))
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

    run(client(handler).get_manifest("a", "1"))
    assert calls == 3


def test_retries_run_out() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    with pytest.raises(RegistryError, match="503"):
        run(client(handler).get_manifest("a", "1"))


def test_404_is_not_retried_and_head_says_absent() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(404)

    registry = client(handler)
    assert run(registry.head_manifest("a", "1")) is None
    assert run(registry.blob_status("a", BLOB_DIGEST)) is BlobStatus.ABSENT
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

    assert run(client(handler).get_manifest("a", "1")).is_index


def test_challenge_and_retry_after_parsing() -> None:
    assert parse_challenge('Bearer realm="https://a/t",service="s",scope="repository:x:pull"') == (
        "bearer",
        {"realm": "https://a/t", "service": "s", "scope": "repository:x:pull"},
    )
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after(None) is None


def test_blob_status_tells_stored_from_relayed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("relayed"):
            return httpx.Response(200, headers={"ETag": "relayed"})
        if request.url.path.endswith("ecr"):
            return httpx.Response(200, headers={"ETag": '"0f343b0931126a20f133d67c2b018a3b"'})
        if request.url.path.endswith("redirected"):
            assert request.method == "HEAD"
            return httpx.Response(307, headers={"Location": "https://s3.example/layer?X-Amz-Signature=abc"})
        if request.url.host == "s3.example":
            return httpx.Response(403)
        return httpx.Response(200, headers={"ETag": '"stored"', "Accept-Ranges": "bytes"})

    registry = client(handler)
    assert run(registry.blob_status("a", "relayed")) is BlobStatus.PASSED_THROUGH
    assert run(registry.blob_status("a", "stored")) is BlobStatus.STORED
    assert run(registry.blob_status("a", "ecr")) is BlobStatus.STORED
    assert run(registry.blob_status("a", "redirected")) is BlobStatus.STORED, (
        "the presigned URL is not followed"
    )


def test_blob_redirect_to_storage_drops_the_registry_login() -> None:
    seen: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.host] = request.headers.get("authorization")
        if request.url.host == "s3.example":
            return httpx.Response(200, content=BLOB)
        if request.headers.get("authorization") is None:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="x"'})
        return httpx.Response(307, headers={"Location": "https://s3.example/layer?X-Amz-Signature=abc"})

    registry = client(handler, credentials=lambda: ("AWS", "token"))
    assert run(registry.fetch_blob("a", BLOB_DIGEST)) == len(BLOB)
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

    registry = client(handler)
    relayed = run(registry.get_blob("relayed", BLOB_DIGEST))
    assert (relayed.size, relayed.body, relayed.stored) == (len(BLOB), None, False)
    assert run(registry.get_blob("stored", BLOB_DIGEST, keep=True)) == Blob(len(BLOB), BLOB, True)
    assert run(registry.get_blob("ecr", BLOB_DIGEST)).stored, "a redirect to storage proves it"


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
        if target.endswith("missing"):
            return answer(404, b'{"errors": [{"code": "BLOB_UNKNOWN"}]}', head=method == "HEAD")
        return answer(200, head=method == "HEAD", Docker_Content_Digest=MANIFEST_DIGEST)

    server = ScriptedServer(respond)

    async def go() -> None:
        async with server.running() as url, RegistryClient(url, plain_http=True, concurrency=1) as c:
            for _ in range(3):
                assert await c.head_manifest("a", "1") == MANIFEST_DIGEST
                assert await c.blob_status("a", "missing") is BlobStatus.ABSENT
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
            assert await c.fetch_blob("a", BLOB_DIGEST) == len(BLOB)
            await asyncio.sleep(0.05)  # the server hangs up meanwhile; the client sees it before asking
            assert await c.fetch_blob("a", BLOB_DIGEST) == len(BLOB)

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
            assert await c.fetch_blob("a", BLOB_DIGEST) == len(BLOB)

    run(go())
    assert server.connections == 2


def test_timeouts_and_refused_connections_are_httpx_errors() -> None:
    """What stamina retries: httpx's transport errors, whatever the transport underneath."""

    async def respond(method: str, target: str, connection: int) -> bytes:
        await asyncio.sleep(5)
        return answer(200)

    server = ScriptedServer(respond)
    quick = RetryPolicy(attempts=2, wait_initial=0.01, wait_max=0.01)

    async def go() -> None:
        async with server.running() as url:
            stalled = RegistryClient(url, plain_http=True, retry=quick, request_timeout=0.1)
            async with stalled:
                with pytest.raises(httpx.ReadTimeout):
                    await stalled.head_manifest("a", "1")
        async with RegistryClient(url, plain_http=True, retry=quick) as refused:
            with pytest.raises(httpx.ConnectError):
                await refused.head_manifest("a", "1")

    run(go())
    assert server.connections == 2, "each attempt on a connection of its own"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a certificate")
def test_requests_in_flight_stay_within_the_concurrency() -> None:
    in_flight = peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        in_flight -= 1
        return httpx.Response(200, content=BLOB)

    async def go() -> None:
        async with client(handler, concurrency=3) as registry:  # type: ignore[arg-type]
            await asyncio.gather(*(registry.fetch_blob(f"r{n}", BLOB_DIGEST) for n in range(20)))

    run(go())
    assert peak == 3


def test_urgent_requests_do_not_queue_behind_the_others() -> None:
    release = asyncio.Event()
    finished: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v2/slow/"):
            await release.wait()
        return httpx.Response(200, content=BLOB)

    async def go() -> None:
        async with client(handler, concurrency=1) as registry:  # type: ignore[arg-type]
            slow = asyncio.ensure_future(registry.fetch_blob("slow", BLOB_DIGEST))
            queued = asyncio.ensure_future(registry.fetch_blob("queued", BLOB_DIGEST))
            await asyncio.sleep(0.01)
            with registry.urgent():
                await registry.fetch_blob("urgent", BLOB_DIGEST)
            finished.append("urgent")
            assert not slow.done() and not queued.done(), "the only normal slot is still taken"
            release.set()
            await asyncio.gather(slow, queued)

    run(go())
    assert finished == ["urgent"]
