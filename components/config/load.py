"""From a stack's raw config to its `StackSettings`: every check first, then the resolved values.

`build_settings` raises `InputError` naming each bad key, its line where there is one, and the fix,
before any resource is registered.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from components.config.checker import Checker, pydantic_problems
from components.config.checks import (
    check_access,
    check_alerts_and_rotation,
    check_lifecycle,
    check_pull_time_exclusions,
    check_region,
    check_templates,
    check_warm,
)
from components.config.copy_checks import check_copies
from components.config.retention_checks import check_catalogue_archiving
from components.config.schema import ProjectConfig
from components.config.settings import (
    AccessSettings,
    AlertSettings,
    CacheRuleSettings,
    CopyUpstreamSettings,
    EndpointSettings,
    NetworkStack,
    StackSettings,
    TemplateSettings,
    UpstreamCredential,
    WarmSettings,
)
from components.config.source import PROJECT_ROOT, SECRET_PLACEHOLDER, RawConfig, read_stack_file
from components.config.stack_checks import (
    catalogue_path,
    check_catalogue,
    check_endpoints,
    check_policy_sizes,
)
from components.config.upstream_checks import (
    TOKEN_KEY_SUFFIX,
    check_rules,
    check_shared_token_keys,
    set_token_command,
    token_key,
)
from components.errors import raise_if_any
from components.policies.access import Consumers


def _project_config(raw: RawConfig, check: Checker, images_file: Path | str | None) -> ProjectConfig:
    plain = {key: value for key, value in raw.values.items() if not key.endswith(TOKEN_KEY_SUFFIX)}
    if images_file is not None:
        plain["imagesFile"] = str(images_file)
    try:
        return ProjectConfig.model_validate(plain)
    except ValidationError as error:
        pydantic_problems(error, check)
        raise_if_any(check.problems)
        raise


def _unused_token_keys(raw: RawConfig, prefixes: list[str], check: Checker) -> None:
    used = {token_key(prefix) for prefix in prefixes}
    for key in raw.values:
        if key.endswith(TOKEN_KEY_SUFFIX) and key not in used:
            check.add(
                (key,), "no enabled upstream uses this token key", "remove it, or check the upstream's prefix"
            )


def _checked_credentials(
    raw: RawConfig, rules: list[CacheRuleSettings], copies: list[CopyUpstreamSettings], check: Checker
) -> dict[str, UpstreamCredential | None]:
    """Each prefix's credential, cached and copied upstreams'; a token key no upstream reads, or one
    that two would, is a problem."""
    logins = [(rule.registry, rule.prefix, rule.credential) for rule in rules]
    logins += [(copy.registry, copy.prefix, copy.credential) for copy in copies]
    _unused_token_keys(raw, [prefix for _, prefix, _ in logins], check)
    check_shared_token_keys(logins, check)
    return {prefix: credential for _, prefix, credential in logins}


def _missing_secrets(raw: RawConfig, credentials: dict[str, UpstreamCredential | None]) -> tuple[str, ...]:
    """The `pulumi config set --secret` commands for tokens the plan stood in for, cached and copied upstreams'."""
    return tuple(
        set_token_command(prefix)
        for prefix, credential in credentials.items()
        if credential is not None
        and credential.token is not None
        and credential.token.get_secret_value() == SECRET_PLACEHOLDER
        and token_key(prefix) not in raw.secret_keys
    )


def _templates(config: ProjectConfig) -> TemplateSettings:
    templates = config.templates
    return TemplateSettings(
        image_tag_mutability=templates.image_tag_mutability,
        mutability_exclusions=templates.mutability_exclusions,
        encryption=templates.encryption,
        kms_key_arn=templates.kms_key_arn if templates.encryption == "KMS" else None,
        resource_tags=dict(templates.resource_tags),
        description=templates.description,
    )


def _endpoints(config: ProjectConfig) -> EndpointSettings:
    endpoints = config.endpoints
    stack = endpoints.network_stack
    return EndpointSettings(
        enabled=endpoints.enabled,
        vpc_id=endpoints.vpc_id,
        vpc_cidrs=endpoints.vpc_cidrs,
        subnet_ids=endpoints.subnet_ids,
        route_table_ids=endpoints.route_table_ids,
        s3_gateway=endpoints.s3_gateway,
        services=endpoints.services,
        extra_s3_bucket_arns=endpoints.extra_s3_bucket_arns,
        network_stack=None
        if stack is None
        else NetworkStack(
            stack.name,
            stack.vpc_id_output,
            stack.vpc_cidrs_output,
            stack.subnet_ids_output,
            stack.route_table_ids_output,
        ),
    )


def _warm(config: ProjectConfig) -> WarmSettings:
    warm = config.warm
    return WarmSettings(
        enabled=warm.enabled,
        backend=warm.backend,
        prune=warm.prune,
        pull_command=warm.pull_command,
        concurrency=warm.concurrency,
        signatures=warm.signatures,
        schedule=warm.schedule,
        schedule_timezone=warm.schedule_timezone,
    )


def _alerts(config: ProjectConfig) -> AlertSettings | None:
    alerts = config.alerts
    if alerts is None or not alerts.enabled:
        return None
    return AlertSettings(emails=alerts.emails, kms_key_arn=alerts.kms_key_arn)


def build_settings(
    raw: RawConfig,
    *,
    placeholder_secrets: bool = False,
    images_file: Path | str | None = None,
    root: Path = PROJECT_ROOT,
    stack: str | None = None,
) -> StackSettings:
    """Check everything; raise InputError listing all problems, or return the settings.

    The selector lock is read by `StackSettings.warm_tags`, not here: `lock --stack S` loads
    the settings to write it.
    """
    check = Checker(raw)
    region = check_region(raw, check)
    config = _project_config(raw, check, images_file)
    rules = check_rules(config, raw, check, placeholder_secrets)
    copies = check_copies(config, raw, check, placeholder_secrets, rules)
    credentials = _checked_credentials(raw, rules, copies, check)
    warnings = check_templates(config, region, check)
    lifecycle_json, lifecycle_warnings = check_lifecycle(config, check)
    warnings += lifecycle_warnings
    exclusions = check_pull_time_exclusions(config, region, check)
    warnings += check_access(config, check)
    check_policy_sizes(config, rules, copies, region, check)
    check_endpoints(config, check)
    warnings += check_warm(config, check)
    check_alerts_and_rotation(config, region, check)
    raise_if_any(check.problems)
    entries = check_catalogue(config, rules, copies, root, check)
    raise_if_any(check.problems)
    check_catalogue_archiving(config, lifecycle_json, entries, check)
    raise_if_any(check.problems)
    access = config.access
    return StackSettings(
        region=region,
        rules=tuple(rules),
        templates=_templates(config),
        lifecycle_policy_json=lifecycle_json,
        access=AccessSettings(
            Consumers(account_ids=access.account_ids, organization_id=access.organization_id),
            access.apply_to_existing_repositories,
        ),
        endpoints=_endpoints(config),
        warm=_warm(config),
        alerts=_alerts(config),
        images=tuple(entries),
        images_path=catalogue_path(config, root),
        tags=dict(config.tags),
        pull_time_exclusions=exclusions,
        warnings=tuple(warnings),
        missing_secrets=_missing_secrets(raw, credentials),
        stack=stack,
        copies=tuple(copies),
    )


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
        stack=stack,
    )
