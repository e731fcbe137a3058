"""The `upstreams` section: one cache rule per cached upstream, its prefix and its credential (`mode: copy`
entries are config/copy_checks.py's; both share the prefix namespace and the credential checks here)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import SecretStr

from components.config.checker import Checker
from components.config.schema import CACHE_MODE, ProjectConfig, UpstreamConfig
from components.config.settings import CacheRuleSettings, StackSettings, UpstreamCredential
from components.config.source import PROJECT, SECRET_PLACEHOLDER, RawConfig
from components.errors import Problem, UnsupportedUpstreamError, raise_if_any
from components.model.arns import ROLE_ARN, SECRET_ARN, SECRET_NAME, Arn
from components.model.ecr import (
    MAX_RULES_PER_REGISTRY,
    ROOT_PREFIX,
    SECRET_NAME_PREFIX,
    EcrRegistry,
    check_prefix,
)
from components.model.upstreams import Credential, Upstream, resolve_upstream, supported_upstreams_text

TOKEN_KEY_SUFFIX = "-token"


def token_key(prefix: str) -> str:
    return f"{prefix.replace('/', '-')}{TOKEN_KEY_SUFFIX}"


def check_shared_token_keys(
    upstreams: Sequence[tuple[str, str, UpstreamCredential | None]], check: Checker
) -> None:
    """No two upstreams (registry, prefix, credential) whose prefixes differ only by '/' against '-'
    when one of them logs in with a token: `a/b` and `a-b` read one secret config key, `a-b-token`,
    so one's token would be the other's (or the other's "needs no token" error). Without tokens
    such prefixes are fine, and stacks have them."""
    by_key: dict[str, list[tuple[str, str, UpstreamCredential | None]]] = {}
    for upstream in upstreams:
        by_key.setdefault(token_key(upstream[1]), []).append(upstream)
    for key, sharing in by_key.items():
        if len(sharing) < 2 or not any(c is not None and c.existing is None for _, _, c in sharing):
            continue
        (first_registry, first_prefix, _), *others = sharing
        for registry, prefix, _ in others:
            check.add(
                ("upstreams", registry, "prefix"),
                f"prefix {prefix!r} and {first_registry}'s prefix {first_prefix!r} would both read their "
                f"token from {key}",
                "give one of them a prefix that differs in more than '/' against '-'",
            )


def set_token_command(prefix: str) -> str:
    return f"pulumi config set --secret {PROJECT}:{token_key(prefix)} <access token>"


def cached_upstreams(config: ProjectConfig) -> dict[str, UpstreamConfig]:
    """The `upstreams` entries the pull-through cache serves (`mode: cache`, the default)."""
    return {
        registry: options or UpstreamConfig()
        for registry, options in config.upstreams.items()
        if options is None or options.mode == CACHE_MODE
    }


def claim_prefix(prefix: str, registry: str, prefixes: dict[str, str], check: Checker) -> bool:
    """Record `prefix` for `registry`, or report the upstream that already has it."""
    if prefix in prefixes:
        check.add(
            ("upstreams", registry, "prefix"),
            f"prefix {prefix!r} is already used by {prefixes[prefix]}; ECR allows one upstream per prefix",
            "give one of them another prefix",
        )
        return False
    prefixes[prefix] = registry
    return True


def _unsupported_hint(registry: str, check: Checker) -> str:
    if EcrRegistry.parse(registry) is not None:
        return "key each upstream by the registry host image references use"
    key = check.key("upstreams", registry)
    return (
        f"to copy its images into ECR instead, set {key}.mode: copy and {key}.prefix "
        f"(for example {suggested_prefix(registry)}); or key each upstream by the registry host image "
        "references use"
    )


def suggested_prefix(registry: str) -> str:
    """A prefix to propose in a message: the host's first label, in ECR's prefix grammar."""
    label = re.sub(r"[^a-z0-9]+", "-", registry.split(".")[0].lower()).strip("-")
    return label if check_prefix(label) is None else "copies"


def check_rules(
    config: ProjectConfig, raw: RawConfig, check: Checker, placeholder_secrets: bool
) -> list[CacheRuleSettings]:
    """One rule per upstream the pull-through cache serves; `mode: copy` entries are `check_copies`'."""
    rules: list[CacheRuleSettings] = []
    prefixes: dict[str, str] = {}
    cached = cached_upstreams(config)
    if not config.upstreams:
        check.add(
            ("upstreams",), "no upstream is enabled", f"enable at least one of: {supported_upstreams_text()}"
        )
    if len(cached) > MAX_RULES_PER_REGISTRY:
        check.add(
            ("upstreams",),
            f"{len(cached)} upstreams, but ECR allows at most {MAX_RULES_PER_REGISTRY} "
            "pull-through cache rules per registry (not adjustable; copied upstreams do not count)",
            "remove upstreams",
        )
    for registry, options in cached.items():
        path = ("upstreams", registry)
        try:
            upstream = resolve_upstream(registry)
        except UnsupportedUpstreamError as error:
            check.add(path, str(error), _unsupported_hint(registry, check))
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
        if not claim_prefix(prefix, registry, prefixes, check):
            continue
        rules.append(_rule(upstream, prefix, options, raw, check, placeholder_secrets))
    return rules


def _rule(
    upstream: Upstream,
    prefix: str,
    options: UpstreamConfig,
    raw: RawConfig,
    check: Checker,
    placeholder_secrets: bool,
) -> CacheRuleSettings:
    path = ("upstreams", upstream.registry)
    if options.token_realm is not None:
        check.add(
            (*path, "tokenRealm"),
            "is only meaningful for a copied upstream (mode: copy): ECR logs in to the upstreams it caches itself",
            "remove it",
        )
    if options.upstream_repository_prefix is not None:
        if upstream.credential is not Credential.ROLE:
            check.add((*path, "upstreamRepositoryPrefix"), "is only meaningful for an ECR private upstream")
        elif prefix == ROOT_PREFIX:
            check.add((*path, "upstreamRepositoryPrefix"), "cannot be set when the prefix is ROOT")
        elif reason := check_prefix(options.upstream_repository_prefix):
            check.add((*path, "upstreamRepositoryPrefix"), reason)
    if upstream.credential is Credential.ROLE:
        if options.role_arn is not None and not ROLE_ARN.fullmatch(options.role_arn):
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
    token = check_token(prefix, raw, check)
    if upstream.credential is Credential.NONE:
        if options.username or options.credential_secret or token is not None:
            check.add(path, f"{upstream.kind.title} needs no credentials", "remove the username and secret")
        return CacheRuleSettings(upstream, prefix)
    credential = check_credential(
        upstream.registry, upstream.kind.title, prefix, options, token, check, placeholder_secrets
    )
    return CacheRuleSettings(
        upstream, prefix, credential=credential, rotate_after_days=options.rotate_after_days
    )


def check_token(prefix: str, raw: RawConfig, check: Checker) -> SecretStr | None:
    """The `<prefix>-token` secret config value, if set (a plain-text token is refused)."""
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


def check_credential(
    registry: str,
    title: str,
    prefix: str,
    options: UpstreamConfig,
    token: SecretStr | None,
    check: Checker,
    placeholder_secrets: bool,
) -> UpstreamCredential:
    """An existing `credentialSecret`, or a secret `ecr-pullthroughcache/<prefix>` made from a username and token."""
    path = ("upstreams", registry)
    secret_name = f"{SECRET_NAME_PREFIX}{prefix}"
    if options.credential_secret is not None:
        existing = options.credential_secret
        if not (SECRET_ARN.fullmatch(existing) or SECRET_NAME.fullmatch(existing)):
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
            f"{title} needs a login: set a username and a token, or name an existing secret",
            f"pulumi config set --path '{PROJECT}:upstreams[\"{registry}\"].username' <user>; "
            f"then {set_token_command(prefix)}",
        )
    if token is None and placeholder_secrets:
        token = SecretStr(SECRET_PLACEHOLDER)
    elif token is None:
        check.add(
            (token_key(prefix),),
            f"the access token for {title} is not set",
            f"run: {set_token_command(prefix)}",
        )
    return UpstreamCredential(secret_name=secret_name, username=options.username, token=token)


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
        elif rule.role_arn is not None and (role_account := Arn.parse(rule.role_arn).account) != account_id:
            problems.append(
                Problem(
                    "Pulumi config",
                    f"{key} is a role in account {role_account}, but ECR only assumes a role in the registry's "
                    f"own account, {account_id}",
                    fix,
                )
            )
    raise_if_any(problems)
