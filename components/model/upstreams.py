"""The upstream registries ECR can cache, and where their images land in the cache.

One table, from the ECR user guide
(https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-creating-rule.html): the registry an image
reference names, the `upstream_registry_url` ECR wants, a default repository
prefix, and how ECR authenticates to the upstream.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from components.errors import UnsupportedUpstreamError
from components.model.ecr import ECR_HOST, EcrRegistry


class Credential(enum.Enum):
    """How ECR logs in to an upstream."""

    NONE = "none"
    SECRET = "secret"  # a Secrets Manager secret named ecr-pullthroughcache/...
    ROLE = "role"  # an IAM role trusted by pullthroughcache.ecr.amazonaws.com


@dataclass(frozen=True)
class UpstreamKind:
    """A row of the catalogue. `pattern` matches the registry host an image reference names."""

    key: str
    title: str
    pattern: re.Pattern[str]
    credential: Credential
    example: str

    def matches(self, registry: str) -> re.Match[str] | None:
        return self.pattern.fullmatch(registry)


@dataclass(frozen=True)
class Upstream:
    """One concrete upstream: a kind bound to a registry host."""

    kind: UpstreamKind
    registry: str
    upstream_registry_url: str
    default_prefix: str
    ecr_account_id: str | None = None
    ecr_region: str | None = None

    @property
    def credential(self) -> Credential:
        return self.kind.credential


def _kind(key: str, title: str, pattern: str, credential: Credential, example: str) -> UpstreamKind:
    return UpstreamKind(key, title, re.compile(pattern), credential, example)


DOCKER_HUB = _kind("docker-hub", "Docker Hub", r"docker\.io", Credential.SECRET, "docker.io")
ECR_PUBLIC = _kind("ecr-public", "Amazon ECR Public", r"public\.ecr\.aws", Credential.NONE, "public.ecr.aws")
KUBERNETES = _kind("k8s", "Kubernetes", r"registry\.k8s\.io", Credential.NONE, "registry.k8s.io")
QUAY = _kind("quay", "Quay", r"quay\.io", Credential.NONE, "quay.io")
GHCR = _kind("ghcr", "GitHub Container Registry", r"ghcr\.io", Credential.SECRET, "ghcr.io")
GITLAB = _kind("gitlab", "GitLab", r"registry\.gitlab\.com", Credential.SECRET, "registry.gitlab.com")
AZURE = _kind(
    "azure",
    "Azure Container Registry",
    r"(?P<name>[a-z0-9]{5,50})\.azurecr\.io",
    Credential.SECRET,
    "<name>.azurecr.io",
)
CHAINGUARD = _kind("chainguard", "Chainguard", r"cgr\.dev", Credential.SECRET, "cgr.dev")
ECR_PRIVATE = _kind(
    "ecr",
    "Amazon ECR private",
    ECR_HOST.pattern,
    Credential.ROLE,
    "<account>.dkr.ecr.<region>.amazonaws.com",
)

UPSTREAM_KINDS: tuple[UpstreamKind, ...] = (
    DOCKER_HUB,
    ECR_PUBLIC,
    KUBERNETES,
    QUAY,
    GHCR,
    GITLAB,
    AZURE,
    CHAINGUARD,
    ECR_PRIVATE,
)

_DIRECTIONS = {
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "central": "c",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
}

DOCKER_HUB_UPSTREAM_URL = "registry-1.docker.io"  # what ECR wants as Docker Hub's upstreamRegistryUrl


def supported_upstreams_text() -> str:
    return ", ".join(kind.example for kind in UPSTREAM_KINDS)


def short_region(region: str) -> str:
    """`ap-southeast-2` -> `apse2`: keeps `ecr-<account>-<region>` prefixes inside ECR's 30 characters."""
    parts = region.split("-")
    return parts[0] + "".join(_DIRECTIONS.get(part, part) for part in parts[1:])


def resolve_upstream(registry: str) -> Upstream:
    """Bind an image reference's registry host to its row of the catalogue."""
    for kind in UPSTREAM_KINDS:
        match = kind.matches(registry)
        if match is None:
            continue
        if kind is DOCKER_HUB:
            return Upstream(kind, registry, DOCKER_HUB_UPSTREAM_URL, kind.key)
        if kind is AZURE:
            return Upstream(kind, registry, registry, f"azure-{match['name']}")
        if kind is ECR_PRIVATE:
            ecr = EcrRegistry.parse(registry)
            if ecr is not None and ecr.fips:
                # CreatePullThroughCacheRule documents only `<account>.dkr.ecr.<region>.amazonaws.com`
                # (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-private.html).
                raise UnsupportedUpstreamError(
                    f"{registry!r}: ECR caches another ECR registry by its standard host, not the FIPS one; "
                    f"use {EcrRegistry(ecr.account_id, ecr.region).host!r}"
                )
            assert ecr is not None  # ECR_PRIVATE's pattern is ECR_HOST
            account, region = ecr.account_id, ecr.region
            prefix = f"ecr-{account}-{short_region(region)}"
            return Upstream(kind, registry, registry, prefix, ecr_account_id=account, ecr_region=region)
        return Upstream(kind, registry, registry, kind.key)
    raise UnsupportedUpstreamError(
        f"{registry!r} is not an upstream ECR pull-through cache supports; "
        f"supported: {supported_upstreams_text()}"
    )


def api_host(registry: str) -> str:
    """The host an upstream's registry API answers on, as image references name the registry:
    ECR's `upstreamRegistryUrl` for an upstream the pull-through cache supports (Docker Hub's is
    `registry-1.docker.io`), and the registry itself for any other (one the warm copies)."""
    try:
        return resolve_upstream(registry).upstream_registry_url
    except UnsupportedUpstreamError:
        return registry


def api_url(registry: str) -> str:
    """`https://<api_host(registry)>`: where an upstream's registry API is read, as the warm and the
    copy read it (a copied upstream is always read over HTTPS)."""
    return f"https://{api_host(registry)}"


def cache_supports(registry: str) -> bool:
    """Whether ECR's pull-through cache can cache `registry` (any ECR private host counts, FIPS too:
    its standard host can be cached, and the stack never copies an ECR registry)."""
    if EcrRegistry.parse(registry) is not None:
        return True
    try:
        resolve_upstream(registry)
    except UnsupportedUpstreamError:
        return False
    return True


def token_realm_problem(url: str) -> str | None:
    """Why `url` cannot be a copied upstream's `tokenRealm`, or None.

    The realm is where the upstream's login goes for tokens when its token service is on another
    origin (a self-hosted GitLab's `https://gitlab.example.com/jwt/auth` for
    `registry.example.com`): HTTPS, a host, and nothing a login could leak through.
    """
    if "@" in url:  # checked first: the URL is then never quoted, as it may hold a password
        return "the URL carries a user name or password"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as error:
        return f"{url[:200]!r} is not a URL ({error})"
    if parts.scheme != "https" or not parts.hostname:
        return f"{url[:200]!r} is not an https:// URL naming a host"
    if parts.query or parts.fragment:
        return "the URL carries a query or fragment: give the token service's origin or its path only"
    return None
