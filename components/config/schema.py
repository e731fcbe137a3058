"""The stack file's schema: one pydantic model per section, as users write them (camelCase keys).

Only config/ reads these models; everything downstream reads the resolved `StackSettings`.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Section(BaseModel):
    """camelCase keys as users write them; unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


# An upstream's `mode`: `cache`, a pull-through cache rule; `copy`, an upstream the cache does not
# support, copied into ECR under its `prefix` (components/config/copy_checks.py).
CACHE_MODE: Final = "cache"
COPY_MODE: Final = "copy"


class UpstreamConfig(_Section):
    mode: Literal["cache", "copy"] = CACHE_MODE
    prefix: str | None = None
    username: str | None = None
    credential_secret: str | None = None
    role_arn: str | None = None
    upstream_repository_prefix: str | None = None
    rotate_after_days: int | None = Field(default=None, ge=1)
    token_realm: str | None = None


class RetentionConfig(_Section):
    untagged_expire_days: int = 7
    max_image_count: int | None = 200
    archive_unpulled_after_days: int | None = None
    expire_archived_after_days: int | None = None
    expire_tagged_unpulled_after_days: int | None = None
    # IAM roles whose pulls ECR does not record as pulls (scanners): RegisterPullTimeUpdateExclusion.
    pull_time_exclusions: tuple[str, ...] = ()


class TemplatesConfig(_Section):
    image_tag_mutability: Literal[
        "MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION"
    ] = "MUTABLE"
    mutability_exclusions: tuple[str, ...] = ()
    encryption: Literal["AES256", "KMS"] = "AES256"
    kms_key_arn: str | None = None
    resource_tags: dict[str, str] = Field(default_factory=dict)
    description: str = "Repositories created by the ECR pull-through cache; managed by Pulumi."


class AccessConfig(_Section):
    account_ids: tuple[str, ...] = ()
    organization_id: str | None = None
    apply_to_existing_repositories: bool = False


class NetworkStackConfig(_Section):
    name: str
    vpc_id_output: str = "vpcId"
    vpc_cidrs_output: str = "vpcCidrs"
    subnet_ids_output: str = "privateSubnetIds"
    route_table_ids_output: str = "privateRouteTableIds"


class EndpointsConfig(_Section):
    enabled: bool = True
    vpc_id: str | None = None
    vpc_cidrs: tuple[str, ...] = ()
    subnet_ids: tuple[str, ...] = ()
    route_table_ids: tuple[str, ...] = ()
    s3_gateway: bool = True
    services: tuple[str, ...] = ()
    extra_s3_bucket_arns: tuple[str, ...] = ()
    network_stack: NetworkStackConfig | None = None


class WarmConfig(_Section):
    enabled: bool = True
    backend: Literal["provider", "docker", "command"] = "provider"
    prune: bool = False
    pull_command: str | None = None
    concurrency: int = Field(default=8, ge=1, le=64)
    signatures: bool = False  # every image's cosign artifacts and OCI referrers too
    # Scheduled re-warming (program/scheduled_warming.py): an EventBridge Scheduler expression.
    schedule: str | None = None
    schedule_timezone: str = "UTC"


class AlertsConfig(_Section):
    """Pull-through cache failures to an encrypted SNS topic; present means on unless `enabled: false`."""

    enabled: bool = True
    emails: tuple[str, ...] = ()
    kms_key_arn: str | None = None


class ProjectConfig(_Section):
    """Every key under `ecr-pull-through-cache:` except the `<prefix>-token` secrets."""

    upstreams: dict[str, UpstreamConfig | None] = Field(default_factory=dict)
    images_file: str = "images.yaml"
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    lifecycle_policy: str | dict[str, Any] | None = None
    templates: TemplatesConfig = Field(default_factory=TemplatesConfig)
    access: AccessConfig = Field(default_factory=AccessConfig)
    endpoints: EndpointsConfig = Field(default_factory=EndpointsConfig)
    warm: WarmConfig = Field(default_factory=WarmConfig)
    alerts: AlertsConfig | None = None
    tags: dict[str, str] = Field(default_factory=dict)
