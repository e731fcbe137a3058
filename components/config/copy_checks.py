"""`upstreams` entries with `mode: copy`: registries ECR's pull-through cache does not support.

Their images are copied into ECR byte for byte, under a prefix of their own, by whoever copies
(`python -m components warm --stack S`, `pulumi up`, the scheduled re-warming function). A copy
prefix shares the prefix namespace with the cache rules (no two alike, none inside another: one
repository must not fall under a rule and a copy at once, nor under two templates), but it is not
a pull-through cache rule and does not count against ECR's 50. Its login is a Secrets Manager
secret as for the cached upstreams: `ecr-pullthroughcache/<prefix>` made from `<prefix>-token`,
an existing `credentialSecret`, or none for an upstream read anonymously; `tokenRealm` lets that
login also go to the upstream's token service on another origin (a self-hosted GitLab's).
"""

from __future__ import annotations

from collections.abc import Mapping

from components.config.checker import Checker
from components.config.schema import COPY_MODE, ProjectConfig, UpstreamConfig
from components.config.settings import CacheRuleSettings, CopyUpstreamSettings, UpstreamCredential
from components.config.source import PROJECT, RawConfig
from components.config.upstream_checks import (
    check_credential,
    check_token,
    claim_prefix,
    suggested_prefix,
    token_key,
)
from components.errors import ImageRefError
from components.model.ecr import ROOT_PREFIX, check_prefix
from components.model.images import DOCKER_HUB, DOCKER_HUB_ALIASES, parse_image
from components.model.upstreams import cache_supports, token_realm_problem


def copied_upstreams(config: ProjectConfig) -> dict[str, UpstreamConfig]:
    return {
        registry: options
        for registry, options in config.upstreams.items()
        if options is not None and options.mode == COPY_MODE
    }


def check_copies(
    config: ProjectConfig,
    raw: RawConfig,
    check: Checker,
    placeholder_secrets: bool,
    rules: list[CacheRuleSettings],
) -> list[CopyUpstreamSettings]:
    """Every `mode: copy` entry, checked against the rules' prefixes."""
    prefixes = {rule.prefix: rule.registry for rule in rules}
    copies: list[CopyUpstreamSettings] = []
    for registry, options in copied_upstreams(config).items():
        copy = _copy(registry, options, raw, check, placeholder_secrets)
        if copy is not None and claim_prefix(copy.prefix, registry, prefixes, check):
            copies.append(copy)
    _check_nesting(copies, prefixes, check)
    return copies


def _host_problem(registry: str) -> str | None:
    """Why `registry` is not a registry host as image references name it, or None."""
    if registry in DOCKER_HUB_ALIASES:
        return f"{registry!r} is Docker Hub, which the pull-through cache serves as {DOCKER_HUB!r}"
    try:
        named = parse_image(f"{registry}/probe:1").registry
    except ImageRefError:
        named = None
    if named != registry:
        return f"{registry!r} is not a registry host as image references name it (a host, optionally :port)"
    return None


def _copy(
    registry: str, options: UpstreamConfig, raw: RawConfig, check: Checker, placeholder_secrets: bool
) -> CopyUpstreamSettings | None:
    path = ("upstreams", registry)
    if cache_supports(registry):
        check.add(
            (*path, "mode"),
            f"{registry} is an upstream ECR's pull-through cache supports: the cache pulls its images through "
            "itself, so they are not copied",
            "remove mode: copy",
        )
        return None
    if (problem := _host_problem(registry)) is not None:
        check.add(path, problem, "key a copied upstream by its registry host, for example nvcr.io")
        return None
    for key, given in (
        ("roleArn", options.role_arn),
        ("upstreamRepositoryPrefix", options.upstream_repository_prefix),
    ):
        if given is not None:
            check.add(
                (*path, key), "is only meaningful for an ECR private upstream; a copy takes none", "remove it"
            )
    prefix = options.prefix
    reason = None if prefix is None else check_prefix(prefix)
    if prefix == ROOT_PREFIX:
        reason = "prefix ROOT is for an ECR private upstream's rule only; a copy needs a prefix of its own"
    if prefix is None or reason is not None:
        check.add(
            (*path, "prefix"),
            reason or "a copied upstream needs a prefix: its images are pushed to <prefix>/<repository>",
            f"set {check.key(*path, 'prefix')}, for example {suggested_prefix(registry)}",
        )
        return None
    credential = _credential(registry, prefix, options, raw, check, placeholder_secrets)
    rotate_after = options.rotate_after_days if credential is not None else None
    return CopyUpstreamSettings(
        registry, prefix, credential, rotate_after, _token_realm(registry, options, check)
    )


def _token_realm(registry: str, options: UpstreamConfig, check: Checker) -> str | None:
    """Where the login may also go for tokens; only an upstream read with a login has one."""
    realm = options.token_realm
    if realm is None:
        return None
    path = ("upstreams", registry, "tokenRealm")
    if options.credential_secret is None and not options.username:
        check.add(
            path,
            f"{registry} is read anonymously, so no login goes to any token service",
            "remove tokenRealm, or give the upstream a username or credentialSecret",
        )
        return None
    if (problem := token_realm_problem(realm)) is not None:
        check.add(
            path,
            problem,
            "write the https:// URL of the upstream's token service, as the realm of its "
            "WWW-Authenticate answer names it (for a self-hosted GitLab, https://<gitlab host>/jwt/auth)",
        )
        return None
    return realm


def _credential(
    registry: str,
    prefix: str,
    options: UpstreamConfig,
    raw: RawConfig,
    check: Checker,
    placeholder_secrets: bool,
) -> UpstreamCredential | None:
    """A login as for the cached upstreams, or None: a copy may read its upstream anonymously."""
    token = check_token(prefix, raw, check)
    if options.credential_secret is None and not options.username:
        if token is not None:
            check.add(
                ("upstreams", registry, "username"),
                f"{token_key(prefix)} is set, but {registry} has no username to go with it",
                f"pulumi config set --path '{PROJECT}:upstreams[\"{registry}\"].username' <user>; or remove "
                f"{token_key(prefix)} to read {registry} anonymously",
            )
        return None
    return check_credential(registry, registry, prefix, options, token, check, placeholder_secrets)


def _check_nesting(copies: list[CopyUpstreamSettings], prefixes: Mapping[str, str], check: Checker) -> None:
    """No copy prefix inside another prefix, nor another inside it: a repository under both would be
    governed by two templates, and a pull of a missing tag would go to the wrong upstream."""
    for copy in copies:
        for other, owner in prefixes.items():
            if other == copy.prefix:
                continue
            if copy.prefix.startswith(f"{other}/") or other.startswith(f"{copy.prefix}/"):
                check.add(
                    ("upstreams", copy.registry, "prefix"),
                    f"prefix {copy.prefix!r} and {owner}'s prefix {other!r} nest: a repository under one would "
                    "also be under the other",
                    "give the copy a prefix that neither contains another prefix nor lies inside one",
                )
