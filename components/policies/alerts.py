"""Documents for the cache-failure alerts: the EventBridge pattern, the SNS topic and key policies,
the undelivered-alerts queue's policy, and the alarms on scheduled re-warming.

Pure functions, tested as JSON (the pattern also through moto's EventBridge). Event fields:
https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html

Two services publish to the topic: EventBridge, for the alert rule, and CloudWatch, for the
re-warming alarms. Each policy lists them from one list of publishers, so the topic's Deny
(everyone but those publishers) can never silently drop the other's messages.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.model.ecr import ROOT_PREFIX

ECR_EVENT_SOURCE = "aws.ecr"
PULL_THROUGH_CACHE_DETAIL_TYPE = "ECR Pull Through Cache Action"
SYNC_SUCCESS = "SUCCESS"
EVENTS_SERVICE_PRINCIPAL = "events.amazonaws.com"
CLOUDWATCH_SERVICE_PRINCIPAL = "cloudwatch.amazonaws.com"
# The encryption context SNS sets when it asks KMS for a data key for a topic's message: present
# whoever publishes (https://docs.aws.amazon.com/sns/latest/dg/sns-server-side-encryption.html).
TOPIC_ENCRYPTION_CONTEXT = "kms:EncryptionContext:aws:sns:topicArn"
KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey*"]


@dataclass(frozen=True)
class AlarmSpec:
    """A CloudWatch alarm on one metric of one resource: any value above zero in a period alarms.

    `dimension` names the resource the metric is for; the component fills in its value.
    """

    key: str
    description: str
    namespace: str
    metric_name: str
    dimension: str
    statistic: str
    period_seconds: int = 300
    evaluation_periods: int = 1
    threshold: float = 0
    comparison_operator: str = "GreaterThanThreshold"
    # No data means nothing failed: SQS stops publishing for an idle queue, Lambda between runs.
    treat_missing_data: str = "notBreaching"


# The re-warming function's dead-letter queue gets every failed or undeliverable invocation; Lambda
# counts the failed ones in `Errors` (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html,
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html).
REWARM_DEAD_LETTERS = AlarmSpec(
    key="rewarm-dead-letters",
    description=(
        "Scheduled re-warming of the ECR pull-through cache failed or could not be delivered: its dead-letter "
        "queue holds the invocation. Read the function's log group for the images that failed."
    ),
    namespace="AWS/SQS",
    metric_name="ApproximateNumberOfMessagesVisible",
    dimension="QueueName",
    statistic="Maximum",
)
REWARM_ERRORS = AlarmSpec(
    key="rewarm-errors",
    description=(
        "The ECR pull-through cache's re-warming function failed: some catalogue images were not pulled. "
        "Its log group names each image and why."
    ),
    namespace="AWS/Lambda",
    metric_name="Errors",
    dimension="FunctionName",
    statistic="Sum",
)
REWARM_ALARMS = (REWARM_DEAD_LETTERS, REWARM_ERRORS)


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


def topic_policy(
    *, topic_arn: str, rule_arn: str, account_id: str, alarm_arns: Sequence[str] = ()
) -> dict[str, Any]:
    """Only the alert rule and this stack's alarms publish; everyone else is denied.

    The Deny matters because same-account IAM policies alone can grant `sns:Publish`. Both services
    put the resource that publishes in `aws:SourceArn`: EventBridge the rule
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions),
    CloudWatch the alarm, with its account in `aws:SourceAccount`
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html).
    The Deny's exceptions are exactly the sources allowed above it, built from the same list.
    """
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AlertRulePublishes",
            "Effect": "Allow",
            "Principal": {"Service": EVENTS_SERVICE_PRINCIPAL},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
        }
    ]
    if alarm_arns:
        statements.append(
            {
                "Sid": "StackAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDWATCH_SERVICE_PRINCIPAL},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": list(alarm_arns)},
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            }
        )
    statements.append(
        {
            "Sid": "NobodyElsePublishes",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"ArnNotEquals": {"aws:SourceArn": [rule_arn, *alarm_arns]}},
        }
    )
    return {"Version": "2012-10-17", "Statement": statements}


def topic_key_policy(
    *, partition: str, account_id: str, topic_arn: str, alarm_arns: Sequence[str] = ()
) -> dict[str, Any]:
    """A customer-managed key the topic's publishers may use for this topic only.

    The AWS-managed `alias/aws/sns` key's policy cannot be changed, so EventBridge cannot use it;
    AWS's documented fix is a customer-managed key granting the publishing service
    `kms:GenerateDataKey*` and `kms:Decrypt`
    (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
    Each grant is limited to this topic by the encryption context SNS sets, `aws:sns:topicArn`.
    CloudWatch's is also limited to this stack's alarms (`aws:SourceArn`, `aws:SourceAccount`).
    EventBridge's is not: the SNS guide says `aws:SourceAccount` and `aws:SourceArn` in a key policy
    are not supported for EventBridge-to-encrypted-topic delivery, and users who added them lost every
    alert (awslabs/landing-zone-accelerator-on-aws#407, awslabs/aws-deployment-framework#769).
    The account statement is KMS's default, so the account's IAM policies keep governing the key
    (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
    """
    this_topic = {TOPIC_ENCRYPTION_CONTEXT: topic_arn}
    statements: list[dict[str, Any]] = [
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
            "Action": KEY_ACTIONS,
            "Resource": "*",
            "Condition": {"StringEquals": this_topic},
        },
    ]
    if alarm_arns:
        statements.append(
            {
                "Sid": "AlarmsPublishToTheTopic",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDWATCH_SERVICE_PRINCIPAL},
                "Action": KEY_ACTIONS,
                "Resource": "*",
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": list(alarm_arns)},
                    "StringEquals": {"aws:SourceAccount": account_id, **this_topic},
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def undelivered_alerts_queue_policy(*, queue_arn: str, rule_arn: str) -> dict[str, Any]:
    """The alert rule's dead-letter queue takes what EventBridge could not deliver, from that rule only
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html#eb-dlq-perms)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AlertRuleDeadLetters",
                "Effect": "Allow",
                "Principal": {"Service": EVENTS_SERVICE_PRINCIPAL},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }


def render(document: dict[str, Any]) -> str:
    """Stable text, so previews show no diff."""
    return json.dumps(document, sort_keys=True)
