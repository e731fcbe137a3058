"""Checks across sections: the endpoints' network, every policy document's size, and the catalogue."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from components.config.checker import Checker
from components.config.schema import ProjectConfig
from components.config.settings import CacheRuleSettings, CopyUpstreamSettings
from components.config.source import PROJECT
from components.errors import PolicyInputError, UnsupportedUpstreamError
from components.model.catalogue import CatalogueEntry, load_catalogue
from components.model.ecr import path_below_upstream_prefix
from components.model.upstreams import resolve_upstream, supported_upstreams_text
from components.policies import network
from components.policies.access import (
    Consumers,
    render_policy,
)
from components.policies.documents import stack_documents
from components.policies.limits import (
    ECR_REGISTRY_POLICY,
    ECR_REPOSITORY_POLICY,
    IAM_MANAGED_POLICY,
    IAM_ROLE_INLINE_POLICIES,
    DocumentLimit,
)
from components.policies.scheduled_warming import function_policy

SIZE_CHECK_ACCOUNT_ID = "000000000000"  # every account ID has 12 digits: the size does not depend on which
# The re-warming function's log group and queue, as the engine names them: the logical name, a
# hyphen and seven random characters.
SIZE_CHECK_LOG_GROUP = "warm-schedule-logs-0000000"
SIZE_CHECK_QUEUE = "warm-schedule-dead-letters-0000000"


def check_policy_sizes(
    config: ProjectConfig,
    rules: list[CacheRuleSettings],
    copies: list[CopyUpstreamSettings],
    region: str,
    check: Checker,
) -> None:
    """Every policy document the stack registers, built here once to check its size against its service's limit."""
    prefixes = [rule.prefix for rule in rules]
    copy_prefixes = [copy.prefix for copy in copies]
    if not (prefixes or copy_prefixes) or not region:
        return
    access, templates = config.access, config.templates
    try:
        consumers = Consumers(account_ids=access.account_ids, organization_id=access.organization_id)
    except PolicyInputError:
        return  # reported by check_access
    built = stack_documents(
        partition=network.partition_of_region(region),
        region=region,
        account_id=SIZE_CHECK_ACCOUNT_ID,
        prefixes=prefixes,
        consumers=consumers,
        tags_new_repositories=bool(templates.resource_tags),
        template_role=bool(templates.resource_tags) or templates.encryption == "KMS",
        kms_key_arn=templates.kms_key_arn if templates.encryption == "KMS" else None,
        copy_prefixes=copy_prefixes,
    )
    fewer_accounts = "grant an organization (access.organizationId) instead of listing many accounts"
    documents: list[tuple[tuple[str, ...], DocumentLimit, dict[str, Any] | None, str]] = [
        (
            ("upstreams",),
            IAM_MANAGED_POLICY,
            built.node_pull_policy,
            "enable fewer upstreams, or give them shorter prefixes",
        ),
        (
            ("access", "accountIds"),
            ECR_REGISTRY_POLICY,
            built.registry_policy,
            f"{fewer_accounts}, or enable fewer upstreams",
        ),
        (("access", "accountIds"), ECR_REPOSITORY_POLICY, built.repository_policy, fewer_accounts),
        (("upstreams",), IAM_ROLE_INLINE_POLICIES, built.template_role_policy, "enable fewer upstreams"),
        (
            ("upstreams",),
            IAM_ROLE_INLINE_POLICIES,
            _function_policy(config, prefixes, copies, region) if config.warm.schedule else None,
            "enable fewer upstreams, or give them shorter prefixes",
        ),
    ]
    for path, limit, document, hint in documents:
        if document is not None and (too_long := limit.excess(render_policy(document))):
            check.add(path, too_long, hint)


def _function_policy(
    config: ProjectConfig, prefixes: list[str], copies: list[CopyUpstreamSettings], region: str
) -> dict[str, Any]:
    """The scheduled re-warming function's policy, with stand-ins as long as the names the engine gives."""
    partition = network.partition_of_region(region)
    where = f"arn:{partition}:{{}}:{region}:{SIZE_CHECK_ACCOUNT_ID}"
    return function_policy(
        partition=partition,
        region=region,
        account_id=SIZE_CHECK_ACCOUNT_ID,
        prefixes=prefixes,
        log_group_arn=f"{where.format('logs')}:log-group:{SIZE_CHECK_LOG_GROUP}",
        dead_letter_queue_arn=f"{where.format('sqs')}:{SIZE_CHECK_QUEUE}",
        tags_new_repositories=bool(config.templates.resource_tags),
        copy_prefixes=[copy.prefix for copy in copies],
        copy_secrets=[copy.credential.secret_name for copy in copies if copy.credential is not None],
    )


def check_endpoints(config: ProjectConfig, check: Checker) -> None:
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


def catalogue_path(config: ProjectConfig, root: Path) -> Path:
    """`imagesFile`, relative to the project's root unless absolute."""
    images_path = Path(config.images_file)
    return images_path if images_path.is_absolute() else root / images_path


def check_catalogue(
    config: ProjectConfig,
    rules: list[CacheRuleSettings],
    copies: list[CopyUpstreamSettings],
    root: Path,
    check: Checker,
) -> list[CatalogueEntry]:
    entries = load_catalogue(catalogue_path(config, root))
    enabled = {rule.registry: rule for rule in rules}
    copied = {copy.registry for copy in copies}
    for entry in entries:
        registry = entry.ref.registry
        if registry in copied:
            if entry.platforms is not None:
                check.at(
                    entry.source,
                    f"{entry.ref}: {registry} is copied, and a copy is pushed byte for byte: an index can only "
                    "be pushed with every manifest it lists, so `platforms` cannot narrow it",
                    "remove `platforms` from this entry (every platform is copied)",
                    entry.line,
                )
            continue
        if registry in enabled:
            try:
                path_below_upstream_prefix(entry.ref, enabled[registry].upstream_repository_prefix)
            except UnsupportedUpstreamError as error:
                check.at(
                    entry.source,
                    str(error),
                    f"list only images under that prefix, or change {check.key('upstreams', registry)}"
                    ".upstreamRepositoryPrefix",
                    entry.line,
                )
            continue
        try:
            resolve_upstream(registry)
        except UnsupportedUpstreamError:
            check.at(
                entry.source,
                f"{entry.ref}: registry {registry!r} is not a supported upstream "
                f"(supported: {supported_upstreams_text()})",
                f"copy it into ECR: add {registry} under {PROJECT}:upstreams with mode: copy and a prefix; "
                "or remove the entry",
                entry.line,
            )
            continue
        check.at(
            entry.source,
            f"{entry.ref}: upstream {registry!r} is not enabled in this stack",
            f"add it under {PROJECT}:upstreams in the stack file, or remove the entry",
            entry.line,
        )
    return entries
