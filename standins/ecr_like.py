"""An ECR-like registry on 127.0.0.1: ECR's URL layout and login, over HTTPS, in front of real proxies.

ECR serves every pull-through cache rule under its prefix on one host:
`https://<registry>/v2/<prefix>/<repository>/...`, and wants `Authorization: Basic
base64(AWS:<token>)`, answering `401` with a Basic challenge otherwise
(https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry_auth.html). This stand-in
does the same: each prefix routes to its own distribution proxy (`docker-registry` in proxy
mode, see `registries`) in front of its own local upstream, so stopping an upstream shows
what the cache alone serves. A copy prefix (`copies`) routes to a plain registry that takes
pushes, as ECR takes them into repositories under a prefix: uploads (`POST`, `PATCH`, `PUT`)
and manifests, their `Location` headers moved under the prefix. TLS uses a throwaway CA made
by `trustme` at start.

The front is a small threaded HTTP server, not a library proxy, because it must do three
ECR-specific things: demand the ECR login, strip the prefix, and stream bodies unchanged
(a chunk at a time, never a whole blob), passing the proxies' statuses, redirects and headers.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import shutil
import ssl
import tempfile
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import trustme

from standins.registries import RunningRegistry, start_registry

USERNAME = "AWS"  # ECR's docker login user name
CHUNK = 64 * 1024
UPSTREAM_TIMEOUT = httpx.Timeout(30.0)
# Headers that describe one hop, not the message (RFC 9110 section 7.6.1), and the two the
# front's own `send_response` writes.
_NOT_PASSED = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
    | {"date", "server"}
)
_FORWARDED_REQUEST_HEADERS = (
    "accept", "range", "if-none-match", "user-agent", "content-type", "content-range", "content-length",
)  # fmt: skip


class _LengthRequired(Exception):
    """A request body sent without a Content-Length."""


def basic_credential(token: str) -> str:
    """The `Authorization` value ECR accepts for an authorization token."""
    return "Basic " + base64.b64encode(f"{USERNAME}:{token}".encode()).decode()


class _Front(ThreadingHTTPServer):
    daemon_threads = True
    # The standard library's default backlog of 5 makes a client with 8 requests in flight wait
    # about a second for each connection past the fifth; ECR itself takes far more.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], routes: Mapping[str, str], token: str) -> None:
        super().__init__(address, _Handler)
        self.routes = dict(routes)  # prefix -> proxy base URL
        self.expected = basic_credential(token).encode()
        self.http = httpx.Client(timeout=UPSTREAM_TIMEOUT, follow_redirects=False)
        self.seen: list[tuple[str, str, int]] = []  # (method, path, status), for tests to read
        self.seen_lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: _Front
    # HTTP/1.0: one request per connection, so a stopped front serves nothing more, and a body
    # without a length simply ends when the connection closes.
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read statuses, not logs."""

    def send_response(self, code: int, message: str | None = None) -> None:
        with self.server.seen_lock:
            self.server.seen.append((self.command, self.path, code))
        super().send_response(code, message)

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    # Pushes: a copy prefix's registry takes them; a pull-through proxy answers them as it does.
    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _body(self) -> bytes | None:
        """The request's body, by its Content-Length (a chunked body is refused with 411, as ECR's
        own endpoint may; the warm always sends a length)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise _LengthRequired
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def _reply(self, status: int, headers: Mapping[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _serve(self) -> None:
        try:
            body = self._body()
        except _LengthRequired:
            self._reply(411, {"Content-Type": "application/json"}, b'{"errors":[{"code":"LENGTH_REQUIRED"}]}')
            return
        offered = self.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(offered, self.server.expected):
            host = self.headers.get("Host", "localhost")
            challenge = f'Basic realm="https://{host}/",service="ecr.amazonaws.com"'
            self._reply(401, {"WWW-Authenticate": challenge, "Content-Type": "application/json"}, b"{}")
            return
        path, _, query = self.path.partition("?")
        if path.rstrip("/") == "/v2":
            self._reply(200, {"Content-Type": "application/json"}, b"{}")
            return
        route = self._route(path)
        if route is None:
            body = b'{"errors":[{"code":"NAME_UNKNOWN","message":"no pull-through cache rule"}]}'
            self._reply(404, {"Content-Type": "application/json"}, body)
            return
        prefix, base = route
        rest = path[len(f"/v2/{prefix}") :]
        self._forward(
            prefix, base, f"/v2{rest}" + (f"?{self._inside_query(prefix, query)}" if query else ""), body
        )

    @staticmethod
    def _inside_query(prefix: str, query: str) -> str:
        """A blob mount's `from=<prefix>/<repository>` names the repository as ECR does, prefix
        included; the registry behind the prefix knows it without."""
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        moved = [(k, v.removeprefix(f"{prefix}/") if k == "from" else v) for k, v in pairs]
        return urllib.parse.urlencode(moved, safe=":/") if moved != pairs else query

    @staticmethod
    def _outside_location(prefix: str, base: str, location: str) -> str:
        """A redirect to the proxy's own `/v2/...` becomes one to `/v2/<prefix>/...` here; others pass as sent."""
        local = location.removeprefix(base)
        if local.startswith("/v2/"):
            return f"/v2/{prefix}/{local[len('/v2/') :]}"
        return location

    def _route(self, path: str) -> tuple[str, str] | None:
        """The longest prefix whose `/v2/<prefix>/` starts the path, as ECR picks the most specific rule."""
        for prefix in sorted(self.server.routes, key=len, reverse=True):
            if path.startswith(f"/v2/{prefix}/"):
                return prefix, self.server.routes[prefix]
        return None

    def _forward(self, prefix: str, base: str, target: str, body: bytes | None) -> None:
        relay(
            self,
            self.server.http,
            base + target,
            forwarded_headers(self),
            body,
            location=lambda value: self._outside_location(prefix, base, value),
        )


def forwarded_headers(handler: BaseHTTPRequestHandler, also: Sequence[str] = ()) -> dict[str, str]:
    """The request headers a front passes on (`_FORWARDED_REQUEST_HEADERS`, and `also`); clients send
    Accept as several header lines, and each one counts."""
    return {
        name: ", ".join(values)
        for name in (*_FORWARDED_REQUEST_HEADERS, *also)
        if (values := handler.headers.get_all(name))
    }


def relay(
    handler: BaseHTTPRequestHandler,
    http: httpx.Client,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    location: Callable[[str], str] = lambda value: value,
) -> None:
    """Send the handler's request on to `url` and stream the answer back unchanged, but for the
    hop-by-hop headers and a `Location`, which `location` rewrites."""
    try:
        with http.stream(handler.command, url, headers=headers, content=body) as answer:
            handler.send_response(answer.status_code)
            for name, value in answer.headers.multi_items():
                if name.lower() not in _NOT_PASSED:
                    handler.send_header(name, location(value) if name.lower() == "location" else value)
            handler.end_headers()
            if handler.command != "HEAD":
                for chunk in answer.iter_raw(CHUNK):
                    handler.wfile.write(chunk)
    except httpx.TransportError:
        # The registry behind is down: ECR answers its own outages with a 5xx too.
        body = b'{"errors":[{"code":"UNAVAILABLE"}]}'
        handler.send_response(502)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


@dataclass
class EcrLike:
    """A running ECR-like front, its CA, and the registries behind each prefix."""

    address: str
    token: str
    ca_file: Path
    upstreams: dict[str, RunningRegistry]  # prefix -> the upstream it mirrors
    proxies: dict[str, RunningRegistry]  # prefix -> the pull-through proxy
    copies: dict[str, RunningRegistry]  # copy prefix -> the registry its copies are pushed into
    _front: _Front
    _thread: threading.Thread
    _stopped: bool = field(default=False)

    @property
    def url(self) -> str:
        return f"https://{self.address}"

    def requests(self) -> list[tuple[str, str, int]]:
        """Every request answered so far: (method, path, status)."""
        with self._front.seen_lock:
            return list(self._front.seen)

    def prefix_url(self, prefix: str) -> str:
        """`<registry>/<prefix>`, as the stack's `cache_prefixes` output names a cache."""
        return f"{self.address}/{prefix}"

    def stop(self) -> None:
        """Stop the front (the registries are stopped by `ecr_like`)."""
        if not self._stopped:
            self._stopped = True
            self._front.shutdown()
            self._front.server_close()
            self._front.http.close()
            self._thread.join(timeout=10)


def _serve_front(
    routes: Mapping[str, str], token: str, workdir: Path
) -> tuple[_Front, threading.Thread, Path]:
    authority = trustme.CA()
    ca_file = workdir / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    front = _Front(("127.0.0.1", 0), routes, token)
    front.socket = context.wrap_socket(front.socket, server_side=True)
    thread = threading.Thread(target=front.serve_forever, name="ecr-like", daemon=True)
    thread.start()
    return front, thread, ca_file


@contextmanager
def ecr_like(
    prefixes: Mapping[str, str], workdir: Path | None = None, copies: Sequence[str] = ()
) -> Iterator[EcrLike]:
    """Start, per `prefix -> upstream name`, an upstream registry and a proxy of it; per copy prefix,
    a registry that takes pushes; then the front.

    Everything stops on exit, registries by PID, whatever happened.
    """
    owned = workdir is None
    base = Path(tempfile.mkdtemp(prefix="ptc-ecr-like-")) if workdir is None else workdir
    base.mkdir(parents=True, exist_ok=True)
    started: list[RunningRegistry] = []
    front: EcrLike | None = None
    try:
        upstreams: dict[str, RunningRegistry] = {}
        proxies: dict[str, RunningRegistry] = {}
        for prefix, name in prefixes.items():
            upstreams[prefix] = start_registry(f"upstream-{name}", base)
            started.append(upstreams[prefix])
            proxies[prefix] = start_registry(f"proxy-{prefix}", base, remote_url=upstreams[prefix].url)
            started.append(proxies[prefix])
        copied: dict[str, RunningRegistry] = {}
        for prefix in copies:
            copied[prefix] = start_registry(f"copies-{prefix}", base)
            started.append(copied[prefix])
        token = secrets.token_urlsafe(32)
        routes = {prefix: registry.url for prefix, registry in {**proxies, **copied}.items()}
        served, thread, ca_file = _serve_front(routes, token, base)
        host, port = served.server_address[:2]
        front = EcrLike(f"{host!s}:{port}", token, ca_file, upstreams, proxies, copied, served, thread)
        yield front
    finally:
        if front is not None:
            front.stop()
        for registry in reversed(started):
            registry.stop()
        if owned:
            shutil.rmtree(base, ignore_errors=True)
