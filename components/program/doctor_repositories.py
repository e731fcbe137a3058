"""`doctor`'s checks of the cache repositories, the registry policy and the VPC endpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from components.config.settings import StackSettings
from components.model.ecr import ROOT_PREFIX
from components.policies.network import INTERFACE_SERVICES_REQUIRED, endpoint_service_name
from components.program.doctor_report import (
    AVAILABLE,
    S3_SERVICE,
    Expected,
    Finding,
    Passed,
    Report,
    could_not,
)


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
    """Cache and copy repositories lacking the template's lifecycle or repository policy; `fix` applies them.

    Templates only govern repositories created after them; older ones keep whatever they had.
    A `ROOT` rule's repositories cannot be told apart from the account's others, so they are skipped.
    """
    report = Report()
    rules = [rule.prefix for rule in settings.rules if rule.prefix != ROOT_PREFIX]
    prefixes = [*rules, *(copy.prefix for copy in settings.copies)]
    try:
        names = sorted(_cache_repositories(ecr, prefixes))
    except Exception as error:
        report.findings.append(could_not("repository", ", ".join(prefixes), error))
        return report
    for name in names:
        try:
            _check_repository(report, ecr, name, expected, fix=fix)
        except Exception as error:  # one repository's error does not stop the others
            report.findings.append(could_not("repository", name, error))
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
        report.findings.append(could_not("repository", name, error))
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
        report.findings.append(could_not("registry-policy", expected.account_id, error))
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
            report.findings.append(could_not("endpoint", name, error))
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
