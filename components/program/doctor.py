"""`python -m components doctor`: is the deployed cache healthy, and what to do where it is not.

Run with the deployer's AWS credentials after `pulumi up`. Each check is a function over
boto3 clients that returns findings; the expected documents come from the same builders
the stack deploys with, so doctor compares with exactly what `pulumi up` registers.
Secret values are read only to check their keys, and never enter a finding or an output.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from components.config.settings import CacheRuleSettings, StackSettings
from components.config.upstream_checks import set_token_command
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
    if rule.credential.existing is not None:
        return f"put a valid username and accessToken into secret {rule.credential.existing}"
    return f"check the username in the stack file, then {set_token_command(rule.prefix)} and `pulumi up`"


def check_secrets(settings: StackSettings, secrets_client: Any, now: datetime) -> Report:
    """Each credential secret exists, holds `username` and `accessToken`, and is not older than rotateAfterDays."""
    report = Report()
    for rule in settings.rules:
        if rule.credential is None:
            continue
        secret_id = rule.credential.existing or rule.credential.secret_name
        try:
            value = secrets_client.get_secret_value(SecretId=secret_id)
        except secrets_client.exceptions.InvalidRequestException as error:
            adopted = rule.credential.existing is not None
            report.findings.append(_pending_deletion(secrets_client, secret_id, error, adopted=adopted))
            continue
        except secrets_client.exceptions.ResourceNotFoundException:
            report.findings.append(
                Finding(
                    "secret",
                    secret_id,
                    "the credential secret does not exist",
                    "create it with `pulumi up`"
                    if rule.credential.existing is None
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
                    _login_fix(rule),
                )
            )
            continue
        rotate_after = _rotate_after_days(settings, rule)
        created = value.get("CreatedDate")
        if rotate_after is not None and isinstance(created, datetime):
            age = (now - created).days
            if age > rotate_after:
                report.findings.append(
                    Finding(
                        "secret",
                        secret_id,
                        f"the token was set {age} days ago; rotateAfterDays is {rotate_after}",
                        f"issue a new token upstream, then {_rotation_step(rule)}",
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


def _rotate_after_days(settings: StackSettings, rule: CacheRuleSettings) -> int | None:
    return rule.rotate_after_days


def _rotation_step(rule: CacheRuleSettings) -> str:
    assert rule.credential is not None
    if rule.credential.existing is not None:
        return f"store it in secret {rule.credential.existing} as accessToken"
    return f"{set_token_command(rule.prefix)} and `pulumi up`"


def check_templates(settings: StackSettings, rules_client: Any) -> Report:
    """Every prefix has its repository creation template."""
    report = Report()
    prefixes = [rule.prefix for rule in settings.rules]
    try:
        pages = rules_client.get_paginator("describe_repository_creation_templates").paginate(
            prefixes=prefixes
        )
        found = {t["prefix"] for page in pages for t in page.get("repositoryCreationTemplates", [])}
    except Exception as error:
        report.findings.append(could_not("template", ", ".join(prefixes), error))
        return report
    for prefix in prefixes:
        if prefix in found:
            report.passed.append(Passed("template", prefix))
        else:
            report.findings.append(
                Finding(
                    "template",
                    prefix,
                    "no repository creation template: repositories the cache creates get no lifecycle policy",
                    "run `pulumi up`",
                )
            )
    return report


def diagnose(
    settings: StackSettings, clients: AwsClients, expected: Expected, *, fix: bool, now: datetime
) -> Report:
    report = Report()
    for part in (
        check_rules(settings, clients.rules, expected.account_id),
        check_secrets(settings, clients.secretsmanager, now),
        check_templates(settings, clients.rules),
        check_repositories(settings, clients.ecr, expected, fix=fix),
        check_archived_images(settings, clients.images, expected.account_id, fix=fix),
        check_registry_policy(clients.ecr, expected),
        check_endpoints(settings, clients.ec2),
    ):
        report.findings += part.findings
        report.passed += part.passed
    return report
