"""A stack's settings, resolved: what the program, the plan, `warm` and `doctor` read.

Built by `components.config.load.build_settings` from the stack file or the engine's config, after
every check passed. Nothing here is the raw config: defaults are applied, derived values computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from components.model.catalogue import CatalogueEntry
from components.model.image_lock import WarmTag, lock_path_for
from components.model.upstreams import Upstream
from components.model.warm_selection import warm_tags_for
from components.policies.access import Consumers


@dataclass(frozen=True)
class UpstreamCredential:
    """How a rule gets its Secrets Manager credential: created from a token, or an existing secret."""

    secret_name: str
    username: str | None = None
    token: SecretStr | None = None
    existing: str | None = None  # a name or ARN the stack adopts


@dataclass(frozen=True)
class CacheRuleSettings:
    upstream: Upstream
    prefix: str
    upstream_repository_prefix: str | None = None
    credential: UpstreamCredential | None = None
    role_arn: str | None = None
    rotate_after_days: int | None = None

    @property
    def registry(self) -> str:
        return self.upstream.registry


@dataclass(frozen=True)
class CopyUpstreamSettings:
    """An upstream ECR's pull-through cache does not support, copied into ECR under its own prefix.

    `registry` is the host as image references name it (`nvcr.io`); its images are pushed to
    `<prefix>/<upstream repository path>`. `credential` is the login the copy reads the upstream
    with (a Secrets Manager secret, `ecr-pullthroughcache/<prefix>` or an existing one), or None
    to read it anonymously. `token_realm` is the upstream's token service when it is on another
    origin, which the login may then go to (`tokenRealm`). Copies are not pull-through cache rules.
    """

    registry: str
    prefix: str
    credential: UpstreamCredential | None = None
    rotate_after_days: int | None = None
    token_realm: str | None = None


@dataclass(frozen=True)
class TemplateSettings:
    image_tag_mutability: str
    mutability_exclusions: tuple[str, ...]
    encryption: str
    kms_key_arn: str | None  # None unless encryption is KMS
    resource_tags: Mapping[str, str]
    description: str

    @property
    def needs_role(self) -> bool:
        """Tags or KMS make ECR act on the caller's behalf; without a role, repository creation fails (CR#2398)."""
        return bool(self.resource_tags) or self.encryption == "KMS"


@dataclass(frozen=True)
class AccessSettings:
    consumers: Consumers
    apply_to_existing_repositories: bool = False


@dataclass(frozen=True)
class WarmSettings:
    """How `pulumi up` warms the catalogue: the checked `warm` section, as plain values."""

    enabled: bool = True
    backend: Literal["provider", "docker", "command"] = "provider"
    prune: bool = False
    pull_command: str | None = None  # set when the backend is `command` (checked)
    concurrency: int = 8
    signatures: bool = False  # also every image's cosign artifacts and OCI referrers
    schedule: str | None = None  # scheduled re-warming: an EventBridge Scheduler expression (checked)
    schedule_timezone: str = "UTC"


@dataclass(frozen=True)
class NetworkStack:
    """A network stack whose outputs place the endpoints, and the names of those outputs."""

    name: str
    vpc_id_output: str
    vpc_cidrs_output: str
    subnet_ids_output: str
    route_table_ids_output: str


@dataclass(frozen=True)
class EndpointSettings:
    enabled: bool
    vpc_id: str | None = None
    vpc_cidrs: tuple[str, ...] = ()
    subnet_ids: tuple[str, ...] = ()
    route_table_ids: tuple[str, ...] = ()
    s3_gateway: bool = True
    services: tuple[str, ...] = ()
    extra_s3_bucket_arns: tuple[str, ...] = ()
    network_stack: NetworkStack | None = None


@dataclass(frozen=True)
class AlertSettings:
    emails: tuple[str, ...] = ()
    kms_key_arn: str | None = None


@dataclass(frozen=True)
class StackSettings:
    """Checked settings of one stack: what the components are built from."""

    region: str
    rules: tuple[CacheRuleSettings, ...]
    templates: TemplateSettings
    lifecycle_policy_json: str
    access: AccessSettings
    endpoints: EndpointSettings
    warm: WarmSettings
    alerts: AlertSettings | None  # None when absent or disabled
    images: tuple[CatalogueEntry, ...]
    images_path: Path  # the catalogue read; its selector lock sits beside it
    tags: Mapping[str, str] = field(default_factory=dict)
    pull_time_exclusions: tuple[str, ...] = ()  # role ARNs whose pulls ECR does not record (scanners)
    warnings: tuple[str, ...] = ()
    missing_secrets: tuple[str, ...] = ()
    stack: str | None = None  # named in the `lock --stack S` command an error asks for
    copies: tuple[CopyUpstreamSettings, ...] = ()  # upstreams copied into ECR, not cached

    @property
    def lock_path(self) -> Path:
        return lock_path_for(self.images_path)

    def warm_tags(self) -> list[WarmTag]:
        """The tags to warm: listed ones, and selectors' through the lock (InputError without it)."""
        return warm_tags_for(self.images, self.images_path, stack=self.stack, signatures=self.warm.signatures)

    def cache_prefixes(self) -> dict[str, str]:
        """Upstream registry (as image references name it) -> ECR repository prefix: the pull-through rules only."""
        return {rule.registry: rule.prefix for rule in self.rules}

    def copy_prefixes(self) -> dict[str, str]:
        """Copied upstream registry (as image references name it) -> the ECR prefix its copies go under."""
        return {copy.registry: copy.prefix for copy in self.copies}

    def upstream_prefixes(self) -> dict[str, str | None]:
        """Upstream registry -> the rule's upstream repository prefix (ECR upstreams only)."""
        return {rule.registry: rule.upstream_repository_prefix for rule in self.rules}
