"""IAM documents every role here shares: which service may assume it."""

from __future__ import annotations

from typing import Any


def service_trust_policy(service_principal: str, *, source_account: str | None = None) -> dict[str, Any]:
    """A role only `service_principal` may assume; with `source_account`, only when acting for that
    account (AWS's confused-deputy guard:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html)."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service_principal},
        "Action": "sts:AssumeRole",
    }
    if source_account is not None:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return {"Version": "2012-10-17", "Statement": [statement]}
