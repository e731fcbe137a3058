"""TLS is verified, and a custom CA comes from `SSL_CERT_FILE` (a `trustme` CA on loopback)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from components.warm.client import RegistryClient
from components.warm.errors import RegistryError, TransportError

DIGEST = "sha256:" + "d" * 64


async def head_through_tls(
    ca_file: Path | None, monkeypatch: pytest.MonkeyPatch, ca: trustme.CA
) -> str | None:
    if ca_file is not None:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    else:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    certificate = ca.issue_cert("127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)

    async def handle(request: web.Request) -> web.Response:
        return web.Response(headers={"Docker-Content-Digest": DIGEST})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with RegistryClient(f"https://127.0.0.1:{port}") as client:
            return await client.head_manifest("a", "1")
    finally:
        await runner.cleanup()


def test_a_ca_from_ssl_cert_file_is_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    assert asyncio.run(head_through_tls(ca_file, monkeypatch, ca)) == DIGEST


def test_an_unknown_ca_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RegistryError, match="its TLS certificate is not trusted") as caught:
        asyncio.run(head_through_tls(None, monkeypatch, trustme.CA()))
    assert not isinstance(caught.value, TransportError), "not retried: another try would fail alike"
