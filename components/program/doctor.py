"""`python -m components doctor`: is the deployed cache healthy, and what to do where it is not.

Run with the deployer's AWS credentials after `pulumi up`. Each check is a function over
boto3 clients that returns findings; the expected documents come from the same builders
the stack deploys with, so doctor compares with exactly what `pulumi up` registers.
Secret values are read only to check their keys, and never enter a finding or an output.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from components.config.settings import CacheRuleSettings, StackSettings
from components.config.upstream_checks import set_token_command
from components.model.ecr import ROOT_PREFIX
from components.policies.access import registry_policy, render_policy, repository_policy
from components.policies.network import INTERFACE_SERVICES_REQUIRED, endpoint_service_name

EXIT_HEALTHY = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2
SECRET_KEYS = ("username", "accessToken")
AVAILABLE = "available"
S3_SERVICE = "s3"


@dataclass(frozen=True)
class Finding:
    """One thing wrong, where it is, and what to do about it."""

    check: str
    subject: str
    problem: str
    fix: str
    fixed: bool = False


@dataclass(frozen=True)
class Passed:
    check: str
    subject: str


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    passed: list[Passed] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(finding.fixed for finding in self.findings)

    def as_json(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "findings": [asdict(f) for f in self.findings],
            "passed": [asdict(p) for p in self.passed],
        }


@dataclass(frozen=True)
class AwsClients:
    """boto3 clients for the stack's region.

    `rules` is the ECR client for ValidatePullThroughCacheRule and the creation templates;
    in a real run it is `ecr` itself. Tests pass a botocore Stubber there, because moto
    implements neither call.
    """

    ecr: Any
    secretsmanager: Any
    ec2: Any
    rules: Any


@dataclass(frozen=True)
class Expected:
    """What the stack deploys, built by the stack's own builders."""

    account_id: str
    lifecycle_policy: str
    repository_policy: str | None
    registry_policy: str | None


def _code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(error).__name__))
    return type(error).__name__


def _could_not(check: str, subject: str, error: Exception) -> Finding:
    """An AWS error as a finding: the error code only, which never carries a secret."""
    return Finding(
        check,
        subject,
        f"could not check: AWS answered {_code(error)}",
        "run doctor with the deployer's credentials, which need read access to ECR, Secrets Manager and EC2",
    )


def expected_for(settings: StackSettings, *, partition: str, account_id: str) -> Expected:
    consumers = settings.access.consumers
    registry = registry_policy(
        partition=partition,
        region=settings.region,
        account_id=account_id,
        prefixes=[rule.prefix for rule in settings.rules],
        consumers=consumers,
    )
    repository = repository_policy(partition=partition, consumers=consumers)
    return Expected(
        account_id=account_id,
        lifecycle_policy=settings.lifecycle_policy_json,
        repository_policy=render_policy(repository) if repository is not None else None,
        registry_policy=render_policy(registry) if registry is not None else None,
    )


def check_rules(settings: StackSettings, rules_client: Any, account_id: str) -> Report:
    """Each rule that logs in upstream (a secret or a role) passes ECR's own validation."""
    report = Report()
    for rule in settings.rules:
        if rule.credential is None and rule.role_arn is None:
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
            report.findings.append(_could_not("rule", rule.prefix, error))
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
            report.findings.append(_could_not("secret", secret_id, error))
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
        report.findings.append(_could_not("template", ", ".join(prefixes), error))
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


def _cache_repositories(ecr: Any, prefixes: Sequence[str]) -> Iterator[str]:
    for page in ecr.get_paginator("describe_repositories").paginate():
        for repository in page.get("repositories", []):
            name = repository["repositoryName"]
            if any(name.startswith(f"{prefix}/") for prefix in prefixes):
                yield name


def _same_document(text: str | None, expected: str) -> bool:
    try:
        return text is not None and json.loads(text) == json.loads(expected)
    except ValueError:
        return False


def check_repositories(settings: StackSettings, ecr: Any, expected: Expected, *, fix: bool) -> Report:
    """Cache repositories lacking the template's lifecycle or repository policy; `fix` applies them.

    Templates only govern repositories created after them; older ones keep whatever they had.
    A `ROOT` rule's repositories cannot be told apart from the account's others, so they are skipped.
    """
    report = Report()
    prefixes = [rule.prefix for rule in settings.rules if rule.prefix != ROOT_PREFIX]
    try:
        names = sorted(_cache_repositories(ecr, prefixes))
    except Exception as error:
        report.findings.append(_could_not("repository", ", ".join(prefixes), error))
        return report
    for name in names:
        try:
            _check_repository(report, ecr, name, expected, fix=fix)
        except Exception as error:  # one repository's error does not stop the others
            report.findings.append(_could_not("repository", name, error))
    return report


def _check_repository(report: Report, ecr: Any, name: str, expected: Expected, *, fix: bool) -> None:
    healthy = True
    try:
        lifecycle = ecr.get_lifecycle_policy(repositoryName=name).get("lifecyclePolicyText")
    except ecr.exceptions.LifecyclePolicyNotFoundException:
        lifecycle = None
    if not _same_document(lifecycle, expected.lifecycle_policy):
        healthy = False
        what = (
            "has no lifecycle policy"
            if lifecycle is None
            else "has a lifecycle policy other than the template's"
        )
        applied = fix and _apply(
            report, name, ecr.put_lifecycle_policy, lifecyclePolicyText=expected.lifecycle_policy
        )
        report.findings.append(
            Finding(
                "repository",
                name,
                what,
                "run doctor again with --fix to apply the template's lifecycle policy",
                fixed=applied,
            )
        )
    if expected.repository_policy is not None:
        try:
            policy = ecr.get_repository_policy(repositoryName=name).get("policyText")
        except ecr.exceptions.RepositoryPolicyNotFoundException:
            policy = None
        if not _same_document(policy, expected.repository_policy):
            healthy = False
            applied = fix and _apply(
                report, name, ecr.set_repository_policy, policyText=expected.repository_policy
            )
            report.findings.append(
                Finding(
                    "repository",
                    name,
                    "has no repository policy"
                    if policy is None
                    else "has a repository policy other than the template's",
                    "run doctor again with --fix to apply the template's repository policy "
                    "(consumer accounts cannot pull until then)",
                    fixed=applied,
                )
            )
    if healthy:
        report.passed.append(Passed("repository", name))


def _apply(report: Report, name: str, call: Any, **document: str) -> bool:
    """Put one policy on one repository; a refusal is a finding, and the other repositories go on."""
    try:
        call(repositoryName=name, **document)
    except Exception as error:
        report.findings.append(_could_not("repository", name, error))
        return False
    return True


def check_registry_policy(ecr: Any, expected: Expected) -> Report:
    """The registry policy the stack deploys for consumer accounts is in place, unchanged."""
    report = Report()
    if expected.registry_policy is None:
        return report
    try:
        text = ecr.get_registry_policy().get("policyText")
    except ecr.exceptions.RegistryPolicyNotFoundException:
        text = None
    except Exception as error:
        report.findings.append(_could_not("registry-policy", expected.account_id, error))
        return report
    if _same_document(text, expected.registry_policy):
        report.passed.append(Passed("registry-policy", expected.account_id))
    else:
        report.findings.append(
            Finding(
                "registry-policy",
                expected.account_id,
                "the registry has no policy"
                if text is None
                else "the registry policy differs from the stack's",
                "run `pulumi up` (consumer accounts cannot cache new images without it)",
            )
        )
    return report


def check_endpoints(settings: StackSettings, ec2: Any) -> Report:
    """Every VPC endpoint the stack expects exists and is available."""
    report = Report()
    endpoints = settings.endpoints
    if not endpoints.enabled:
        return report
    services = [
        *INTERFACE_SERVICES_REQUIRED,
        *sorted(set(endpoints.services) - set(INTERFACE_SERVICES_REQUIRED)),
    ]
    if endpoints.s3_gateway:
        services.append(S3_SERVICE)
    vpc = [{"Name": "vpc-id", "Values": [endpoints.vpc_id]}] if endpoints.vpc_id else []
    for service in services:
        name = endpoint_service_name(settings.region, service)
        try:
            pages = ec2.get_paginator("describe_vpc_endpoints").paginate(
                Filters=[{"Name": "service-name", "Values": [name]}, *vpc]
            )
            states = [e.get("State", "").lower() for page in pages for e in page.get("VpcEndpoints", [])]
        except Exception as error:
            report.findings.append(_could_not("endpoint", name, error))
            continue
        if AVAILABLE in states:
            report.passed.append(Passed("endpoint", name))
        else:
            where = f" in {endpoints.vpc_id}" if endpoints.vpc_id else ""
            report.findings.append(
                Finding(
                    "endpoint",
                    name,
                    f"no available VPC endpoint{where}"
                    + (f" (states: {', '.join(states)})" if states else ""),
                    "run `pulumi up`; nodes in private subnets cannot pull without it",
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
        check_registry_policy(clients.ecr, expected),
        check_endpoints(settings, clients.ec2),
    ):
        report.findings += part.findings
        report.passed += part.passed
    return report


def render_text(report: Report, *, stack: str, region: str) -> str:
    lines = [f"doctor: stack {stack}, region {region}"]
    lines += [f"ok     {p.check} {p.subject}" for p in report.passed]
    for finding in report.findings:
        mark = "fixed " if finding.fixed else "FIX   "
        lines.append(f"{mark} {finding.check} {finding.subject}: {finding.problem}")
        if not finding.fixed:
            lines.append(f"         what to do: {finding.fix}")
    open_findings = sum(not f.fixed for f in report.findings)
    lines.append("healthy" if report.healthy else f"{open_findings} finding(s) need attention")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml (default: dev)")
    parser.add_argument("--images", default=None, help="image catalogue (default: the stack's imagesFile)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--fix",
        action="store_true",
        help="apply the templates' policies to cache repositories that lack them",
    )


def run(args: argparse.Namespace, clients: AwsClients | None = None) -> int:
    """Exit 0 healthy, 1 findings, 2 bad input (raised as InputError for the CLI's handler) or no AWS access."""
    import boto3
    import botocore.exceptions

    from components.config.load import load_stack_settings

    settings = load_stack_settings(args.stack, images_file=args.images)
    session = boto3.Session(region_name=settings.region)
    try:
        identity = session.client("sts").get_caller_identity()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        print(
            f"error: cannot reach AWS as the deployer ({_code(error)}); set AWS credentials", file=sys.stderr
        )
        return EXIT_BAD_INPUT
    if clients is None:
        ecr = session.client("ecr")
        clients = AwsClients(
            ecr=ecr, secretsmanager=session.client("secretsmanager"), ec2=session.client("ec2"), rules=ecr
        )
    partition = session.get_partition_for_region(settings.region)
    expected = expected_for(settings, partition=partition, account_id=identity["Account"])
    report = diagnose(settings, clients, expected, fix=args.fix, now=datetime.now(UTC))
    if args.json:
        print(json.dumps({"stack": args.stack, "region": settings.region, **report.as_json()}, indent=2))
    else:
        print(render_text(report, stack=args.stack, region=settings.region))
    return EXIT_HEALTHY if report.healthy else EXIT_FINDINGS
