"""An upstream on 127.0.0.1 that asks for a Bearer token, as Docker Hub, nvcr.io and ghcr.io do, and
writes down every credential it is offered.

Every `/v2/...` request is answered `401` with `WWW-Authenticate: Bearer realm="<its own /token>"`
(https://distribution.github.io/distribution/spec/auth/token/). The token endpoint writes down the
login of an OAuth form (`grant_type=password`, which containerd POSTs first when it holds
credentials: core/remotes/docker/auth/fetch.go, `FetchTokenWithOAuth`) and of a Basic
`Authorization` header (its GET fallback, `FetchToken`), then refuses both. It serves nothing, so
a pull through it always fails: what matters is what it was sent.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

TOKEN_PATH = "/token"
MAX_FORM = 64 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.paths: list[str] = []  # "METHOD /path", in order
        self.logins: list[tuple[str, str]] = []  # (username, password) offered, by either route


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read `logins` and `paths`."""

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        path = self.path.partition("?")[0]
        length = min(int(self.headers.get("Content-Length") or 0), MAX_FORM)
        form = parse_qs(self.rfile.read(length).decode("latin-1")) if length else {}
        logins = []
        if "password" in form:
            logins.append((form.get("username", [""])[0], form["password"][0]))
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            username, _, password = base64.b64decode(value).decode("latin-1").partition(":")
            logins.append((username, password))
        with self.server.lock:
            self.server.paths.append(f"{self.command} {path}")
            self.server.logins += logins
        self.send_response(401)
        if path != TOKEN_PATH:
            host, port = self.server.server_address[:2]
            realm = f"http://{host!s}:{port}{TOKEN_PATH}"
            self.send_header("WWW-Authenticate", f'Bearer realm="{realm}",service="token-upstream.test"')
        self.send_header("Content-Length", "0")
        self.end_headers()


class TokenUpstream:
    """The running upstream: its address, and what it was sent."""

    def __init__(self, server: _Server) -> None:
        self._server = server

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def paths(self) -> list[str]:
        with self._server.lock:
            return list(self._server.paths)

    def logins(self) -> list[tuple[str, str]]:
        with self._server.lock:
            return list(self._server.logins)


@contextmanager
def token_upstream() -> Iterator[TokenUpstream]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, name="token-upstream", daemon=True)
    thread.start()
    try:
        yield TokenUpstream(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
