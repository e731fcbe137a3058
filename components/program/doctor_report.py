"""What `doctor` reports: findings (with what to do), checks passed, and the clients it asks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import botocore.exceptions
from botocore.config import Config

SECRET_KEYS = ("username", "accessToken")
# Every request doctor sends: 10 s to connect, 60 s for an answer, three attempts in botocore's
# standard retry mode (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html).
CLIENT_CONFIG = Config(connect_timeout=10, read_timeout=60, retries={"mode": "standard", "max_attempts": 3})
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

    `rules` is the ECR client for DescribePullThroughCacheRules, ValidatePullThroughCacheRule and
    the creation templates, `images` the one for DescribeImages (by `imageStatus`, and the copies'
    by tag) and UpdateImageStorageClass; in a real run both are `ecr` itself. Tests wrap them in
    botocore's Stubber, because moto implements none of those calls (or ignores the status filter,
    or makes up a digest that is not the manifest's).
    """

    ecr: Any
    secretsmanager: Any
    ec2: Any
    rules: Any
    images: Any


@dataclass(frozen=True)
class Expected:
    """What the stack deploys, built by the stack's own builders."""

    account_id: str
    lifecycle_policy: str
    repository_policy: str | None
    registry_policy: str | None


# Errors where no answer came back: the endpoint was not reached, or stopped answering
# (botocore's ConnectionError covers refused, timed-out, proxy and TLS failures).
UNREACHABLE = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)
NO_CREDENTIALS = (
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.PartialCredentialsError,
    botocore.exceptions.CredentialRetrievalError,
)
# Codes with which AWS refuses the credentials themselves, not a permission.
REFUSED_CREDENTIALS = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
    }
)


def error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(error).__name__))
    return type(error).__name__


def unreachable_endpoint(error: Exception) -> str | None:
    """The endpoint URL a request never got an answer from, or None when AWS answered (or no URL is known)."""
    if not isinstance(error, UNREACHABLE):
        return None
    kwargs = getattr(error, "kwargs", {})
    return str(kwargs.get("endpoint_url") or kwargs.get("proxy_url") or "its endpoint")


def could_not(check: str, subject: str, error: Exception) -> Finding:
    """An AWS error as a finding: what kept doctor from checking, never a secret (only codes and URLs)."""
    endpoint = unreachable_endpoint(error)
    if endpoint is not None:
        return Finding(
            check,
            subject,
            f"could not check: could not reach AWS at {endpoint} ({type(error).__name__})",
            "check the network path to AWS from here (proxy settings in HTTPS_PROXY, a VPC endpoint, "
            "a firewall) and the stack's region, then run doctor again",
        )
    code = error_code(error)
    if isinstance(error, NO_CREDENTIALS) or code in REFUSED_CREDENTIALS:
        return Finding(
            check,
            subject,
            f"could not check: AWS refused the credentials ({code})",
            "refresh your AWS credentials (aws sso login, or new keys), then run doctor again",
        )
    return Finding(
        check,
        subject,
        f"could not check: AWS answered {code}",
        "run doctor with the deployer's credentials, which need read access to ECR, Secrets Manager and EC2",
    )
