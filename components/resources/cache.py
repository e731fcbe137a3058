"""The pull-through cache rules, each with the credential its upstream needs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.errors import CredentialSecretError
from components.model.names import legacy_prefix_name, names_with_aliases, prefix_name
from components.resources._children import child_opts

COMPONENT_TYPE = "ecr-pull-through-cache:index:PullThroughCache"


AWS_MANAGED_KEY = "AWS"


def _check_default_key(arn: str, key_manager: str, name: str) -> str:
    """ECR cannot read a secret encrypted with a customer-managed key.

    https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-creating-secret.html
    """
    if key_manager != AWS_MANAGED_KEY:
        raise CredentialSecretError(
            f"secret {name!r} is encrypted with a customer-managed KMS key; ECR pull-through cache can only "
            "read secrets encrypted with the default aws/secretsmanager key. Re-create it without a KMS key."
        )
    return arn


def _key_manager(key_id: str) -> pulumi.Output[str]:
    """Who manages a secret's key. No key id means the default key; a console-made secret names it instead."""
    if not key_id:
        return pulumi.Output.from_input(AWS_MANAGED_KEY)
    manager: pulumi.Output[str] = aws.kms.get_key_output(key_id=key_id).key_manager
    return manager


@dataclass(frozen=True)
class NewSecretArgs:
    """A Secrets Manager secret this stack creates from a username and token."""

    secret_name: str
    username: str | None
    token: str = field(repr=False)


@dataclass(frozen=True)
class ExistingSecretArgs:
    """A secret someone else manages, by name or ARN; the stack checks ECR can read it."""

    name_or_arn: str


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
        self.rule_prefixes = pulumi.Output.all(
            **{registry: resource.ecr_repository_prefix for registry, resource in self.rules.items()}
        )
        self.rule_upstreams = pulumi.Output.all(
            **{rule.prefix: self.rules[rule.registry].upstream_registry_url for rule in rules}
        )
        self.credential_secret_arns = pulumi.Output.all(**secret_arns)
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
        """A created secret keeps Pulumi's default create-before-delete, unlike the rule.

        Its only replacing input, `name`, comes from the same prefix as its logical name, so it is
        never replaced in place; and if it were, neither order would work: a deleted secret waits
        30 days in Secrets Manager's recovery window, and its name cannot be reused meanwhile.
        """
        secret_name = f"{component}-credential-{suffix}"
        child = child_opts(self, secret_name, [f"credential-{old}" for old in [suffix, *legacy]])
        if isinstance(credential, ExistingSecretArgs):
            existing = credential.name_or_arn
            lookup = {"arn": existing} if existing.startswith("arn:") else {"name": existing}
            found = aws.secretsmanager.get_secret_output(
                **lookup, opts=pulumi.InvokeOutputOptions(parent=self)
            )
            key_manager = found.kms_key_id.apply(_key_manager)
            checked = pulumi.Output.all(found.arn, key_manager).apply(
                lambda values: _check_default_key(values[0], values[1], existing)
            )
            return checked, None
        token = credential.token
        secret = aws.secretsmanager.Secret(
            secret_name,
            name=credential.secret_name,
            description=f"Login ECR pull-through cache uses for {rule.upstream_title} ({rule.registry}).",
            opts=child,
        )
        value = pulumi.Output.secret(json.dumps({"username": credential.username, "accessToken": token}))
        version = aws.secretsmanager.SecretVersion(
            secret_name,
            secret_id=secret.id,
            secret_string=value,
            opts=child,
        )
        return secret.arn, version
