"""A registry on 127.0.0.1 that misbehaves on purpose, one way per repository, for the warm's safety tests.

Each image is `<case>/app:v1`; `CASES` says what each case does (issue 8's network cases); a copy
target that misbehaves answers under `/v2/copies/` (`hostile_target`, issue 21's cases). A
second origin, `elsewhere`, plays another host: a token service on another origin, or the
storage a blob is redirected to. Both record which requests carried an `Authorization` header.
Written on raw asyncio streams, since several cases need bytes no HTTP server library writes
(headers dribbled a byte at a time, bodies that never end). It runs on an event loop of its own
in a thread, so a test can run the CLI in a subprocess against it. Connections close after
each answer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from standins.hostile_target import CopyTarget

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = b'{"os": "linux", "architecture": "amd64"}'
LAYER = b"a layer of the good image" * 40
TOKEN = "elsewhere-token"
CACHE_PASSWORD = "hunter2-cache-password"
BASIC_LOGIN = "Basic " + base64.b64encode(f"AWS:{CACHE_PASSWORD}".encode()).decode()

CASES = {
    "good": "a well-formed image",
    "endless-blob": "the layer streams forever past its declared size",
    "trickle-blob": "the layer trickles one byte every 20 s",
    "stall-blob": "the layer stops after 500 bytes, and the connection stays open",
    "slowloris": "the manifest's headers arrive one byte a second",
    "retry-huge": "429 with Retry-After: 999999",
    "retry-inf": "429 with Retry-After: inf",
    "endless-manifest": "a manifest body that never ends",
    "huge-manifest": "a 76 MB manifest",
    "endless-token": "a token answer (same origin) that never ends",
    "cross-realm": "a Bearer realm on another origin",
    "basic-login": "demands `Basic base64(AWS:<password>)`, as ECR does",
    "redirect-401": "the layer redirects to another origin, which answers 401",
    "traversal": "a layer digest of sha256:../../../../x",
    "layers-string": "`layers` given as a string",
    "big-index": "an index of 20,000 manifests",
    "mismatch": "the layer's bytes do not match its digest",
    "bad-json": "a manifest that is not JSON",
    "deep-json": "a manifest nested 100,000 arrays deep (200 kB, within the size cap)",
    "long-number": "a layer size of 5,000 digits",
}


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest(layers: object = None) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(CONFIG),
                "size": len(CONFIG),
            },
            "layers": layers
            if layers is not None
            else [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest(LAYER),
                    "size": len(LAYER),
                }
            ],
        }
    ).encode()


def big_index(count: int = 20_000) -> bytes:
    one = {"mediaType": OCI_MANIFEST, "digest": digest(manifest()), "size": len(manifest())}
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [one] * count}).encode()


@dataclass
class Seen:
    origin: str
    method: str
    path: str
    authorization: str | None


@dataclass
class HostileRegistry:
    port: int = 0
    elsewhere_port: int = 0
    seen: list[Seen] = field(default_factory=list)
    copy_target: CopyTarget = field(default_factory=CopyTarget)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def elsewhere(self) -> str:
        return f"http://127.0.0.1:{self.elsewhere_port}"

    def authorized_origins(self) -> set[str]:
        """The origins ("registry", "elsewhere") that received any Authorization header."""
        return {seen.origin for seen in self.seen if seen.authorization}

    async def serve(self, origin: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await reader.readline()
            if not request_line:
                return
            method, target, _ = request_line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while (line := await reader.readline()).strip():
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            self.seen.append(Seen(origin, method, target, headers.get("authorization")))
            length = int(headers.get("content-length") or 0)
            body = await reader.readexactly(length) if length else b""
            if origin == "elsewhere":
                await self._elsewhere(method, target, writer)
            elif target.startswith("/v2/copies/"):
                await self._copies(method, target, headers, body, writer)
            else:
                await self._registry(method, target, headers, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _copies(
        self, method: str, target: str, headers: dict[str, str], body: bytes, writer: asyncio.StreamWriter
    ) -> None:
        """The push side (`hostile_target`), behind ECR's Basic login."""
        if headers.get("authorization") != BASIC_LOGIN:
            await self._answer(
                writer, 401, head=method == "HEAD", WWW_Authenticate=f'Basic realm="{self.url}/"'
            )
            return
        path, _, query = target.partition("?")
        await self.copy_target.serve(self._answer, writer, method, path, query, body, self.elsewhere)

    async def _answer(
        self, writer: asyncio.StreamWriter, status: int, body: bytes = b"", head: bool = False, **headers: str
    ) -> None:
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (b"" if head else body))
        await writer.drain()

    async def _endless(
        self, writer: asyncio.StreamWriter, content_type: str = "application/octet-stream"
    ) -> None:
        writer.write(
            f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"x" * 65536
        while True:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()

    async def _elsewhere(self, method: str, target: str, writer: asyncio.StreamWriter) -> None:
        if target.startswith("/token"):
            await self._answer(writer, 200, json.dumps({"token": TOKEN}).encode())
        else:  # storage that wants a login of its own
            challenge = f'Bearer realm="{self.elsewhere}/token",service="elsewhere"'
            await self._answer(writer, 401, WWW_Authenticate=challenge)

    async def _registry(
        self, method: str, target: str, headers: dict[str, str], writer: asyncio.StreamWriter
    ) -> None:
        path = target.split("?")[0]
        head = method == "HEAD"
        if path == "/endless-token":
            await self._endless(writer, "application/json")
            return
        parts = path.removeprefix("/v2/").split("/")
        if len(parts) < 4:
            await self._answer(writer, 200 if path == "/v2/" else 404, head=head)
            return
        case, kind, reference = parts[0], parts[-2], parts[-1]
        if case == "cross-realm" and headers.get("authorization") != f"Bearer {TOKEN}":
            challenge = (
                f'Bearer realm="{self.elsewhere}/token",service="registry",scope="repository:{case}/app:pull"'
            )
            await self._answer(writer, 401, head=head, WWW_Authenticate=challenge)
            return
        if case == "basic-login" and headers.get("authorization") != BASIC_LOGIN:
            await self._answer(writer, 401, head=head, WWW_Authenticate=f'Basic realm="{self.url}/"')
            return
        if case == "endless-token" and not headers.get("authorization"):
            challenge = f'Bearer realm="{self.url}/endless-token",service="registry"'
            await self._answer(writer, 401, head=head, WWW_Authenticate=challenge)
            return
        if kind == "manifests":
            await self._manifest(case, reference, head, writer)
        else:
            await self._blob(case, reference, head, writer)

    async def _manifest(self, case: str, reference: str, head: bool, writer: asyncio.StreamWriter) -> None:
        body, media_type = manifest(), OCI_MANIFEST
        if case == "slowloris":
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n":
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(1)
        if case in ("retry-huge", "retry-inf"):
            wait = "999999" if case == "retry-huge" else "inf"
            await self._answer(writer, 429, head=head, Retry_After=wait)
            return
        if case == "endless-manifest":
            await self._endless(writer, OCI_MANIFEST)
            return
        if case == "huge-manifest":
            size = 76 * 1000 * 1000
            writer.write(
                f"HTTP/1.1 200 OK\r\nContent-Type: {OCI_MANIFEST}\r\nContent-Length: {size}\r\n\r\n".encode()
            )
            chunk = b" " * 1_000_000
            for _ in range(76):
                writer.write(chunk)
                await writer.drain()
            return
        if case == "traversal":
            body = manifest([{"mediaType": "x", "digest": "sha256:../../../../x", "size": 1}])
        elif case == "layers-string":
            body = manifest("sha256:" + "a" * 64)
        elif case == "big-index":
            body, media_type = big_index(), OCI_INDEX
        elif case == "bad-json":
            body = b'{"schemaVersion": 2, "layers": [oops'
        elif case == "deep-json":
            body = b'{"layers": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        elif case == "long-number":
            body = manifest([{"mediaType": "x", "digest": digest(LAYER), "size": 0}]).replace(
                b'"size": 0', b'"size": ' + b"9" * 5000
            )
        await self._answer(
            writer, 200, body, head=head, Content_Type=media_type, Docker_Content_Digest=digest(body)
        )

    async def _blob(self, case: str, reference: str, head: bool, writer: asyncio.StreamWriter) -> None:
        if reference == digest(CONFIG):
            await self._answer(writer, 200, CONFIG, head=head, ETag=f'"{reference}"', Accept_Ranges="bytes")
            return
        if head:
            await self._answer(
                writer,
                200,
                head=True,
                Content_Length=str(len(LAYER)),
                ETag=f'"{reference}"',
                Accept_Ranges="bytes",
            )
            return
        if case == "endless-blob":
            await self._endless(writer)
        elif case == "trickle-blob":
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(LAYER)}\r\n\r\n".encode())
            while True:
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(20)
        elif case == "stall-blob":
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(LAYER)}\r\n\r\n".encode() + LAYER[:500])
            await writer.drain()
            await asyncio.sleep(3600)
        elif case == "redirect-401":
            location = f"http://AWS:redirect-secret@127.0.0.1:{self.elsewhere_port}/s3/layer?X-Amz-Signature=SIGNED-SECRET"
            await self._answer(writer, 307, Location=location)
        elif case == "mismatch":
            await self._answer(writer, 200, b"X" * len(LAYER))
        else:
            await self._answer(writer, 200, LAYER, ETag=f'"{reference}"', Accept_Ranges="bytes")


@contextmanager
def hostile_registry() -> Iterator[HostileRegistry]:
    """Serve both origins on free ports on 127.0.0.1, on a loop in a thread, until the block ends."""
    registry = HostileRegistry()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> list[asyncio.Server]:
        servers = []
        for origin in ("registry", "elsewhere"):

            async def handle(
                reader: asyncio.StreamReader, writer: asyncio.StreamWriter, origin: str = origin
            ) -> None:
                await registry.serve(origin, reader, writer)

            servers.append(await asyncio.start_server(handle, "127.0.0.1", 0))
        registry.port = servers[0].sockets[0].getsockname()[1]
        registry.elsewhere_port = servers[1].sockets[0].getsockname()[1]
        return servers

    servers = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    try:
        yield registry
    finally:

        async def stop() -> None:
            for server in servers:
                server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
