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

from components.errors import UnsupportedUpstreamError
from components.model.images import ImageRef


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
    r"(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9])\.amazonaws\.com",
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


ROOT_PREFIX = "ROOT"
_PREFIX_GRAMMAR = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")


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
            return Upstream(kind, registry, "registry-1.docker.io", kind.key)
        if kind is AZURE:
            return Upstream(kind, registry, registry, f"azure-{match['name']}")
        if kind is ECR_PRIVATE:
            account, region = match["account"], match["region"]
            prefix = f"ecr-{account}-{short_region(region)}"
            return Upstream(kind, registry, registry, prefix, ecr_account_id=account, ecr_region=region)
        return Upstream(kind, registry, registry, kind.key)
    raise UnsupportedUpstreamError(
        f"{registry!r} is not an upstream ECR pull-through cache supports; "
        f"supported: {supported_upstreams_text()}"
    )


def path_below_prefix(ref: ImageRef, upstream_prefix: str | None = None) -> str:
    """The cache repository's path below its ECR prefix.

    ECR maps cache `<ecrRepositoryPrefix>/<rest>` to upstream `<upstreamRepositoryPrefix>/<rest>`
    (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-private-wildcards.html),
    so the upstream prefix is not part of the cached name. `ROOT` (the default) matches every
    upstream repository. Raises UnsupportedUpstreamError for a repository outside the upstream prefix.
    """
    if upstream_prefix is None or upstream_prefix == ROOT_PREFIX:
        return ref.repository
    head = f"{upstream_prefix}/"
    if not ref.repository.startswith(head) or ref.repository == head:
        raise UnsupportedUpstreamError(
            f"{ref}: repository {ref.repository!r} is outside the rule's upstreamRepositoryPrefix "
            f"{upstream_prefix!r}; ECR only caches {ref.registry}/{head}..."
        )
    return ref.repository[len(head) :]


def cache_repository(ref: ImageRef, prefix: str, upstream_prefix: str | None = None) -> str:
    """The ECR repository that caches `ref`: Docker Hub's `library/` is part of it, as ECR requires.

    Under the `ROOT` prefix, cached repositories carry the upstream's names unprefixed.
    """
    path = path_below_prefix(ref, upstream_prefix)
    return path if prefix == ROOT_PREFIX else f"{prefix}/{path}"


def cache_prefix_url(registry_host: str, prefix: str) -> str:
    """`<registry>/<prefix>`, what an image's repository is appended to (just the registry for ROOT)."""
    return registry_host if prefix == ROOT_PREFIX else f"{registry_host}/{prefix}"


def cache_reference(
    ref: ImageRef,
    *,
    registry_host: str,
    prefix: str,
    upstream_prefix: str | None = None,
    digest: str | None = None,
) -> str:
    """`<account>.dkr.ecr.<region>.amazonaws.com/<prefix>/<repository>:<tag>[@<digest>]`.

    `digest` is the digest the cache served, when known; otherwise the catalogue's pin, if any.
    """
    text = f"{registry_host}/{cache_repository(ref, prefix, upstream_prefix)}"
    if ref.tag is not None:
        text += f":{ref.tag}"
    pinned = digest or ref.digest
    if pinned is not None:
        text += f"@{pinned}"
    return text


def registry_host(account_id: str, region: str, dns_suffix: str = "amazonaws.com") -> str:
    return f"{account_id}.dkr.ecr.{region}.{dns_suffix}"


def check_prefix(prefix: str) -> str | None:
    """Why `prefix` is not a valid ECR repository prefix, or None.

    Grammar and length from botocore's ECR model (`PullThroughCacheRuleRepositoryPrefix`) and
    https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreatePullThroughCacheRule.html.
    """
    if prefix == ROOT_PREFIX:
        return None
    if not 2 <= len(prefix) <= 30:
        return f"prefix {prefix!r} is {len(prefix)} characters; ECR allows 2 to 30"
    if not _PREFIX_GRAMMAR.fullmatch(prefix):
        return (
            f"prefix {prefix!r} is not valid: use lowercase letters and digits, joined by '.', '_' or '-', "
            "in '/'-separated parts, not ending with a separator"
        )
    return None
