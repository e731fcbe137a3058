"""Logging in to a registry: challenge parsing, the bearer token dance, basic, and where logins go.

Shaped like httpx.Auth's flow (https://www.python-httpx.org/advanced/authentication/): a request
first goes out with what the auth already holds (`headers`); a 401's `WWW-Authenticate`
challenge goes to `on_challenge`, which turns it into a credential, asking a token service
through the caller's `TokenFetch` when needed; the request is then sent once more. The client
runs on aiohttp (chosen by measurement, bench/README.md), which has no such flow of its own.

Where the registry login goes follows the rules docker and containerd use: to the registry's
own origin, and to a token realm only when the realm is on that origin or on one trusted for it
(Docker Hub's registry-1.docker.io hands its tokens out from auth.docker.io; a self-hosted
GitLab's registry from the GitLab host, which its login names as `UpstreamLogin.token_realm`:
https://github.com/docker/sbx-releases/issues/535 asks for the same explicit trust), and only
over HTTPS unless the realm is on loopback. Any other realm is asked anonymously. Only
challenges from the registry's own origin are answered (see `client.RegistryClient`), so a
redirect target's 401 never reaches here and its tokens never replace the registry's.
Token flow: https://distribution.github.io/distribution/spec/auth/token/.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from components.warm.errors import CredentialRefused, RegistryError
from components.warm.json_bodies import load_json

Credentials = tuple[str, str]
CredentialSource = Callable[[], Credentials]
# (realm URL, query, Authorization header or None) -> the token service's answer body.
TokenFetch = Callable[[str, dict[str, str], str | None], Awaitable[bytes]]

# Token realms on another origin that a registry's login may go to, keyed by registry host.
# GitLab.com's registry names https://gitlab.com/jwt/auth as its realm
# (https://github.com/deitch/docker_registry2/issues/14).
TOKEN_REALMS: Mapping[str, frozenset[str]] = {
    "registry-1.docker.io": frozenset({"https://auth.docker.io"}),
    "registry.gitlab.com": frozenset({"https://gitlab.com"}),
}
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class UpstreamLogin:
    """A login for an upstream registry, and the origin of its token service when that is not the
    registry's own (`https://gitlab.example.com` for `registry.example.com`), which the login may
    then go to as well."""

    credentials: CredentialSource
    token_realm: str | None = None

    @property
    def trusted_realms(self) -> frozenset[str]:
        return frozenset({self.token_realm}) if self.token_realm else frozenset()


def is_loopback(host: str) -> bool:
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> str:
    """scheme://host[:port], lower case, without userinfo: what "the same origin" compares."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"https": 443, "http": 80}.get(parts.scheme)
    port = f":{parts.port}" if parts.port is not None and parts.port != default else ""
    return f"{parts.scheme}://{host}{port}"


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, params = header.partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(params))


def basic(credentials: Credentials) -> str:
    user, password = credentials
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class RegistryAuth:
    """The login state for one registry origin: a bearer token per scope, or a basic login."""

    def __init__(
        self,
        registry_url: str,
        credentials: CredentialSource | None,
        trusted_realms: frozenset[str] = frozenset(),
    ) -> None:
        self.origin = origin_of(registry_url)
        self.credentials = credentials
        host = (urlsplit(registry_url).hostname or "").lower()
        self.trusted_realms = TOKEN_REALMS.get(host, frozenset()) | {origin_of(r) for r in trusted_realms}
        self._tokens: dict[str, str] = {}
        self._basic: str | None = None
        self._withheld_from: str | None = None  # a realm the login was not sent to

    def withheld_hint(self) -> str:
        """Why a refusal may be this client's doing: the login was kept from another origin's realm."""
        if self._withheld_from is None:
            return ""
        return (
            f"; the login was not sent to the token service at {self._withheld_from}, which is not the "
            "registry's origin: if it is the registry's own token service, trust it with the upstream's "
            "tokenRealm (README, Copying what the cache cannot pull through)"
        )

    def headers(self, scope: str) -> dict[str, str]:
        value = self._tokens.get(scope) or self._basic
        return {"Authorization": value} if value else {}

    def login_goes_to(self, realm: str) -> bool:
        """Whether the registry login may be sent to a token realm (see the module docstring)."""
        parts = urlsplit(realm)
        secure = parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname or ""))
        return secure and (origin_of(realm) == self.origin or origin_of(realm) in self.trusted_realms)

    async def on_challenge(self, challenge: str, scope: str, fetch: TokenFetch) -> None:
        """Turn the registry's own 401 challenge into a credential for `scope`."""
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if self.credentials is None:
                raise CredentialRefused("the registry asks for a login, and none is configured", 401)
            # On a thread: ECR's login is a blocking AWS call (`ecr_login`), which would stall
            # every other request on the event loop.
            self._basic = basic(await asyncio.to_thread(self.credentials))
            return
        realm = params.get("realm", "")
        if scheme != "bearer" or urlsplit(realm).scheme not in ("http", "https"):
            raise CredentialRefused(f"unsupported authentication challenge {scheme[:20]!r}", 401)
        query = {"service": params.get("service", ""), "scope": params.get("scope", scope)}
        login = None
        if self.credentials and self.login_goes_to(realm):
            login = basic(await asyncio.to_thread(self.credentials))
        elif self.credentials:
            self._withheld_from = origin_of(realm)
        body = await fetch(realm, query, login)
        try:
            answer = load_json(body)
        except ValueError:
            answer = None
        token = (answer.get("token") or answer.get("access_token")) if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError("the token service's answer holds no token")
        self._tokens[scope] = f"Bearer {token}"


def login_variables(registry: str) -> tuple[str, str, str]:
    """The environment variables holding a read-only login for an upstream `registry`, and its
    token service's origin when that is another (see `UpstreamLogin`), read by `lock` and by the
    copies the warm reads from upstreams.

    `docker.io` → `LOCK_DOCKER_IO_USERNAME` / `LOCK_DOCKER_IO_PASSWORD` / `LOCK_DOCKER_IO_TOKEN_REALM`;
    `ghcr.io` → `LOCK_GHCR_IO_...`; `127.0.0.1:5000` → `LOCK_127_0_0_1_5000_...`. One set per
    registry, so no login ever goes to a registry it was not made for.
    """
    key = re.sub(r"[^A-Z0-9]", "_", registry.upper())
    return f"LOCK_{key}_USERNAME", f"LOCK_{key}_PASSWORD", f"LOCK_{key}_TOKEN_REALM"


def login_from_environment(registry: str, environ: Mapping[str, str]) -> UpstreamLogin | None:
    """The login `login_variables` name, when both its user and password are set."""
    user_variable, password_variable, realm_variable = login_variables(registry)
    user, password = environ.get(user_variable), environ.get(password_variable)
    if not user or not password:
        return None
    login: Credentials = (user, password)
    return UpstreamLogin(lambda: login, environ.get(realm_variable) or None)
