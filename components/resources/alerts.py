"""Alerts when the cache fails: an EventBridge rule for failed pull-through cache actions, to SNS."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.policies.alerts import failure_event_pattern, render, topic_key_policy, topic_policy

COMPONENT_TYPE = "ecr-pull-through-cache:index:CacheAlerts"
EMAIL_PROTOCOL = "email"


def email_suffix(email: str) -> str:
    """A logical-name part per address: removing one address replaces no other subscription."""
    return hashlib.sha256(email.lower().encode()).hexdigest()[:10]


@dataclass(frozen=True)
class CacheAlertsArgs:
    """Plain values: the stack's prefixes, who is mailed, and an optional key instead of the stack's own."""

    prefixes: Sequence[str]
    partition: str
    account_id: str
    emails: Sequence[str] = ()
    kms_key_arn: str | None = None


class CacheAlerts(pulumi.ComponentResource):
    """Failed syncs of this stack's prefixes, published to an SNS topic encrypted with a key EventBridge can use.

    Events are best effort (the ECR user guide says so), so the alerts complement `doctor`,
    they do not replace it.
    """

    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: CacheAlertsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key_arn: pulumi.Input[str]
        if args.kms_key_arn is not None:
            key_arn = args.kms_key_arn
        else:
            key = aws.kms.Key(
                f"{name}-key",
                description="Encrypts the ECR pull-through cache alert topic; EventBridge may use it to publish.",
                enable_key_rotation=True,
                policy=render(topic_key_policy(partition=args.partition, account_id=args.account_id)),
                opts=child,
            )
            key_arn = key.arn
        topic = aws.sns.Topic(f"{name}-topic", kms_master_key_id=key_arn, opts=child)
        rule = aws.cloudwatch.EventRule(
            f"{name}-failed-syncs",
            description="ECR pull-through cache actions of this stack's prefixes that did not succeed.",
            event_pattern=render(failure_event_pattern(args.prefixes)),
            opts=child,
        )
        policy = aws.sns.TopicPolicy(
            f"{name}-topic",
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, rule.arn).apply(
                lambda arns: render(topic_policy(topic_arn=arns[0], rule_arn=arns[1]))
            ),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-failed-syncs",
            rule=rule.name,
            arn=topic.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        for email in args.emails:
            aws.sns.TopicSubscription(
                f"{name}-email-{email_suffix(email)}",
                topic=topic.arn,
                protocol=EMAIL_PROTOCOL,
                endpoint=email,
                opts=child,
            )
        self.topic_arn = topic.arn
        self.register_outputs({"topic_arn": self.topic_arn})
