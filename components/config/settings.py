"""Stack settings: every config key, typed and checked before any resource is registered.

The models mirror the stack files (camelCase keys under `ecr-pull-through-cache:`).
`build_settings` turns a `RawConfig` into `StackSettings` or raises `InputError`
naming each bad key, its line where there is one, and the fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic.alias_generators import to_camel

from components.config.source import PROJECT, PROJECT_ROOT, SECRET_PLACEHOLDER, RawConfig, read_stack_file
from components.errors import (
    LifecyclePolicyError,
    PolicyInputError,
    Problem,
    UnsupportedUpstreamError,
    raise_if_any,
)
from components.model.catalogue import CatalogueEntry, load_catalogue
from components.model.ecr import ROOT_PREFIX, check_prefix, path_below_prefix
from components.model.upstreams import (
    Credential,
    Upstream,
    resolve_upstream,
    supported_upstreams_text,
)
from components.policies import network
from components.policies.access import (
    ACCOUNT_ID,
    ORGANIZATION_ID,
    Consumers,
    node_pull_policy,
    registry_policy,
    render_policy,
    repository_policy,
)
from components.policies.lifecycle import (
    RetentionSettings,
    build_lifecycle_policy,
    lifecycle_policy_from_json,
    render_lifecycle_policy,
    validate_lifecycle_policy,
)
from components.policies.limits import (
    ECR_REGISTRY_POLICY,
    ECR_REPOSITORY_POLICY,
    IAM_MANAGED_POLICY,
    IAM_ROLE_INLINE_POLICIES,
    DocumentLimit,
)
from components.policies.templates import template_role_policy

MAX_RULES_PER_REGISTRY = (
    50  # not adjustable: https://docs.aws.amazon.com/AmazonECR/latest/userguide/service-quotas.html
)
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
TOKEN_KEY_SUFFIX = "-token"

_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]")
_SECRET_ARN = re.compile(
    r"arn:aws(?:-\w+)*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:ecr\-pullthroughcache\/[a-zA-Z0-9\/_+=.@-]+"
)
_SECRET_NAME = re.compile(r"ecr-pullthroughcache/[a-zA-Z0-9/_+=.@-]+")
_ROLE_ARN = re.compile(r"arn:aws(?:-\w+)*:iam::[0-9]{12}:role/[\w+=,.@/-]+")
_KMS_KEY_ARN = re.compile(r"arn:aws(?:-\w+)*:kms:(?P<region>[a-z0-9-]+):[0-9]{12}:key/[a-zA-Z0-9-]+")
_EXCLUSION_FILTER = re.compile(r"[0-9a-zA-Z._*-]{1,128}")
MAX_EXCLUSION_WILDCARDS = 2  # per filter (pulumi-aws, RepositoryCreationTemplate exclusion filters)


class _Section(BaseModel):
    """camelCase keys as users write them; unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class UpstreamConfig(_Section):
    prefix: str | None = None
    username: str | None = None
    credential_secret: str | None = None
    role_arn: str | None = None
    upstream_repository_prefix: str | None = None
    rotate_after_days: int | None = Field(default=None, ge=1)


class RetentionConfig(_Section):
    untagged_expire_days: int = 7
    max_image_count: int | None = 200
    archive_unpulled_after_days: int | None = None
    expire_archived_after_days: int | None = None
    expire_tagged_unpulled_after_days: int | None = None


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

    @property
    def registry(self) -> str:
        return self.upstream.registry


@dataclass(frozen=True)
class StackSettings:
    """Checked settings of one stack: what the components are built from."""

    region: str
    config: ProjectConfig
    rules: tuple[CacheRuleSettings, ...]
    lifecycle_policy_json: str
    images: tuple[CatalogueEntry, ...]
    warnings: tuple[str, ...] = ()
    missing_secrets: tuple[str, ...] = field(default=())

    def cache_prefixes(self) -> dict[str, str]:
        """Upstream registry (as image references name it) -> ECR repository prefix."""
        return {rule.registry: rule.prefix for rule in self.rules}

    def upstream_prefixes(self) -> dict[str, str | None]:
        """Upstream registry -> the rule's upstream repository prefix (ECR upstreams only)."""
        return {rule.registry: rule.upstream_repository_prefix for rule in self.rules}

    def rule_for(self, registry: str) -> CacheRuleSettings:
        return next(rule for rule in self.rules if rule.registry == registry)


def token_key(prefix: str) -> str:
    return f"{prefix.replace('/', '-')}{TOKEN_KEY_SUFFIX}"


def set_token_command(prefix: str) -> str:
    return f"pulumi config set --secret {PROJECT}:{token_key(prefix)} <access token>"


class _Checker:
    """Collects problems against config keys, pointing at lines when the config came from a file."""

    def __init__(self, raw: RawConfig) -> None:
        self.raw = raw
        self.problems: list[Problem] = []

    def key(self, *path: str) -> str:
        return f"{PROJECT}:{'.'.join(path)}"

    def add(self, path: tuple[str, ...], message: str, hint: str | None = None) -> None:
        self.problems.append(
            Problem(self.raw.source, f"{self.key(*path)}: {message}", hint, self.raw.line_of(path))
        )


def _pydantic_problems(error: ValidationError, check: _Checker) -> None:
    for detail in error.errors():
        path = tuple(str(part) for part in detail["loc"])
        if detail["type"] == "extra_forbidden":
            check.add(path, "unknown config key", "remove it, or check its spelling against the README")
        else:
            check.add(path, detail["msg"], "see the README's configuration reference")


def _region(raw: RawConfig, check: _Checker) -> str:
    region = raw.provider.get("aws:region")
    source_line = raw.lines.get(("aws:region",))
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        check.problems.append(
            Problem(
                raw.source, "aws:region is missing or malformed", "pulumi config set aws:region us-east-1"
            )
        )
        return ""
    if region in UNSUPPORTED_REGIONS:
        check.problems.append(
            Problem(
                raw.source,
                f"aws:region {region!r} has no ECR pull-through cache or repository creation templates",
                "choose a commercial region, for example us-east-1 or eu-west-1",
                source_line,
            )
        )
    return region


def _rules(
    config: ProjectConfig, raw: RawConfig, check: _Checker, placeholder_secrets: bool
) -> list[CacheRuleSettings]:
    rules: list[CacheRuleSettings] = []
    prefixes: dict[str, str] = {}
    if not config.upstreams:
        check.add(
            ("upstreams",), "no upstream is enabled", f"enable at least one of: {supported_upstreams_text()}"
        )
    if len(config.upstreams) > MAX_RULES_PER_REGISTRY:
        check.add(
            ("upstreams",),
            f"{len(config.upstreams)} upstreams, but ECR allows at most {MAX_RULES_PER_REGISTRY} "
            "pull-through cache rules per registry (not adjustable)",
            "remove upstreams",
        )
    for registry, maybe_options in config.upstreams.items():
        options = maybe_options or UpstreamConfig()
        path = ("upstreams", registry)
        try:
            upstream = resolve_upstream(registry)
        except UnsupportedUpstreamError as error:
            check.add(path, str(error), "key each upstream by the registry host image references use")
            continue
        prefix = options.prefix or upstream.default_prefix
        reason = check_prefix(prefix)
        if prefix == ROOT_PREFIX and upstream.credential is not Credential.ROLE:
            # AWS documents ROOT as a rule's prefix only for ECR-to-ECR caching
            # (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-private-wildcards.html);
            # the API's pattern accepts it for any upstream, but nothing says the others honour it.
            reason = (
                f"prefix ROOT is documented only for an ECR private upstream, not {upstream.kind.title}; "
                "it would also make every unprefixed repository in the registry a cache of this upstream"
            )
        if reason:
            check.add(
                (*path, "prefix"),
                reason,
                f"set {check.key(*path, 'prefix')} to a valid prefix, for example {upstream.default_prefix}",
            )
            continue
        if prefix in prefixes:
            check.add(
                (*path, "prefix"),
                f"prefix {prefix!r} is already used by {prefixes[prefix]}; ECR allows one upstream per prefix",
                "give one of them another prefix",
            )
            continue
        prefixes[prefix] = registry
        rules.append(_rule(upstream, prefix, options, raw, check, placeholder_secrets))
    return rules


def _rule(
    upstream: Upstream,
    prefix: str,
    options: UpstreamConfig,
    raw: RawConfig,
    check: _Checker,
    placeholder_secrets: bool,
) -> CacheRuleSettings:
    path = ("upstreams", upstream.registry)
    if options.upstream_repository_prefix is not None:
        if upstream.credential is not Credential.ROLE:
            check.add((*path, "upstreamRepositoryPrefix"), "is only meaningful for an ECR private upstream")
        elif prefix == ROOT_PREFIX:
            check.add((*path, "upstreamRepositoryPrefix"), "cannot be set when the prefix is ROOT")
        elif reason := check_prefix(options.upstream_repository_prefix):
            check.add((*path, "upstreamRepositoryPrefix"), reason)
    if upstream.credential is Credential.ROLE:
        if options.role_arn is not None and not _ROLE_ARN.fullmatch(options.role_arn):
            check.add(
                (*path, "roleArn"), "is not an IAM role ARN", "write arn:aws:iam::<account>:role/<name>"
            )
        if options.username or options.credential_secret:
            check.add(path, "an ECR private upstream authenticates with roleArn, not a secret")
        # ECR reports ROOT for a rule created without an upstream prefix, and the provider's field is
        # Optional + ForceNew without Computed (terraform-provider-aws, pull_through_cache_rule.go):
        # left unset, every refresh would read ROOT back and plan a replacement. Under an ECR prefix
        # of ROOT it cannot be set at all (pull-through-cache-private-wildcards in the ECR user guide).
        upstream_prefix = options.upstream_repository_prefix
        if upstream_prefix is None and prefix != ROOT_PREFIX:
            upstream_prefix = ROOT_PREFIX
        return CacheRuleSettings(upstream, prefix, upstream_prefix, role_arn=options.role_arn)
    if options.role_arn is not None:
        check.add((*path, "roleArn"), "only an ECR private upstream takes a role")
    token = _token(prefix, raw, check)
    if upstream.credential is Credential.NONE:
        if options.username or options.credential_secret or token is not None:
            check.add(path, f"{upstream.kind.title} needs no credentials", "remove the username and secret")
        return CacheRuleSettings(upstream, prefix)
    return CacheRuleSettings(
        upstream, prefix, credential=_credential(upstream, prefix, options, token, check, placeholder_secrets)
    )


def _token(prefix: str, raw: RawConfig, check: _Checker) -> SecretStr | None:
    key = token_key(prefix)
    if key not in raw.values:
        return None
    if key not in raw.secret_keys:
        check.add(
            (key,),
            "an access token is stored in plain text",
            f"remove it from the stack file and run: {set_token_command(prefix)}",
        )
        return None
    value = raw.values[key]
    if not isinstance(value, str) or not value:
        check.add((key,), "must be a string", set_token_command(prefix))
        return None
    return SecretStr(value)


def _credential(
    upstream: Upstream,
    prefix: str,
    options: UpstreamConfig,
    token: SecretStr | None,
    check: _Checker,
    placeholder_secrets: bool,
) -> UpstreamCredential:
    path = ("upstreams", upstream.registry)
    secret_name = f"{SECRET_NAME_PREFIX}{prefix}"
    if options.credential_secret is not None:
        existing = options.credential_secret
        if not (_SECRET_ARN.fullmatch(existing) or _SECRET_NAME.fullmatch(existing)):
            check.add(
                (*path, "credentialSecret"),
                f"secret {existing!r} is not named '{SECRET_NAME_PREFIX}...'; ECR only reads secrets with that prefix",
                f"create the secret as {secret_name} or name one that starts with {SECRET_NAME_PREFIX}",
            )
        if token is not None:
            check.add(
                (token_key(prefix),),
                "is set, but credentialSecret names an existing secret; use one of the two",
            )
        return UpstreamCredential(secret_name=existing, existing=existing)
    if not options.username:
        check.add(
            (*path, "username"),
            f"{upstream.kind.title} needs a login: set a username and a token, or name an existing secret",
            f"pulumi config set --path '{PROJECT}:upstreams[\"{upstream.registry}\"].username' <user>; "
            f"then {set_token_command(prefix)}",
        )
    if token is None and placeholder_secrets:
        token = SecretStr(SECRET_PLACEHOLDER)
    elif token is None:
        check.add(
            (token_key(prefix),),
            f"the access token for {upstream.kind.title} is not set",
            f"run: {set_token_command(prefix)}",
        )
    return UpstreamCredential(secret_name=secret_name, username=options.username, token=token)


def _templates(config: ProjectConfig, region: str, check: _Checker) -> list[str]:
    templates = config.templates
    warnings: list[str] = []
    path = ("templates",)
    mutability = templates.image_tag_mutability
    if mutability == "IMMUTABLE":
        warnings.append(
            f"{check.key(*path, 'imageTagMutability')} is IMMUTABLE: the cache can no longer refresh a cached tag "
            "when the upstream moves it (for example 'latest'); prefer IMMUTABLE_WITH_EXCLUSION with "
            "mutabilityExclusions for moving tags"
        )
    if mutability.endswith("_WITH_EXCLUSION"):
        if not 1 <= len(templates.mutability_exclusions) <= 5:
            check.add(
                (*path, "mutabilityExclusions"),
                f"{mutability} needs 1 to 5 exclusion filters",
                "for example mutabilityExclusions: [latest, 'v*-rc*']",
            )
        for pattern in templates.mutability_exclusions:
            if not _EXCLUSION_FILTER.fullmatch(pattern):
                check.add(
                    (*path, "mutabilityExclusions"),
                    f"filter {pattern!r} must match ^[0-9a-zA-Z._*-]{{1,128}}$",
                )
            elif pattern.count("*") > MAX_EXCLUSION_WILDCARDS:
                check.add(
                    (*path, "mutabilityExclusions"),
                    f"filter {pattern!r} has {pattern.count('*')} '*' wildcards; ECR allows {MAX_EXCLUSION_WILDCARDS}",
                )
    elif templates.mutability_exclusions:
        check.add(
            (*path, "mutabilityExclusions"),
            f"exclusions need a *_WITH_EXCLUSION mutability, not {mutability}",
        )
    if templates.encryption == "KMS":
        match = _KMS_KEY_ARN.fullmatch(templates.kms_key_arn or "")
        if match is None:
            check.add((*path, "kmsKeyArn"), "KMS encryption needs a KMS key ARN", "set templates.kmsKeyArn")
        elif region and match["region"] != region:
            check.add((*path, "kmsKeyArn"), f"the key is in {match['region']}, but must be in {region}")
    elif templates.kms_key_arn is not None:
        check.add((*path, "kmsKeyArn"), "is set but encryption is AES256", "set templates.encryption: KMS")
    if len(templates.description) > TEMPLATE_DESCRIPTION_MAX:
        check.add((*path, "description"), f"is longer than {TEMPLATE_DESCRIPTION_MAX} characters")
    return warnings


def _lifecycle(config: ProjectConfig, check: _Checker) -> tuple[str, list[str]]:
    """The policy's JSON, and a warning per hand-written rule that can never act."""
    try:
        if config.lifecycle_policy is not None:
            text = config.lifecycle_policy
            if isinstance(text, dict):
                text = json.dumps(text)
            key = check.key("lifecyclePolicy")
            doc = lifecycle_policy_from_json(text, source=key)
            warnings = [f"{key}: {idle}" for idle in validate_lifecycle_policy(doc)]
            return render_lifecycle_policy(doc), warnings
        retention = config.retention
        # Archiving and the count cap both select every tagged image, so only one can act:
        # archiving turns the default cap off, unless the stack sets maxImageCount itself.
        archives = retention.archive_unpulled_after_days is not None
        cap_given = "max_image_count" in retention.model_fields_set
        max_image_count = retention.max_image_count if cap_given or not archives else None
        return render_lifecycle_policy(
            build_lifecycle_policy(
                RetentionSettings(
                    untagged_expire_days=retention.untagged_expire_days,
                    max_image_count=max_image_count,
                    archive_unpulled_after_days=retention.archive_unpulled_after_days,
                    expire_archived_after_days=retention.expire_archived_after_days,
                    expire_tagged_unpulled_after_days=retention.expire_tagged_unpulled_after_days,
                )
            )
        ), []
    except LifecyclePolicyError as error:
        key = "lifecyclePolicy" if config.lifecycle_policy is not None else "retention"
        check.add((key,), str(error))
        return "", []


SIZE_CHECK_ACCOUNT_ID = "000000000000"  # every account ID has 12 digits: the size does not depend on which


def _policy_sizes(
    config: ProjectConfig, rules: list[CacheRuleSettings], region: str, check: _Checker
) -> None:
    """Every policy document the stack registers, built here once to check its size against its service's limit."""
    prefixes = [rule.prefix for rule in rules]
    if not prefixes or not region:
        return
    partition = network.partition_of_region(region)
    account = SIZE_CHECK_ACCOUNT_ID
    access = config.access
    try:
        consumers = Consumers(account_ids=access.account_ids, organization_id=access.organization_id)
    except PolicyInputError:
        return  # reported by _access
    node = node_pull_policy(
        partition=partition,
        region=region,
        account_id=account,
        prefixes=prefixes,
        tags_new_repositories=bool(config.templates.resource_tags),
    )
    documents: list[tuple[tuple[str, ...], DocumentLimit, dict[str, Any] | None, str]] = [
        (("upstreams",), IAM_MANAGED_POLICY, node, "enable fewer upstreams, or give them shorter prefixes"),
        (
            ("access", "accountIds"),
            ECR_REGISTRY_POLICY,
            registry_policy(
                partition=partition, region=region, account_id=account, prefixes=prefixes, consumers=consumers
            ),
            "grant an organization (access.organizationId) instead of listing many accounts, or enable fewer upstreams",
        ),
        (
            ("access", "accountIds"),
            ECR_REPOSITORY_POLICY,
            repository_policy(partition=partition, consumers=consumers),
            "grant an organization (access.organizationId) instead of listing many accounts",
        ),
    ]
    if config.templates.resource_tags or config.templates.encryption == "KMS":
        role_policy = template_role_policy(
            partition=partition,
            region=region,
            account_id=account,
            prefixes=prefixes,
            kms_key_arn=config.templates.kms_key_arn,
        )
        documents.append((("upstreams",), IAM_ROLE_INLINE_POLICIES, role_policy, "enable fewer upstreams"))
    for path, limit, document, hint in documents:
        if document is not None and (too_long := limit.excess(render_policy(document))):
            check.add(path, too_long, hint)


def _warm(config: ProjectConfig, check: _Checker) -> None:
    warm = config.warm
    if warm.backend == "command" and not warm.pull_command:
        check.add(
            ("warm", "pullCommand"),
            "the command backend needs the command that pulls $IMAGE",
            'for example: crane digest "$IMAGE" (crane auth login first) or skopeo inspect ...',
        )
    elif warm.backend != "command" and warm.pull_command:
        check.add(("warm", "pullCommand"), f"is only used by the command backend, not {warm.backend!r}")


def _access(config: ProjectConfig, check: _Checker) -> list[str]:
    access = config.access
    if access.apply_to_existing_repositories and not config.warm.enabled:
        # Refused rather than creating the repositories here: a cache repository exists once a pull
        # creates it, and a Pulumi-owned aws.ecr.Repository would skip the creation template and be
        # deleted, images and all, with the stack.
        check.add(
            ("access", "applyToExistingRepositories"),
            "needs warming: with warm.enabled false nothing in this stack creates the cache repositories, so "
            "SetRepositoryPolicy would fail with RepositoryNotFoundException on a registry that has not pulled them",
            "set warm.enabled: true, or set applyToExistingRepositories: false (the creation templates "
            "already give new repositories the policy)",
        )
    for index, account in enumerate(access.account_ids):
        if not ACCOUNT_ID.fullmatch(account):
            check.add(("access", "accountIds", str(index)), f"{account!r} is not a 12-digit AWS account ID")
    org = access.organization_id
    if org is not None and not ORGANIZATION_ID.fullmatch(org):
        check.add(("access", "organizationId"), f"{org!r} is not an organization ID", "write o-xxxxxxxxxx")
    if (access.account_ids or org) and config.templates.resource_tags:
        return [
            f"{check.key('templates', 'resourceTags')} is set: a first pull that creates a repository also needs "
            "ecr:TagResource on it, so consumer accounts' node roles need it in their own IAM policies "
            "(this stack's node_pull_policy_arn has it); or warm their images here through images.yaml"
        ]
    return []


def _endpoints(config: ProjectConfig, check: _Checker) -> None:
    endpoints = config.endpoints
    path = ("endpoints",)
    if not endpoints.enabled:
        return
    for index, service in enumerate(endpoints.services):
        if service not in network.INTERFACE_SERVICES_OPTIONAL:
            check.add(
                (*path, "services", str(index)),
                f"unknown endpoint service {service!r}",
                f"choose from {', '.join(network.INTERFACE_SERVICES_OPTIONAL)}",
            )
    if not endpoints.s3_gateway:
        gateway_only = {
            "routeTableIds": endpoints.route_table_ids,
            "extraS3BucketArns": endpoints.extra_s3_bucket_arns,
        }
        for key, given in gateway_only.items():
            if given:
                check.add((*path, key), "is only used by the S3 gateway, which s3Gateway: false turns off")
    checks: list[tuple[str, Sequence[str], Callable[[str], str]]] = [
        ("extraS3BucketArns", endpoints.extra_s3_bucket_arns, network.validate_bucket_arn)
    ]
    if endpoints.network_stack is not None:
        if endpoints.vpc_id or endpoints.subnet_ids or endpoints.route_table_ids or endpoints.vpc_cidrs:
            check.add(path, "give either networkStack or vpcId/vpcCidrs/subnetIds/routeTableIds, not both")
    else:
        required: dict[str, object] = {
            "vpcId": endpoints.vpc_id,
            "vpcCidrs": endpoints.vpc_cidrs,
            "subnetIds": endpoints.subnet_ids,
            **({"routeTableIds": endpoints.route_table_ids} if endpoints.s3_gateway else {}),
        }
        for key, present in required.items():
            if not present:
                check.add(
                    (*path, key),
                    "is required when endpoints are enabled",
                    "set it, name a networkStack, or set endpoints.enabled: false for a VPC that has endpoints",
                )
        checks += [
            ("vpcId", (endpoints.vpc_id,) if endpoints.vpc_id else (), network.validate_vpc_id),
            ("vpcCidrs", endpoints.vpc_cidrs, network.validate_cidr),
            ("subnetIds", endpoints.subnet_ids, network.validate_subnet_id),
            ("routeTableIds", endpoints.route_table_ids, network.validate_route_table_id),
        ]
    for key, values, validate in checks:
        for item in values:
            try:
                validate(item)
            except ValueError as error:
                check.add((*path, key), str(error))


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _alerts_and_rotation(config: ProjectConfig, region: str, check: _Checker) -> None:
    """`alerts` and per-upstream `rotateAfterDays`, the settings `doctor` and the alert topic read."""
    for registry, options in config.upstreams.items():
        if options is None or options.rotate_after_days is None:
            continue
        try:
            credentialed = resolve_upstream(registry).credential is Credential.SECRET
        except UnsupportedUpstreamError:
            continue  # reported by _rules
        if not credentialed:
            check.add(
                ("upstreams", registry, "rotateAfterDays"),
                "only an upstream with a Secrets Manager credential has a token to rotate",
                "remove it",
            )
    alerts = config.alerts
    if alerts is None or not alerts.enabled:
        return
    for index, email in enumerate(alerts.emails):
        if not _EMAIL.fullmatch(email):
            check.add(("alerts", "emails", str(index)), f"{email!r} is not an email address")
    if alerts.kms_key_arn is not None:
        match = _KMS_KEY_ARN.fullmatch(alerts.kms_key_arn)
        if match is None:
            check.add(
                ("alerts", "kmsKeyArn"),
                "is not a KMS key ARN (an alias such as alias/aws/sns is refused: EventBridge cannot use the "
                "AWS-managed SNS key to publish)",
                "name a customer-managed key whose policy lets events.amazonaws.com use it, or remove the key "
                "and let the stack create one",
            )
        elif region and match["region"] != region:
            check.add(("alerts", "kmsKeyArn"), f"the key is in {match['region']}, but must be in {region}")


def _catalogue(
    config: ProjectConfig, rules: list[CacheRuleSettings], root: Path, check: _Checker
) -> list[CatalogueEntry]:
    images_path = Path(config.images_file)
    if not images_path.is_absolute():
        images_path = root / images_path
    entries = load_catalogue(images_path)
    enabled = {rule.registry: rule for rule in rules}
    for entry in entries:
        registry = entry.ref.registry
        if registry in enabled:
            try:
                path_below_prefix(entry.ref, enabled[registry].upstream_repository_prefix)
            except UnsupportedUpstreamError as error:
                check.problems.append(
                    Problem(
                        entry.source,
                        str(error),
                        f"list only images under that prefix, or change {check.key('upstreams', registry)}"
                        ".upstreamRepositoryPrefix",
                        entry.line,
                    )
                )
            continue
        try:
            resolve_upstream(registry)
        except UnsupportedUpstreamError:
            check.problems.append(
                Problem(
                    entry.source,
                    f"{entry.ref}: registry {registry!r} is not a supported upstream "
                    f"(supported: {supported_upstreams_text()})",
                    "mirror the image to a supported registry, or remove the entry",
                    entry.line,
                )
            )
            continue
        check.problems.append(
            Problem(
                entry.source,
                f"{entry.ref}: upstream {registry!r} is not enabled in this stack",
                f"add it under {PROJECT}:upstreams in the stack file, or remove the entry",
                entry.line,
            )
        )
    return entries


def build_settings(
    raw: RawConfig,
    *,
    placeholder_secrets: bool = False,
    images_file: Path | str | None = None,
    root: Path = PROJECT_ROOT,
) -> StackSettings:
    """Check everything; raise InputError listing all problems, or return the settings."""
    check = _Checker(raw)
    region = _region(raw, check)
    plain = {key: value for key, value in raw.values.items() if not key.endswith(TOKEN_KEY_SUFFIX)}
    if images_file is not None:
        plain["imagesFile"] = str(images_file)
    try:
        config = ProjectConfig.model_validate(plain)
    except ValidationError as error:
        _pydantic_problems(error, check)
        raise_if_any(check.problems)
        raise
    rules = _rules(config, raw, check, placeholder_secrets)
    prefixes = {token_key(rule.prefix) for rule in rules}
    for key in raw.values:
        if key.endswith(TOKEN_KEY_SUFFIX) and key not in prefixes:
            check.add(
                (key,), "no enabled upstream uses this token key", "remove it, or check the upstream's prefix"
            )
    warnings = _templates(config, region, check)
    lifecycle_json, lifecycle_warnings = _lifecycle(config, check)
    warnings += lifecycle_warnings
    warnings += _access(config, check)
    _policy_sizes(config, rules, region, check)
    _endpoints(config, check)
    _warm(config, check)
    _alerts_and_rotation(config, region, check)
    raise_if_any(check.problems)
    entries = _catalogue(config, rules, root, check)
    raise_if_any(check.problems)
    missing = tuple(
        set_token_command(rule.prefix)
        for rule in rules
        if rule.credential is not None
        and rule.credential.token is not None
        and rule.credential.token.get_secret_value() == SECRET_PLACEHOLDER
        and token_key(rule.prefix) not in raw.secret_keys
    )
    return StackSettings(
        region=region,
        config=config,
        rules=tuple(rules),
        lifecycle_policy_json=lifecycle_json,
        images=tuple(entries),
        warnings=tuple(warnings),
        missing_secrets=missing,
    )


def check_role_for_account(settings: StackSettings, account_id: str) -> None:
    """Checks on an ECR upstream's role that need the caller's account, known only at deploy time.

    A cross-account ECR upstream needs a role
    (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-private.html), and ECR only assumes a
    role in the registry's own account (botocore's ECR model, `customRoleArn`).
    """
    problems: list[Problem] = []
    for rule in settings.rules:
        if rule.upstream.credential is not Credential.ROLE:
            continue
        key = f"{PROJECT}:upstreams.{rule.registry}.roleArn"
        fix = "create a role trusted by pullthroughcache.ecr.amazonaws.com in this account and set roleArn"
        if rule.role_arn is None and rule.upstream.ecr_account_id != account_id:
            problems.append(
                Problem(
                    "Pulumi config",
                    f"{key} is required: account {rule.upstream.ecr_account_id} is not this stack's account "
                    f"{account_id}",
                    fix,
                )
            )
        elif rule.role_arn is not None and (role_account := rule.role_arn.split(":")[4]) != account_id:
            problems.append(
                Problem(
                    "Pulumi config",
                    f"{key} is a role in account {role_account}, but ECR only assumes a role in the registry's "
                    f"own account, {account_id}",
                    fix,
                )
            )
    raise_if_any(problems)


def load_stack_settings(
    stack: str,
    *,
    images_file: Path | str | None = None,
    placeholder_secrets: bool = True,
    root: Path = PROJECT_ROOT,
) -> StackSettings:
    """Settings from `Pulumi.<stack>.yaml`, offline; used by `validate`, `plan` and `warm --stack`."""
    return build_settings(
        read_stack_file(stack, root),
        placeholder_secrets=placeholder_secrets,
        images_file=images_file,
        root=root,
    )
