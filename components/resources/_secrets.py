"""An upstream's login in Secrets Manager: a secret the stack creates from a token, or one it adopts.

One way for the cache rules' credentials and the copied upstreams' alike: a secret named
`ecr-pullthroughcache/<prefix>` holding `{"username", "accessToken"}`, under the default
`aws/secretsmanager` key, which ECR requires of a rule's secret
(https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-creating-secret.html)
and which lets the copiers (the deployer, the re-warming function) read a copy's secret with
`secretsmanager:GetSecretValue` alone, without a grant on a customer-managed key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.errors import CredentialSecretError

AWS_MANAGED_KEY = "AWS"


@dataclass(frozen=True)
class NewSecretArgs:
    """A Secrets Manager secret this stack creates from a username and token."""

    secret_name: str
    username: str | None
    token: str = field(repr=False)


@dataclass(frozen=True)
class ExistingSecretArgs:
    """A secret someone else manages, by name or ARN; the stack checks it is under the default key."""

    name_or_arn: str


def _check_default_key(arn: str, key_manager: str, name: str) -> str:
    """ECR cannot read a secret encrypted with a customer-managed key (see the module's docstring)."""
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


def upstream_secret(
    parent: pulumi.Resource,
    credential: NewSecretArgs | ExistingSecretArgs,
    *,
    name: str,
    description: str,
    opts: pulumi.ResourceOptions,
) -> tuple[pulumi.Output[str], pulumi.Resource | None]:
    """The secret's ARN, and the resource to wait for before it holds the login (None when adopted).

    A created secret keeps Pulumi's default create-before-delete. Its only replacing input, `name`,
    comes from the same prefix as its logical name, so it is never replaced in place; and if it
    were, neither order would work: a deleted secret waits 30 days in Secrets Manager's recovery
    window, and its name cannot be reused meanwhile.
    """
    if isinstance(credential, ExistingSecretArgs):
        existing = credential.name_or_arn
        lookup = {"arn": existing} if existing.startswith("arn:") else {"name": existing}
        found = aws.secretsmanager.get_secret_output(**lookup, opts=pulumi.InvokeOutputOptions(parent=parent))
        key_manager = found.kms_key_id.apply(_key_manager)
        checked = pulumi.Output.all(found.arn, key_manager).apply(
            lambda values: _check_default_key(values[0], values[1], existing)
        )
        return checked, None
    token = credential.token
    secret = aws.secretsmanager.Secret(name, name=credential.secret_name, description=description, opts=opts)
    value = pulumi.Output.secret(json.dumps({"username": credential.username, "accessToken": token}))
    version = aws.secretsmanager.SecretVersion(name, secret_id=secret.id, secret_string=value, opts=opts)
    return secret.arn, version
