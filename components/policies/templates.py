"""IAM documents for the role a repository creation template uses.

ECR needs this role when a template adds resource tags or KMS encryption; without
it, creating the cached repository fails (aws/containers-roadmap#2398). The
actions are the ones the user guide lists for a template's custom role:
https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-creation-templates.html
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.model.ecr import ROOT_PREFIX
from components.policies.iam import service_trust_policy

ECR_SERVICE_PRINCIPAL = "ecr.amazonaws.com"
TEMPLATE_ECR_ACTIONS = ("ecr:CreateRepository", "ecr:ReplicateImage", "ecr:TagResource")
TEMPLATE_KMS_ACTIONS = ("kms:CreateGrant", "kms:DescribeKey", "kms:RetireGrant")


def repository_arns(*, partition: str, region: str, account_id: str, prefixes: Sequence[str]) -> list[str]:
    """ARNs of the repositories under each prefix; `ROOT` covers every repository."""
    base = f"arn:{partition}:ecr:{region}:{account_id}:repository"
    return sorted({f"{base}/*" if prefix == ROOT_PREFIX else f"{base}/{prefix}/*" for prefix in prefixes})


def template_role_trust_policy() -> dict[str, Any]:
    return service_trust_policy(ECR_SERVICE_PRINCIPAL)


def template_role_policy(
    *, partition: str, region: str, account_id: str, prefixes: Sequence[str], kms_key_arn: str | None
) -> dict[str, Any]:
    """Least privilege: ECR actions on the templates' prefixes, KMS grants only when a key is used."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "CreateCachedRepositories",
            "Effect": "Allow",
            "Action": list(TEMPLATE_ECR_ACTIONS),
            "Resource": repository_arns(
                partition=partition, region=region, account_id=account_id, prefixes=prefixes
            ),
        }
    ]
    if kms_key_arn is not None:
        statements.append(
            {
                "Sid": "EncryptCachedRepositories",
                "Effect": "Allow",
                "Action": list(TEMPLATE_KMS_ACTIONS),
                "Resource": kms_key_arn,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}
