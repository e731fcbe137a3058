"""Amazon ECR's own names: the one registry-host grammar, prefixes, and where a cached image lives.

This module is the only place that composes or parses an ECR registry host, a cache prefix URL, a
cache repository or a cache reference. Everything else holds an `EcrRegistry`, a `CachePrefix` or a
`CacheLocation` and asks it for the string it needs.

Host forms (https://docs.aws.amazon.com/general/latest/gr/ecr.html): `<account>.dkr.ecr.<region>.amazonaws.com`
and the FIPS form `<account>.dkr.ecr-fips.<region>.amazonaws.com`. China (`amazonaws.com.cn`) is not
accepted: settings refuse the China regions (issue 9), so no China host can be ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from components.errors import UnsupportedUpstreamError
from components.model.images import ImageRef

ROOT_PREFIX = "ROOT"
DNS_SUFFIX = "amazonaws.com"
REGION_PATTERN = r"[a-z]{2}(?:-[a-z]+)+-[0-9]"
ECR_HOST = re.compile(
    rf"(?P<account>[0-9]{{12}})\.dkr\.(?P<service>ecr|ecr-fips)\.(?P<region>{REGION_PATTERN})\.amazonaws\.com"
)
MAX_RULES_PER_REGISTRY = (
    50  # not adjustable: https://docs.aws.amazon.com/AmazonECR/latest/userguide/service-quotas.html
)

# IAM principals whose pulls ECR does not record as pulls: at most 100 per registry
# (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-time-update-exclusions.html).
MAX_PULL_TIME_EXCLUSIONS = 100

# AWS's API allows 256 characters (botocore `RepositoryTemplateDescription`), but the provider
# validates 0 to 255: terraform-provider-aws, internal/service/ecr/repository_creation_template.go,
# `description`: validation.StringLenBetween(0, 255). The stricter one is what `pulumi up` enforces.
TEMPLATE_DESCRIPTION_MAX = 255

SECRET_NAME_PREFIX = "ecr-pullthroughcache/"

# "Creating pull through cache rules isn't supported in" China (Beijing), China (Ningxia) and the two
# GovCloud regions (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache.html,
# considerations); AWS's launch note says the same (https://aws.amazon.com/about-aws/whats-new/2023/11/
# amazon-ecr-pull-through-cache-additional-upstream-registries/). The China-region copy of the guide
# (docs.amazonaws.cn) is the same text under a "might vary by Region" banner, not a statement of support.
UNSUPPORTED_REGIONS = frozenset({"cn-north-1", "cn-northwest-1", "us-gov-east-1", "us-gov-west-1"})

REGION = re.compile(REGION_PATTERN)

EXCLUSION_FILTER = re.compile(r"[0-9a-zA-Z._*-]{1,128}")

MAX_EXCLUSION_WILDCARDS = 2  # per filter (pulumi-aws, RepositoryCreationTemplate exclusion filters)
_PREFIX_GRAMMAR = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")


@dataclass(frozen=True)
class EcrRegistry:
    """One account's private registry in one region."""

    account_id: str
    region: str
    fips: bool = False
    dns_suffix: str = DNS_SUFFIX

    @property
    def host(self) -> str:
        service = "ecr-fips" if self.fips else "ecr"
        return f"{self.account_id}.dkr.{service}.{self.region}.{self.dns_suffix}"

    @classmethod
    def parse(cls, host: str) -> EcrRegistry | None:
        """The registry a host names, or None for a host that is not an ECR private registry."""
        match = ECR_HOST.fullmatch(host)
        if match is None:
            return None
        return cls(match["account"], match["region"], fips=match["service"] == "ecr-fips")


def is_ecr_host(host: str) -> bool:
    return EcrRegistry.parse(host) is not None


def layer_bucket(region: str) -> str:
    """The S3 bucket ECR keeps a region's image layers in, which pulls download them from
    (https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html#ecr-setting-up-s3-gateway)."""
    return f"prod-{region}-starport-layer-bucket"


# An S3 endpoint: `s3`, `s3-<region>` or `s3.<region>`, dual-stack and FIPS forms included
# (https://docs.aws.amazon.com/general/latest/gr/s3.html).
_S3_ENDPOINT = re.compile(rf"s3(?:[.-]fips)?(?:\.dualstack)?(?:[.-]{REGION_PATTERN})?\.amazonaws\.com")


def in_layer_bucket(url: str, region: str) -> bool:
    """Whether `url` (a layer redirect) points into the region's layer bucket: virtual-hosted
    (`<bucket>.s3.<region>.amazonaws.com/...`) or path-style (`s3.<region>.amazonaws.com/<bucket>/...`).

    Only that is ECR's own storage: its pull-through cache redirects a layer it has not cached yet
    to the upstream's CDN (https://github.com/aws/containers-roadmap/issues/2304), which a node
    without a route to the internet cannot reach.
    """
    parts = urlsplit(url)
    if parts.scheme != "https":
        return False
    host = parts.hostname or ""
    bucket, _, endpoint = host.partition(".")
    if bucket == layer_bucket(region) and _S3_ENDPOINT.fullmatch(endpoint):
        return True
    return _S3_ENDPOINT.fullmatch(host) is not None and parts.path.split("/")[1:2] == [layer_bucket(region)]


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


def path_below_upstream_prefix(ref: ImageRef, upstream: str | None) -> str:
    """The path a cache keeps `ref` under, below its prefix, for a rule with upstream prefix `upstream`.

    ECR maps cache `<ecrRepositoryPrefix>/<rest>` to upstream `<upstreamRepositoryPrefix>/<rest>`
    (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-private-wildcards.html),
    so the upstream prefix is not part of the cached name; `ROOT` matches every repository.
    Raises UnsupportedUpstreamError for a repository outside the upstream prefix. The stack's checks
    call it before any registry host is known.
    """
    if upstream is None or upstream == ROOT_PREFIX:
        return ref.repository
    head = f"{upstream}/"
    if not ref.repository.startswith(head) or ref.repository == head:
        raise UnsupportedUpstreamError(
            f"{ref}: repository {ref.repository!r} is outside the rule's upstreamRepositoryPrefix "
            f"{upstream!r}; ECR only caches {ref.registry}/{head}..."
        )
    return ref.repository[len(head) :]


@dataclass(frozen=True)
class CachePrefix:
    """A pull-through cache rule's `ecrRepositoryPrefix` in a registry, and the upstream path it maps."""

    registry_host: str
    prefix: str
    upstream_prefix: str | None = None

    @property
    def url(self) -> str:
        """`<registry>/<prefix>`, what an image's repository is appended to (just the registry for ROOT)."""
        return self.registry_host if self.prefix == ROOT_PREFIX else f"{self.registry_host}/{self.prefix}"

    @property
    def registry_url(self) -> str:
        return f"https://{self.url}"

    @property
    def v2_url(self) -> str:
        """`https://<registry>/v2/<prefix>`: the URL a mirror sends `<repository>/manifests/...` under."""
        path = "" if self.prefix == ROOT_PREFIX else f"/{self.prefix}"
        return f"https://{self.registry_host}/v2{path}"

    @classmethod
    def from_url(cls, url: str) -> CachePrefix:
        """The prefix a `cache_prefixes` output value (`<registry host>[/<prefix>]`) names."""
        host, _, prefix = url.partition("/")
        if not host:
            raise ValueError(f"{url!r} is not '<registry host>[/<prefix>]'")
        return cls(host, prefix or ROOT_PREFIX)

    @classmethod
    def from_registry_url(cls, url: str, upstream_prefix: str | None = None) -> CachePrefix:
        """The prefix a `registry_url` (`https://<registry host>[/<prefix>]`, as `registry_url` makes) names."""
        parts = urlsplit(url)
        if not parts.hostname:
            raise ValueError(f"{url!r} is not 'https://<registry host>[/<prefix>]'")
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        return cls(host, parts.path.strip("/") or ROOT_PREFIX, upstream_prefix)

    def repository(self, path: str) -> str:
        """The ECR repository `<prefix>/<path>` for a repository `path` below the prefix (`path` for ROOT)."""
        return path if self.prefix == ROOT_PREFIX else f"{self.prefix}/{path}"

    def path_below(self, ref: ImageRef) -> str:
        """The cache repository's path below the prefix (see `path_below_upstream_prefix`)."""
        return path_below_upstream_prefix(ref, self.upstream_prefix)

    def location(self, ref: ImageRef) -> CacheLocation:
        return CacheLocation(self, self.repository(self.path_below(ref)), ref.tag, ref.digest)


@dataclass(frozen=True)
class CacheLocation:
    """Where the cache keeps one catalogue image: its repository (Docker Hub's `library/` included)."""

    prefix: CachePrefix
    repository: str
    tag: str | None
    pin: str | None = None

    def reference(self, digest: str | None = None) -> str:
        """`<registry>/<repository>:<tag>[@<digest>]`: the digest served when known, else the pin."""
        text = f"{self.prefix.registry_host}/{self.repository}"
        if self.tag is not None:
            text += f":{self.tag}"
        pinned = digest or self.pin
        if pinned is not None:
            text += f"@{pinned}"
        return text
