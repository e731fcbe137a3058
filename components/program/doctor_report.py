"""What `doctor` reports: findings (with what to do), checks passed, and the clients it asks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

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


def error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(error).__name__))
    return type(error).__name__


def could_not(check: str, subject: str, error: Exception) -> Finding:
    """An AWS error as a finding: the error code only, which never carries a secret."""
    return Finding(
        check,
        subject,
        f"could not check: AWS answered {error_code(error)}",
        "run doctor with the deployer's credentials, which need read access to ECR, Secrets Manager and EC2",
    )
