"""`python -m components doctor`: is the deployed cache healthy, and what to do where it is not.

Run with the deployer's AWS credentials after `pulumi up`. Each check is a function over
boto3 clients that returns findings; the expected documents come from the same builders
the stack deploys with, so doctor compares with exactly what `pulumi up` registers.
Secret values are read only to check their keys, and never enter a finding or an output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from components.config.settings import CacheRuleSettings, StackSettings, UpstreamCredential
from components.config.upstream_checks import set_token_command
from components.program.doctor_copies import UpstreamAccess, check_copies
from components.program.doctor_images import check_archived_images
from components.program.doctor_report import (
    SECRET_KEYS,
    AwsClients,
    Expected,
    Finding,
    Passed,
    Report,
    could_not,
)
from components.program.doctor_repositories import check_endpoints, check_registry_policy, check_repositories
from components.program.stack_documents import documents_for
from components.resources.templates import APPLIED_FOR_CREATE_ON_PUSH, APPLIED_FOR_PULL_THROUGH_CACHE


def expected_for(settings: StackSettings, *, partition: str, account_id: str) -> Expected:
    """What the stack deployed: the same documents program/stack.py registers."""
    documents = documents_for(settings, partition, account_id)
    return Expected(
        account_id=account_id,
        lifecycle_policy=settings.lifecycle_policy_json,
        repository_policy=documents.render(documents.repository_policy),
        registry_policy=documents.render(documents.registry_policy),
    )


def _deployed_rules(rules_client: Any, account_id: str) -> dict[str, str]:
    """The registry's pull-through cache rules: ECR prefix -> upstream registry URL."""
    pages = rules_client.get_paginator("describe_pull_through_cache_rules").paginate(registryId=account_id)
    return {
        rule["ecrRepositoryPrefix"]: rule.get("upstreamRegistryUrl", "")
        for page in pages
        for rule in page.get("pullThroughCacheRules", [])
    }


def check_rules(settings: StackSettings, rules_client: Any, account_id: str) -> Report:
    """Every rule of the stack exists and caches the stack's upstream; each that logs in upstream (a
    secret or a role) also passes ECR's own validation."""
    report = Report()
    try:
        deployed: dict[str, str] | None = _deployed_rules(rules_client, account_id)
    except Exception as error:  # reported once; the validations below still run
        report.findings.append(could_not("rule", ", ".join(r.prefix for r in settings.rules), error))
        deployed = None
    for rule in settings.rules:
        expected_upstream = rule.upstream.upstream_registry_url
        if deployed is not None and rule.prefix not in deployed:
            report.findings.append(
                Finding("rule", rule.prefix, "the pull-through cache rule does not exist", "run `pulumi up`")
            )
            continue
        if deployed is not None and deployed[rule.prefix] != expected_upstream:
            report.findings.append(
                Finding(
                    "rule",
                    rule.prefix,
                    f"the rule caches {deployed[rule.prefix]}, but the stack says {expected_upstream}",
                    "run `pulumi up`, which replaces the rule (`pulumi refresh` first, if it was changed by hand)",
                )
            )
            continue
        if rule.credential is None and rule.role_arn is None:
            if deployed is not None:
                report.passed.append(Passed("rule", rule.prefix))
            continue
        try:
            answer = rules_client.validate_pull_through_cache_rule(
                ecrRepositoryPrefix=rule.prefix, registryId=account_id
            )
        except rules_client.exceptions.PullThroughCacheRuleNotFoundException:
            report.findings.append(
                Finding("rule", rule.prefix, "the pull-through cache rule does not exist", "run `pulumi up`")
            )
            continue
        except Exception as error:  # any AWS error is reported, and the other checks still run
            report.findings.append(could_not("rule", rule.prefix, error))
            continue
        if answer.get("isValid"):
            report.passed.append(Passed("rule", rule.prefix))
            continue
        report.findings.append(
            Finding(
                "rule",
                rule.prefix,
                f"ECR cannot log in to {rule.upstream.upstream_registry_url}: {answer.get('failure') or 'no reason given'}",
                _login_fix(rule),
            )
        )
    return report


def _login_fix(rule: CacheRuleSettings) -> str:
    if rule.credential is None:
        return (
            f"check that role {rule.role_arn} is trusted by pullthroughcache.ecr.amazonaws.com and that the "
            "upstream registry's policy lets it pull"
        )
    return _secret_fix(rule.prefix, rule.credential)


def _secret_fix(prefix: str, credential: UpstreamCredential) -> str:
    if credential.existing is not None:
        return f"put a valid username and accessToken into secret {credential.existing}"
    return f"check the username in the stack file, then {set_token_command(prefix)} and `pulumi up`"


@dataclass(frozen=True)
class _Login:
    """An upstream's login secret, as the checks read it: a rule's or a copied upstream's."""

    prefix: str
    credential: UpstreamCredential
    rotate_after_days: int | None


def _logins(settings: StackSettings) -> list[_Login]:
    logins = [(rule.prefix, rule.credential, rule.rotate_after_days) for rule in settings.rules]
    logins += [(copy.prefix, copy.credential, copy.rotate_after_days) for copy in settings.copies]
    return [
        _Login(prefix, credential, rotate) for prefix, credential, rotate in logins if credential is not None
    ]


def check_secrets(settings: StackSettings, secrets_client: Any, now: datetime) -> Report:
    """Each credential secret (the rules' and the copies') exists, holds `username` and `accessToken`,
    and is not older than rotateAfterDays."""
    report = Report()
    for login in _logins(settings):
        secret_id = login.credential.existing or login.credential.secret_name
        try:
            value = secrets_client.get_secret_value(SecretId=secret_id)
        except secrets_client.exceptions.InvalidRequestException as error:
            adopted = login.credential.existing is not None
            report.findings.append(_pending_deletion(secrets_client, secret_id, error, adopted=adopted))
            continue
        except secrets_client.exceptions.ResourceNotFoundException:
            report.findings.append(
                Finding(
                    "secret",
                    secret_id,
                    "the credential secret does not exist",
                    "create it with `pulumi up`"
                    if login.credential.existing is None
                    else "create it, or point credentialSecret at the secret that exists",
                )
            )
            continue
        except Exception as error:
            report.findings.append(could_not("secret", secret_id, error))
            continue
        missing = _missing_keys(value.get("SecretString"))
        if missing:
            report.findings.append(
                Finding(
                    "secret",
                    secret_id,
                    f"the secret must be a JSON object with non-empty {' and '.join(SECRET_KEYS)}; "
                    f"missing or empty: {', '.join(missing)}",
                    _secret_fix(login.prefix, login.credential),
                )
            )
            continue
        rotate_after = login.rotate_after_days
        created = value.get("CreatedDate")
        if rotate_after is not None and isinstance(created, datetime):
            age = (now - created).days
            if age > rotate_after:
                report.findings.append(
                    Finding(
                        "secret",
                        secret_id,
                        f"the token was set {age} days ago; rotateAfterDays is {rotate_after}",
                        f"issue a new token upstream, then {_rotation_step(login)}",
                    )
                )
                continue
        report.passed.append(Passed("secret", secret_id))
    return report


def _pending_deletion(secrets_client: Any, secret_id: str, error: Exception, *, adopted: bool) -> Finding:
    """GetSecretValue's InvalidRequestException, named: Secrets Manager documents it for a secret
    "scheduled for deletion", confirmed here by DescribeSecret's `DeletedDate`
    (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html)."""
    try:
        deleted = secrets_client.describe_secret(SecretId=secret_id).get("DeletedDate")
    except Exception:
        deleted = None
    if not isinstance(deleted, datetime):
        return could_not("secret", secret_id, error)
    return Finding(
        "secret",
        secret_id,
        f"the credential secret is scheduled for deletion on {deleted:%Y-%m-%d}: ECR cannot log in "
        "upstream with it, and its name stays taken until then",
        f"`aws secretsmanager restore-secret --secret-id {secret_id}`, then "
        + (
            "check that it still holds a valid username and accessToken (doctor checks both)"
            if adopted
            else "`pulumi up` (which puts the stack's token back into it)"
        ),
    )


def _missing_keys(text: object) -> list[str]:
    """Which required keys are absent or empty; the value itself is never returned or raised."""
    try:
        document = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return list(SECRET_KEYS)
    return [key for key in SECRET_KEYS if not isinstance(document.get(key), str) or not document[key]]


def _rotation_step(login: _Login) -> str:
    if login.credential.existing is not None:
        return f"store it in secret {login.credential.existing} as accessToken"
    return f"{set_token_command(login.prefix)} and `pulumi up`"


def check_templates(settings: StackSettings, rules_client: Any) -> Report:
    """Every prefix has its repository creation template, applied for what the prefix needs: the
    rules' PULL_THROUGH_CACHE, the copies' CREATE_ON_PUSH (without it, a first copy's push fails)."""
    report = Report()
    expected = {
        **{rule.prefix: APPLIED_FOR_PULL_THROUGH_CACHE for rule in settings.rules},
        **{copy.prefix: APPLIED_FOR_CREATE_ON_PUSH for copy in settings.copies},
    }
    try:
        pages = rules_client.get_paginator("describe_repository_creation_templates").paginate(
            prefixes=list(expected)
        )
        found = {
            t["prefix"]: set(t.get("appliedFor", []))
            for page in pages
            for t in page.get("repositoryCreationTemplates", [])
        }
    except Exception as error:
        report.findings.append(could_not("template", ", ".join(expected), error))
        return report
    for prefix, applies_to in expected.items():
        if applies_to in found.get(prefix, set()):
            report.passed.append(Passed("template", prefix))
            continue
        consequence = (
            "a copy's first push cannot create its repository"
            if applies_to == APPLIED_FOR_CREATE_ON_PUSH
            else "repositories the cache creates get no lifecycle policy"
        )
        missing = (
            "no repository creation template"
            if prefix not in found
            else f"its template is not for {applies_to}"
        )
        report.findings.append(Finding("template", prefix, f"{missing}: {consequence}", "run `pulumi up`"))
    return report


def diagnose(
    settings: StackSettings,
    clients: AwsClients,
    expected: Expected,
    *,
    fix: bool,
    now: datetime,
    upstreams: UpstreamAccess | None = None,
) -> Report:
    """`upstreams`: where the copied upstreams are asked for their digests (their own hosts by default)."""
    report = Report()
    for part in (
        check_rules(settings, clients.rules, expected.account_id),
        check_secrets(settings, clients.secretsmanager, now),
        check_templates(settings, clients.rules),
        check_repositories(settings, clients.ecr, expected, fix=fix),
        check_archived_images(settings, clients.images, expected.account_id, fix=fix),
        check_copies(settings, clients.images, clients.secretsmanager, expected.account_id, access=upstreams),
        check_registry_policy(clients.ecr, expected),
        check_endpoints(settings, clients.ec2),
    ):
        report.findings += part.findings
        report.passed += part.passed
    return report
