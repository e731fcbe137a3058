"""The stack's wiring: resolved settings in, components built from their Args, the outputs contract out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypedDict

import pulumi
import pulumi_aws as aws

from components.config.settings import CacheRuleSettings, EndpointSettings, StackSettings, UpstreamCredential
from components.config.upstream_checks import check_role_for_account
from components.model.ecr import CachePrefix, EcrRegistry
from components.policies.access import render_policy
from components.policies.documents import StackDocuments
from components.policies.kustomize_images import kustomize_images
from components.policies.network import validate_route_table_id, validate_subnet_id, validate_vpc_id
from components.policies.node_config import containerd_hosts, kubelet_credential_provider_config
from components.policies.node_userdata import al2023_user_data, bottlerocket_settings
from components.program.outputs import StackOutputs
from components.program.scheduled_warming import scheduled_warming
from components.program.stack_documents import documents_for
from components.program.warming import existing_repositories, stack_specs, warming_args
from components.resources._secrets import ExistingSecretArgs, NewSecretArgs
from components.resources.access import CacheAccess, CacheAccessArgs
from components.resources.alerts import CacheAlerts, CacheAlertsArgs, RewarmAlarmTargets
from components.resources.cache import CacheRuleArgs, PullThroughCache, PullThroughCacheArgs
from components.resources.copies import CopiedUpstreams, CopiedUpstreamsArgs, CopyLoginArgs
from components.resources.endpoints import PrivateEndpoints, PrivateEndpointsArgs, VpcPlacement
from components.resources.scheduled_warming import ScheduledWarming
from components.resources.templates import CreationTemplates, CreationTemplatesArgs
from components.resources.warming import CacheWarming, WarmSpec


def secret_args(credential: UpstreamCredential) -> NewSecretArgs | ExistingSecretArgs:
    """An existing secret to adopt, or one to create from the username and token."""
    if credential.existing is not None:
        return ExistingSecretArgs(credential.existing)
    token = credential.token.get_secret_value() if credential.token is not None else ""
    return NewSecretArgs(credential.secret_name, credential.username, token)


def rule_args(rule: CacheRuleSettings) -> CacheRuleArgs:
    credential = secret_args(rule.credential) if rule.credential is not None else None
    return CacheRuleArgs(
        registry=rule.registry,
        upstream_title=rule.upstream.kind.title,
        prefix=rule.prefix,
        upstream_registry_url=rule.upstream.upstream_registry_url,
        upstream_repository_prefix=rule.upstream_repository_prefix,
        role_arn=rule.role_arn,
        credential=credential,
    )


def copied_upstreams(settings: StackSettings) -> CopiedUpstreams | None:
    """The copied upstreams' login secrets; None when every copy reads its upstream anonymously."""
    logins = [
        CopyLoginArgs(copy.registry, copy.prefix, secret_args(copy.credential))
        for copy in settings.copies
        if copy.credential is not None
    ]
    return CopiedUpstreams("copies", CopiedUpstreamsArgs(logins)) if logins else None


def _secret_arns(cache: PullThroughCache, copies: CopiedUpstreams | None) -> pulumi.Output[dict[str, str]]:
    """ECR prefix -> login secret ARN, of the rules and the copied upstreams alike."""
    if copies is None:
        return cache.credential_secret_arns
    return pulumi.Output.all(cache.credential_secret_arns, copies.credential_secret_arns).apply(
        lambda both: {**both[0], **both[1]}
    )


def templates_args(settings: StackSettings, documents: StackDocuments) -> CreationTemplatesArgs:
    templates = settings.templates
    return CreationTemplatesArgs(
        prefixes=[rule.prefix for rule in settings.rules],
        image_tag_mutability=templates.image_tag_mutability,
        mutability_exclusions=templates.mutability_exclusions,
        encryption=templates.encryption,
        kms_key_arn=templates.kms_key_arn,
        resource_tags=templates.resource_tags,
        description=templates.description,
        lifecycle_policy=settings.lifecycle_policy_json,
        repository_policy=documents.render(documents.repository_policy),
        role_policy=documents.template_role_policy,
        pull_time_exclusions=settings.pull_time_exclusions,
        copy_prefixes=[copy.prefix for copy in settings.copies],
    )


def access_args(
    settings: StackSettings,
    documents: StackDocuments,
    existing: Sequence[str],
    after: Sequence[pulumi.Resource],
) -> CacheAccessArgs:
    """`existing` repositories get their policy `after` the resources that create them (the warm)."""
    return CacheAccessArgs(
        node_pull_policy=render_policy(documents.node_pull_policy),
        registry_policy=documents.render(documents.registry_policy),
        repository_policy=documents.render(documents.repository_policy),
        existing_repositories=existing if settings.access.apply_to_existing_repositories else (),
        repository_policy_depends_on=after,
    )


def _checked_ids(ids: Sequence[str], validate: Callable[[str], object], what: str) -> list[str]:
    """Network-stack values arrive at deploy time, so they are checked then."""
    if not ids:
        raise ValueError(f"the network stack gave no {what}")
    for value in ids:
        validate(value)
    return list(ids)


def placement_from_settings(endpoints: EndpointSettings) -> VpcPlacement:
    """The VPC from stack config, or from a network stack's outputs under configurable names."""
    source = endpoints.network_stack
    if source is None:
        return VpcPlacement(
            vpc_id=endpoints.vpc_id or "",
            vpc_cidrs=endpoints.vpc_cidrs,
            subnet_ids=endpoints.subnet_ids,
            route_table_ids=endpoints.route_table_ids if endpoints.s3_gateway else None,
        )
    network = pulumi.StackReference(source.name)

    def read(key: str, validate: Callable[[str], object], what: str) -> pulumi.Output[list[str]]:
        return network.require_output(key).apply(lambda ids: _checked_ids(ids, validate, what))

    return VpcPlacement(
        vpc_id=network.require_output(source.vpc_id_output).apply(
            lambda v: _checked_ids([v], validate_vpc_id, "VPC")[0]
        ),
        vpc_cidrs=network.require_output(source.vpc_cidrs_output),
        subnet_ids=read(source.subnet_ids_output, validate_subnet_id, "subnets"),
        route_table_ids=read(source.route_table_ids_output, validate_route_table_id, "route tables")
        if endpoints.s3_gateway
        else None,
    )


def _endpoints(settings: StackSettings) -> tuple[pulumi.Input[dict[str, str]], pulumi.Input[str] | None]:
    endpoints = settings.endpoints
    if not endpoints.enabled:
        return {}, None
    built = PrivateEndpoints(
        "endpoints",
        PrivateEndpointsArgs(
            region=settings.region,
            placement=placement_from_settings(endpoints),
            services=endpoints.services,
            extra_s3_bucket_arns=endpoints.extra_s3_bucket_arns,
        ),
    )
    return built.endpoint_ids, built.security_group_id


def _alerts(
    settings: StackSettings, partition: str, account_id: str, rewarming: ScheduledWarming | None
) -> pulumi.Input[str] | None:
    """The alert topic; with a schedule, also alarms on the re-warming (both on, or no alarm at all)."""
    alerts = settings.alerts
    if alerts is None:
        return None
    args = CacheAlertsArgs(
        prefixes=[rule.prefix for rule in settings.rules],
        partition=partition,
        account_id=account_id,
        emails=alerts.emails,
        kms_key_arn=alerts.kms_key_arn,
        rewarm=None
        if rewarming is None
        else RewarmAlarmTargets(
            dead_letter_queue_name=rewarming.dead_letter_queue_name, function_name=rewarming.function_name
        ),
    )
    return CacheAlerts("alerts", args).topic_arn


# Every type this stack registers that takes `tags` (the resource's own tags, not ECR's `resourceTags`).
TAGGED = frozenset(
    {
        "aws:secretsmanager/secret:Secret",
        "aws:iam/role:Role",
        "aws:iam/policy:Policy",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:kms/key:Key",
        "aws:sns/topic:Topic",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        # Scheduled re-warming (program/scheduled_warming.py).
        "aws:lambda/function:Function",
        "aws:sqs/queue:Queue",
        "aws:cloudwatch/logGroup:LogGroup",
    }
)


def tag_transform(tags: Mapping[str, str]) -> pulumi.ResourceTransform:
    """The stack's tags on every taggable resource, under the resource's own (a `Name`, say).

    A stack transform (https://www.pulumi.com/docs/iac/concepts/options/transforms/) rather than the
    provider's `default_tags`: those would move the tags out of each resource's inputs, an update on
    every deployed resource. Set even when empty, as the components did, so inputs do not change.
    """

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if args.type_ not in TAGGED:
            return None
        own = args.props.get("tags")
        merged = {**tags, **(own if isinstance(own, Mapping) else {})}
        return pulumi.ResourceTransformResult({**args.props, "tags": merged}, args.opts)

    return transform


def _deploying_account(settings: StackSettings) -> tuple[str, str, str]:
    """The account, partition and registry host `pulumi up` deploys to, after the checks that need them."""
    identity = aws.get_caller_identity()
    partition = aws.get_partition()
    check_role_for_account(settings, identity.account_id)
    registry = EcrRegistry(identity.account_id, settings.region, dns_suffix=partition.dns_suffix)
    return identity.account_id, partition.partition, registry.host


def _images(warming: CacheWarming | None, specs: Sequence[WarmSpec]) -> pulumi.Output[dict[str, str]]:
    """The `images` output: what warming (and copying) served, or the catalogue's own pins without it."""
    if warming is not None:
        return warming.images
    return pulumi.Output.from_input({str(spec.entry.ref): spec.pinned_reference(None) for spec in specs})


class _NodeOutputs(TypedDict):
    """The outputs nodes are configured with (README, "Nodes")."""

    kubelet_credential_provider_config: str
    containerd_hosts: pulumi.Output[dict[str, str]]
    al2023_user_data: pulumi.Output[str]
    bottlerocket_settings: pulumi.Output[str]


def _node_outputs(
    settings: StackSettings,
    registry: str,
    cache_prefixes: pulumi.Output[dict[str, str]],
    copies: Mapping[str, str],
) -> _NodeOutputs:
    """Cache upstreams from the rules, copy upstreams as `copies` (both as `<registry>/<prefix>`);
    Bottlerocket's settings leave copies out (policies/node_userdata.py says why)."""
    region = settings.region
    return _NodeOutputs(
        kubelet_credential_provider_config=kubelet_credential_provider_config(
            registry_host=registry, region=region, upstreams=[*settings.cache_prefixes(), *copies]
        ),
        containerd_hosts=cache_prefixes.apply(
            lambda p: containerd_hosts(cache_prefixes=p, copy_prefixes=copies)
        ),
        al2023_user_data=cache_prefixes.apply(
            lambda p: al2023_user_data(
                cache_prefixes=p, copy_prefixes=copies, registry_host=registry, region=region
            )
        ),
        bottlerocket_settings=cache_prefixes.apply(
            lambda p: bottlerocket_settings(cache_prefixes=p, registry_host=registry, region=region)
        ),
    )


def build(settings: StackSettings) -> StackOutputs:
    """Every component of the stack, in dependency order; the outputs the EKS project reads."""
    pulumi.runtime.register_resource_transform(tag_transform(settings.tags))
    account_id, partition, registry = _deploying_account(settings)
    cache = PullThroughCache("cache", PullThroughCacheArgs([rule_args(rule) for rule in settings.rules]))
    copies = copied_upstreams(settings)
    documents = documents_for(settings, partition, account_id)
    templates = CreationTemplates("templates", templates_args(settings, documents))
    ready: list[pulumi.Resource] = [cache, templates, *([copies] if copies else [])]
    specs = stack_specs(settings, registry)  # selectors' tags from the lock; the copies' too
    warming = (
        CacheWarming("warm", warming_args(settings, specs, registry), depends_on=ready)
        if settings.warm.enabled
        else None
    )
    access = CacheAccess(
        "access",
        access_args(settings, documents, existing_repositories(specs), warming.warmed if warming else ()),
    )
    cache_prefixes = cache.rule_prefixes.apply(  # the rules' only
        lambda by_registry: {
            upstream: CachePrefix(registry, prefix).url for upstream, prefix in sorted(by_registry.items())
        }
    )
    copy_prefixes = {
        u: CachePrefix(registry, prefix).url for u, prefix in sorted(settings.copy_prefixes().items())
    }
    endpoint_ids, security_group_id = _endpoints(settings)
    # --- scheduled re-warming (`warm.schedule`): None, and nothing registered, without a schedule ---
    rewarming = scheduled_warming(
        settings, specs, partition=partition, account_id=account_id, depends_on=ready
    )
    # --- end of scheduled re-warming ---
    images = _images(warming, specs)
    return StackOutputs(
        registry=registry,
        cache_prefixes=cache_prefixes.apply(lambda rules: dict(sorted({**rules, **copy_prefixes}.items()))),
        copy_prefixes=copy_prefixes,
        images=images,
        kustomize_images=images.apply(kustomize_images),
        rules=cache.rule_upstreams,
        credential_secret_arns=_secret_arns(cache, copies),
        node_pull_policy_arn=access.node_pull_policy_arn,
        vpc_endpoint_ids=endpoint_ids,
        vpc_endpoint_security_group_id=security_group_id,
        alerts_topic_arn=_alerts(settings, partition, account_id, rewarming),
        warm_schedule_function_arn=rewarming.function_arn if rewarming else None,
        **_node_outputs(settings, registry, cache_prefixes, copy_prefixes),
    )
