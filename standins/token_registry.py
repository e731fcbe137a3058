"""A distribution registry on 127.0.0.1 that wants bearer tokens, as nvcr.io, gcr.io or a Harbor do.

Distribution's token authentication (https://distribution.github.io/distribution/spec/auth/token/):
the registry answers `401` with `WWW-Authenticate: Bearer realm=...,service=...,scope=...`, and
accepts a JWT the realm issued, signed by a key whose certificate it trusts (`rootcertbundle`;
the token names its certificate in its `x5c` header). A small front on one port serves the realm
(`/token`, which wants the Basic login `USERNAME`/`PASSWORD` and issues a token for the scopes
asked) and passes everything else to the registry: realm and registry share an origin, as
registries usually run them. The front records every `Authorization` it is sent.

The registry is seeded without authentication first, then restarted on the same storage with it.
The JWT is made here by hand (three base64url parts and an RS256 signature with `cryptography`,
which trustme already brings): a JWT library would be a dependency for one test stand-in.
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from standins.ecr_like import UPSTREAM_TIMEOUT, forwarded_headers, relay
from standins.registries import RunningRegistry, free_port, start_registry

USERNAME = "$oauthtoken"  # nvcr.io's user name for an API key
PASSWORD = "upstream-api-key-" + secrets.token_hex(8)
SERVICE = "token-registry"
ISSUER = "token-registry-issuer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class _Signer:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @classmethod
    def new(cls) -> _Signer:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    def token(self, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {
            "alg": "RS256",
            "typ": "JWT",
            "x5c": [base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode()],
        }
        claims = {
            "iss": ISSUER,
            "sub": USERNAME,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signed = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signed}.{_b64(signature)}"


@dataclass
class TokenRegistry:
    """The front's URL (realm and registry), the registry behind it, and what the front was sent."""

    port: int
    registry: RunningRegistry
    authorizations: list[tuple[str, str]] = field(default_factory=list)  # (path, Authorization)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _handler(stand: TokenRegistry, signer: _Signer, http: httpx.Client) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the tests read `authorizations`."""

        def _serve(self) -> None:
            offered = self.headers.get("Authorization")
            if offered:
                stand.authorizations.append((self.path.split("?")[0], offered))
            if self.path.startswith("/token"):
                self._token(offered == expected)
                return
            length = int(self.headers.get("Content-Length") or 0)
            relay(
                self,
                http,
                stand.registry.url + self.path,
                forwarded_headers(self, ("authorization",)),
                self.rfile.read(length) if length else None,
                location=_realm_relative(stand),
            )

        def _token(self, logged_in: bool) -> None:
            if not logged_in:
                body, status = b'{"details":"a login is needed"}', 401
            else:
                scopes = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("scope", [])
                token = signer.token(scopes)
                body, status = (
                    json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode(),
                    200,
                )
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _serve

    return Handler


def _realm_relative(stand: TokenRegistry) -> Callable[[str], str]:
    return lambda value: value.replace(stand.registry.url, stand.url)


@contextmanager
def token_registry(
    workdir: Path, seed: Callable[[str], object], realm_host: str = "127.0.0.1"
) -> Iterator[TokenRegistry]:
    """A registry `seed(url)` fills without authentication, then serves behind the token front.
    The realm names the front as `realm_host`: `localhost` puts it on another origin than the
    registry (`http://127.0.0.1:<port>`), as a self-hosted GitLab's token service is."""
    signer = _Signer.new()
    bundle = workdir / "token-signer.pem"
    workdir.mkdir(parents=True, exist_ok=True)
    bundle.write_bytes(signer.certificate.public_bytes(serialization.Encoding.PEM))
    port = free_port()
    open_registry = start_registry("token-upstream", workdir)
    try:
        seed(open_registry.url)
    finally:
        open_registry.stop()
    auth: dict[str, object] = {
        "token": {
            "realm": f"http://{realm_host}:{port}/token",
            "service": SERVICE,
            "issuer": ISSUER,
            "rootcertbundle": str(bundle),
        }
    }
    registry = start_registry("token-upstream", workdir, auth=auth)
    stand = TokenRegistry(port, registry)
    with httpx.Client(timeout=UPSTREAM_TIMEOUT, follow_redirects=False) as http:
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler(stand, signer, http))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield stand
        finally:
            server.shutdown()
            server.server_close()
            registry.stop()
