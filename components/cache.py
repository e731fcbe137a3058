"""The pull-through cache rules, each with the credential its upstream needs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.errors import CredentialSecretError
from components.settings import CacheRuleSettings, UpstreamCredential

COMPONENT_TYPE = "ecr-pull-through-cache:index:PullThroughCache"


def resource_suffix(prefix: str) -> str:
    """A logical-name part for a prefix: ECR prefixes may contain '/', Pulumi names should not."""
    return prefix.replace("/", "-").lower()


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
        self,
        name: str,
        *,
        rules: Sequence[CacheRuleSettings],
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.rules = {}
        secret_arns: dict[str, pulumi.Output[str]] = {}
        for rule in rules:
            suffix = resource_suffix(rule.prefix)
            credential_arn: pulumi.Output[str] | None = None
            depends_on: list[pulumi.Resource] = []
            if rule.credential is not None:
                credential_arn, version = self._credential(suffix, rule, rule.credential, tags, child)
                secret_arns[rule.prefix] = credential_arn
                depends_on = [version] if version is not None else []
            self.rules[rule.registry] = aws.ecr.PullThroughCacheRule(
                f"rule-{suffix}",
                ecr_repository_prefix=rule.prefix,
                upstream_registry_url=rule.upstream.upstream_registry_url,
                credential_arn=credential_arn,
                custom_role_arn=rule.role_arn,
                upstream_repository_prefix=rule.upstream_repository_prefix,
                opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
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
        suffix: str,
        rule: CacheRuleSettings,
        credential: UpstreamCredential,
        tags: Mapping[str, str],
        child: pulumi.ResourceOptions,
    ) -> tuple[pulumi.Output[str], pulumi.Resource | None]:
        if credential.existing is not None:
            existing = credential.existing
            lookup = {"arn": existing} if existing.startswith("arn:") else {"name": existing}
            found = aws.secretsmanager.get_secret_output(
                **lookup, opts=pulumi.InvokeOutputOptions(parent=self)
            )
            key_manager = found.kms_key_id.apply(_key_manager)
            checked = pulumi.Output.all(found.arn, key_manager).apply(
                lambda values: _check_default_key(values[0], values[1], existing)
            )
            return checked, None
        token = credential.token.get_secret_value() if credential.token is not None else ""
        secret = aws.secretsmanager.Secret(
            f"credential-{suffix}",
            name=credential.secret_name,
            description=f"Login ECR pull-through cache uses for {rule.upstream.kind.title} ({rule.registry}).",
            tags=dict(tags),
            opts=child,
        )
        value = pulumi.Output.secret(json.dumps({"username": credential.username, "accessToken": token}))
        version = aws.secretsmanager.SecretVersion(
            f"credential-{suffix}",
            secret_id=secret.id,
            secret_string=value,
            opts=child,
        )
        return secret.arn, version
