"""Alerts when the cache fails: failed pull-through cache actions and failed re-warming, to one SNS topic.

The key, the topic and the alarms reference each other: the alarms publish to the topic, the topic
is encrypted with the key, and the key's and topic's policies name the topic and the alarms. The key
is therefore created with KMS's default policy and given its own by a separate `aws.kms.KeyPolicy`
once the topic and alarms exist; no ARN is ever composed by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.policies.alerts import (
    REWARM_DEAD_LETTERS,
    REWARM_ERRORS,
    AlarmSpec,
    failure_event_pattern,
    render,
    topic_key_policy,
    topic_policy,
    undelivered_alerts_queue_policy,
)

COMPONENT_TYPE = "ecr-pull-through-cache:index:CacheAlerts"
EMAIL_PROTOCOL = "email"
# EventBridge's own maxima, and its default without a policy: a day, 185 attempts
# (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html). An alert is
# worth delivering late; what still fails lands in the dead-letter queue, kept 14 days (SQS's most).
TARGET_MAX_EVENT_AGE_SECONDS = 86_400
TARGET_MAX_RETRY_ATTEMPTS = 185
UNDELIVERED_RETENTION_SECONDS = 14 * 24 * 3600


def email_suffix(email: str) -> str:
    """A logical-name part per address: removing one address replaces no other subscription."""
    return hashlib.sha256(email.lower().encode()).hexdigest()[:10]


@dataclass(frozen=True)
class RewarmAlarmTargets:
    """What the re-warming alarms watch: its dead-letter queue and its function, by name."""

    dead_letter_queue_name: pulumi.Input[str]
    function_name: pulumi.Input[str]


@dataclass(frozen=True)
class CacheAlertsArgs:
    """The stack's prefixes, who is mailed, an optional key instead of the stack's own, and the
    re-warming to alarm on (None without a schedule)."""

    prefixes: Sequence[str]
    partition: str
    account_id: str
    emails: Sequence[str] = ()
    kms_key_arn: str | None = None
    rewarm: RewarmAlarmTargets | None = None


class CacheAlerts(pulumi.ComponentResource):
    """Failed syncs of this stack's prefixes and failed re-warming, published to an encrypted SNS topic.

    Events are best effort (the ECR user guide says so), so the alerts complement `doctor`,
    they do not replace it; the re-warming alarms come from CloudWatch, not from those events.
    """

    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: CacheAlertsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key = None
        if args.kms_key_arn is None:
            key = aws.kms.Key(
                f"{name}-key",
                description="Encrypts the ECR pull-through cache alert topic; only that topic's publishers may use it.",
                enable_key_rotation=True,
                opts=child,
            )
        topic = aws.sns.Topic(
            f"{name}-topic", kms_master_key_id=key.arn if key else args.kms_key_arn, opts=child
        )
        rule = aws.cloudwatch.EventRule(
            f"{name}-failed-syncs",
            description="ECR pull-through cache actions of this stack's prefixes that did not succeed.",
            event_pattern=render(failure_event_pattern(args.prefixes)),
            opts=child,
        )
        alarm_arns = self._alarms(name, args.rewarm, topic) if args.rewarm else []
        self._target(name, rule, topic, depends_on=self._policies(name, args, key, topic, rule, alarm_arns))
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

    def _policies(
        self,
        name: str,
        args: CacheAlertsArgs,
        key: aws.kms.Key | None,
        topic: aws.sns.Topic,
        rule: aws.cloudwatch.EventRule,
        alarm_arns: Sequence[pulumi.Output[str]],
    ) -> list[pulumi.Resource]:
        """The topic's policy and the stack key's, each naming the rule and the alarms that publish."""
        child = pulumi.ResourceOptions(parent=self)
        policies: list[pulumi.Resource] = [
            aws.sns.TopicPolicy(
                f"{name}-topic",
                arn=topic.arn,
                policy=pulumi.Output.all(topic.arn, rule.arn, *alarm_arns).apply(
                    lambda arns: render(
                        topic_policy(
                            topic_arn=arns[0],
                            rule_arn=arns[1],
                            account_id=args.account_id,
                            alarm_arns=arns[2:],
                        )
                    )
                ),
                opts=child,
            )
        ]
        if key is not None:
            policies.append(
                aws.kms.KeyPolicy(
                    f"{name}-key",
                    key_id=key.key_id,
                    policy=pulumi.Output.all(topic.arn, *alarm_arns).apply(
                        lambda arns: render(
                            topic_key_policy(
                                partition=args.partition,
                                account_id=args.account_id,
                                topic_arn=arns[0],
                                alarm_arns=arns[1:],
                            )
                        )
                    ),
                    opts=child,
                )
            )
        return policies

    def _target(
        self,
        name: str,
        rule: aws.cloudwatch.EventRule,
        topic: aws.sns.Topic,
        depends_on: list[pulumi.Resource],
    ) -> None:
        """The rule's delivery to the topic, retried for a day; what still fails is kept in a queue."""
        undelivered = aws.sqs.Queue(
            f"{name}-undelivered",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=UNDELIVERED_RETENTION_SECONDS,
            opts=pulumi.ResourceOptions(parent=self),
        )
        queue_policy = aws.sqs.QueuePolicy(
            f"{name}-undelivered",
            queue_url=undelivered.url,
            policy=pulumi.Output.all(undelivered.arn, rule.arn).apply(
                lambda arns: render(undelivered_alerts_queue_policy(queue_arn=arns[0], rule_arn=arns[1]))
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.cloudwatch.EventTarget(
            f"{name}-failed-syncs",
            rule=rule.name,
            arn=topic.arn,
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_event_age_in_seconds=TARGET_MAX_EVENT_AGE_SECONDS,
                maximum_retry_attempts=TARGET_MAX_RETRY_ATTEMPTS,
            ),
            dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=undelivered.arn),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*depends_on, queue_policy]),
        )

    def _alarms(
        self, name: str, rewarm: RewarmAlarmTargets, topic: aws.sns.Topic
    ) -> list[pulumi.Output[str]]:
        """One alarm on the re-warming dead-letter queue, one on the function's errors; their ARNs."""
        watched = {REWARM_DEAD_LETTERS: rewarm.dead_letter_queue_name, REWARM_ERRORS: rewarm.function_name}
        return [self._alarm(name, spec, resource, topic).arn for spec, resource in watched.items()]

    def _alarm(
        self, name: str, spec: AlarmSpec, resource: pulumi.Input[str], topic: aws.sns.Topic
    ) -> aws.cloudwatch.MetricAlarm:
        return aws.cloudwatch.MetricAlarm(
            f"{name}-{spec.key}",
            alarm_description=spec.description,
            namespace=spec.namespace,
            metric_name=spec.metric_name,
            dimensions={spec.dimension: resource},
            statistic=spec.statistic,
            period=spec.period_seconds,
            evaluation_periods=spec.evaluation_periods,
            datapoints_to_alarm=spec.evaluation_periods,
            threshold=spec.threshold,
            comparison_operator=spec.comparison_operator,
            treat_missing_data=spec.treat_missing_data,
            alarm_actions=[topic.arn],
            opts=pulumi.ResourceOptions(parent=self),
        )
