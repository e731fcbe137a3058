"""Documents for the cache-failure alerts: the EventBridge pattern, the SNS topic policy, the key policy.

Pure functions, tested as JSON (the pattern also through moto's EventBridge). Event fields:
https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from components.model.ecr import ROOT_PREFIX

ECR_EVENT_SOURCE = "aws.ecr"
PULL_THROUGH_CACHE_DETAIL_TYPE = "ECR Pull Through Cache Action"
SYNC_SUCCESS = "SUCCESS"
EVENTS_SERVICE_PRINCIPAL = "events.amazonaws.com"


def failure_event_pattern(prefixes: Sequence[str]) -> dict[str, Any]:
    """Pull-through cache actions of this stack's prefixes whose `sync-status` is anything but SUCCESS.

    ECR reports the rule's prefix as configured (`docker-hub`, no trailing slash). What it
    reports for a `ROOT` rule is not documented, so with a `ROOT` prefix the pattern keeps
    every prefix in the account: an extra alert is cheaper than a missed one.
    """
    detail: dict[str, Any] = {"sync-status": [{"anything-but": [SYNC_SUCCESS]}]}
    if ROOT_PREFIX not in prefixes:
        detail["ecr-repository-prefix"] = sorted(set(prefixes))
    return {
        "source": [ECR_EVENT_SOURCE],
        "detail-type": [PULL_THROUGH_CACHE_DETAIL_TYPE],
        "detail": detail,
    }


def topic_policy(*, topic_arn: str, rule_arn: str) -> dict[str, Any]:
    """Only the alert rule publishes: EventBridge is allowed with the rule as its source, everyone else denied.

    The deny matters because same-account IAM policies alone can grant `sns:Publish`;
    EventBridge's request carries the rule in `aws:SourceArn`
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions).
    """
    source = {"aws:SourceArn": rule_arn}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AlertRulePublishes",
                "Effect": "Allow",
                "Principal": {"Service": EVENTS_SERVICE_PRINCIPAL},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"ArnEquals": source},
            },
            {
                "Sid": "NobodyElsePublishes",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"ArnNotEquals": source},
            },
        ],
    }


def topic_key_policy(*, partition: str, account_id: str) -> dict[str, Any]:
    """A customer-managed key EventBridge can publish to the encrypted topic with.

    The AWS-managed `alias/aws/sns` key's policy cannot be changed, so EventBridge cannot
    use it; AWS's documented fix is a customer-managed key granting the service
    `kms:GenerateDataKey*` and `kms:Decrypt`
    (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
    The service statement is the documented one, without conditions: which condition keys
    EventBridge's KMS requests carry for an SNS target is not documented, so the key serves
    this topic only instead. The account statement is KMS's default, so the account's IAM policies keep governing the key
    (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersTheKey",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "EventBridgePublishesToTheTopic",
                "Effect": "Allow",
                "Principal": {"Service": EVENTS_SERVICE_PRINCIPAL},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            },
        ],
    }


def render(document: dict[str, Any]) -> str:
    """Stable text, so previews show no diff."""
    return json.dumps(document, sort_keys=True)
