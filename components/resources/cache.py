"""The pull-through cache rules, each with the credential its upstream needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.model.names import legacy_prefix_name, names_with_aliases, prefix_name
from components.resources._children import child_opts
from components.resources._maps import output_map
from components.resources._secrets import ExistingSecretArgs, NewSecretArgs, upstream_secret

COMPONENT_TYPE = "ecr-pull-through-cache:index:PullThroughCache"


@dataclass(frozen=True)
class CacheRuleArgs:
    registry: str  # the upstream as image references name it
    upstream_title: str
    prefix: str
    upstream_registry_url: str
    upstream_repository_prefix: str | None = None
    role_arn: str | None = None
    credential: NewSecretArgs | ExistingSecretArgs | None = None


@dataclass(frozen=True)
class PullThroughCacheArgs:
    rules: Sequence[CacheRuleArgs]


class PullThroughCache(pulumi.ComponentResource):
    """One `aws.ecr.PullThroughCacheRule` per enabled upstream, with a Secrets Manager credential where needed.

    Outputs: `rule_prefixes` (upstream registry -> ECR prefix, read back from the rules),
    `rule_upstreams` (prefix -> upstream URL) and `credential_secret_arns` (prefix -> ARN; never a value).
    """

    rule_prefixes: pulumi.Output[dict[str, str]]
    rule_upstreams: pulumi.Output[dict[str, str]]
    credential_secret_arns: pulumi.Output[dict[str, str]]
    rules: dict[str, aws.ecr.PullThroughCacheRule]

    def __init__(
        self, name: str, args: PullThroughCacheArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.rules = {}
        rules = args.rules
        secret_arns: dict[str, pulumi.Output[str]] = {}
        names = names_with_aliases([rule.prefix for rule in rules], prefix_name, legacy_prefix_name)
        for rule in rules:
            suffix, legacy = names[rule.prefix]
            credential_arn: pulumi.Output[str] | None = None
            depends_on: list[pulumi.Resource] = []
            if rule.credential is not None:
                credential_arn, version = self._credential(name, suffix, legacy, rule, rule.credential)
                secret_arns[rule.prefix] = credential_arn
                depends_on = [version] if version is not None else []
            rule_name = f"{name}-rule-{suffix}"
            self.rules[rule.registry] = aws.ecr.PullThroughCacheRule(
                rule_name,
                ecr_repository_prefix=rule.prefix,
                upstream_registry_url=rule.upstream_registry_url,
                credential_arn=credential_arn,
                custom_role_arn=rule.role_arn,
                upstream_repository_prefix=rule.upstream_repository_prefix,
                # The prefix is the rule's name in ECR: a replacement (new upstream URL or upstream
                # prefix) created first would meet PullThroughCacheRuleAlreadyExistsException.
                opts=child_opts(
                    self,
                    rule_name,
                    [f"rule-{old}" for old in [suffix, *legacy]],
                    depends_on=depends_on,
                    delete_before_replace=True,
                ),
            )
        self.rule_prefixes = output_map(
            {registry: resource.ecr_repository_prefix for registry, resource in self.rules.items()}
        )
        self.rule_upstreams = output_map(
            {rule.prefix: self.rules[rule.registry].upstream_registry_url for rule in rules}
        )
        self.credential_secret_arns = output_map(secret_arns)
        self.register_outputs(
            {
                "rule_prefixes": self.rule_prefixes,
                "rule_upstreams": self.rule_upstreams,
                "credential_secret_arns": self.credential_secret_arns,
            }
        )

    def _credential(
        self,
        component: str,
        suffix: str,
        legacy: list[str],
        rule: CacheRuleArgs,
        credential: NewSecretArgs | ExistingSecretArgs,
    ) -> tuple[pulumi.Output[str], pulumi.Resource | None]:
        secret_name = f"{component}-credential-{suffix}"
        return upstream_secret(
            self,
            credential,
            name=secret_name,
            description=f"Login ECR pull-through cache uses for {rule.upstream_title} ({rule.registry}).",
            opts=child_opts(self, secret_name, [f"credential-{old}" for old in [suffix, *legacy]]),
        )
