"""Registries for the client's unit tests, written as httpx-style handlers, served for real on 127.0.0.1.

A handler takes an `httpx.Request` and returns an `httpx.Response` (or awaits one): httpx's types
serve here only as plain request and answer values. Each named host (`registry.example`,
`auth.example`, ...) gets a port of its own, so origins differ as they would on the internet; the
handler sees `https://<name>/...` URLs, and `https://<name>` in the `Location` and
`WWW-Authenticate` headers it writes is pointed at that name's port. A handler that raises
`httpx.TransportError` makes the server drop the connection.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx
from aiohttp import web

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]
_UNFORWARDED = frozenset({"content-length", "transfer-encoding", "content-encoding", "connection"})


@dataclass
class Loopback:
    """Where each named host is served: `url(name)` is its real http://127.0.0.1:<port>."""

    ports: dict[str, int] = field(default_factory=dict)
    authorization: dict[str, list[str | None]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def real(self, text: str) -> str:
        for name in self.ports:
            text = text.replace(f"https://{name}", self.url(name))
        return text


@contextlib.asynccontextmanager
async def serving(handler: Handler, hosts: Sequence[str] = ("registry.example",)) -> AsyncIterator[Loopback]:
    loopback = Loopback()
    runners: list[web.AppRunner] = []

    def app_for(name: str) -> web.Application:
        async def handle(request: web.Request) -> web.StreamResponse:
            loopback.authorization.setdefault(name, []).append(request.headers.get("Authorization"))
            body = await request.read()
            query = f"?{request.query_string}" if request.query_string else ""
            as_httpx = httpx.Request(
                request.method,
                f"https://{name}{request.path}{query}",
                headers=[(k, v) for k, v in request.headers.items() if k.lower() != "host"],
                content=body,
            )
            try:
                answer = handler(as_httpx)
                if inspect.isawaitable(answer):
                    answer = await answer
            except httpx.TransportError:
                assert request.transport is not None
                request.transport.abort()
                return web.Response()
            headers = {k: v for k, v in answer.headers.items() if k.lower() not in _UNFORWARDED}
            for key in ("location", "www-authenticate"):
                if key in answer.headers:
                    headers[key] = loopback.real(answer.headers[key])
            response = web.Response(status=answer.status_code, body=answer.content, headers=headers)
            if request.method == "HEAD" and "content-length" in answer.headers:
                response.headers["Content-Length"] = answer.headers["content-length"]
            return response

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        return app

    try:
        for name in hosts:
            runner = web.AppRunner(app_for(name), access_log=None)
            await runner.setup()
            runners.append(runner)
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            loopback.ports[name] = runner.addresses[0][1]
        yield loopback
    finally:
        for runner in runners:
            await runner.cleanup()
