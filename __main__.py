"""The program `pulumi up` runs: load settings, build the components, export the outputs contract."""

import pulumi
import pulumi_aws as aws

from components.config.upstream_checks import check_role_for_account
from components.model.ecr import cache_prefix_url, registry_host
from components.policies.node_config import containerd_hosts, kubelet_credential_provider_config
from components.policies.node_userdata import al2023_user_data, bottlerocket_settings
from components.program import engine
from components.resources.access import CacheAccess, template_repository_policy
from components.resources.alerts import CacheAlerts, CacheAlertsArgs
from components.resources.cache import PullThroughCache
from components.resources.endpoints import PrivateEndpoints, placement_from_settings
from components.resources.templates import CreationTemplates
from components.warming import CacheWarming, existing_repositories, warm_specs

with engine.input_errors_reported():
    settings = engine.program_settings()
    for warning in settings.warnings:
        pulumi.log.warn(warning)
    identity = aws.get_caller_identity()
    partition = aws.get_partition()
    check_role_for_account(settings, identity.account_id)
    registry = registry_host(identity.account_id, settings.region, partition.dns_suffix)
    prefixes = [rule.prefix for rule in settings.rules]
    tags = settings.tags
    consumers = settings.access.consumers

    cache = PullThroughCache("cache", rules=settings.rules, tags=tags)
    templates = CreationTemplates(
        "templates",
        prefixes=prefixes,
        settings=settings.templates,
        lifecycle_policy=settings.lifecycle_policy_json,
        repository_policy=template_repository_policy(partition=partition.partition, consumers=consumers),
        partition=partition.partition,
        region=settings.region,
        account_id=identity.account_id,
        tags=tags,
    )
    specs = warm_specs(settings.images, settings.cache_prefixes(), registry, settings.upstream_prefixes())
    warming = (
        CacheWarming(
            "warm", specs=specs, settings=settings.warm, registry=registry, depends_on=[cache, templates]
        )
        if settings.warm.enabled
        else None
    )
    images = (
        warming.images if warming else {str(spec.entry.ref): spec.pinned_reference(None) for spec in specs}
    )
    access = CacheAccess(
        "access",
        consumers=consumers,
        prefixes=prefixes,
        partition=partition.partition,
        region=settings.region,
        account_id=identity.account_id,
        tags_new_repositories=bool(settings.templates.resource_tags),
        existing_repositories=existing_repositories(specs)
        if settings.access.apply_to_existing_repositories
        else (),
        depends_on=warming.warmed if warming else (),
        tags=tags,
    )
    cache_prefixes = cache.rule_prefixes.apply(
        lambda by_registry: {
            upstream: cache_prefix_url(registry, prefix) for upstream, prefix in sorted(by_registry.items())
        }
    )

    if settings.endpoints.enabled:
        endpoints = PrivateEndpoints(
            "endpoints",
            region=settings.region,
            placement=placement_from_settings(settings.endpoints),
            services=settings.endpoints.services,
            extra_s3_bucket_arns=settings.endpoints.extra_s3_bucket_arns,
            tags=tags,
        )
        pulumi.export(engine.VPC_ENDPOINT_IDS, endpoints.endpoint_ids)
        pulumi.export(engine.VPC_ENDPOINT_SECURITY_GROUP_ID, endpoints.security_group_id)
    else:
        pulumi.export(engine.VPC_ENDPOINT_IDS, {})
        pulumi.export(engine.VPC_ENDPOINT_SECURITY_GROUP_ID, None)

    alerts = settings.alerts
    if alerts is not None:
        cache_alerts = CacheAlerts(
            "alerts",
            CacheAlertsArgs(
                prefixes=prefixes,
                partition=partition.partition,
                account_id=identity.account_id,
                emails=alerts.emails,
                kms_key_arn=alerts.kms_key_arn,
                tags=tags,
            ),
        )
        pulumi.export(engine.ALERTS_TOPIC_ARN, cache_alerts.topic_arn)
    else:
        pulumi.export(engine.ALERTS_TOPIC_ARN, None)

    pulumi.export(engine.REGISTRY, registry)
    pulumi.export(engine.CACHE_PREFIXES, cache_prefixes)
    pulumi.export(engine.IMAGES, images)
    pulumi.export(engine.RULES, cache.rule_upstreams)
    pulumi.export(engine.CREDENTIAL_SECRET_ARNS, cache.credential_secret_arns)
    pulumi.export(engine.NODE_PULL_POLICY_ARN, access.node_pull_policy_arn)
    pulumi.export(
        engine.KUBELET_CREDENTIAL_PROVIDER_CONFIG,
        kubelet_credential_provider_config(
            registry_host=registry, region=settings.region, upstreams=settings.cache_prefixes()
        ),
    )
    pulumi.export(engine.CONTAINERD_HOSTS, cache_prefixes.apply(lambda p: containerd_hosts(cache_prefixes=p)))
    pulumi.export(
        engine.AMAZON_LINUX_USER_DATA,
        cache_prefixes.apply(
            lambda p: al2023_user_data(cache_prefixes=p, registry_host=registry, region=settings.region)
        ),
    )
    pulumi.export(
        engine.BOTTLEROCKET_SETTINGS,
        cache_prefixes.apply(
            lambda p: bottlerocket_settings(cache_prefixes=p, registry_host=registry, region=settings.region)
        ),
    )
