"""Alerts that reach someone: alarms on the re-warming function, the policies that let them publish,
and a retry policy and dead-letter queue on the alert rule's target."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from botocore.loaders import Loader
from botocore.model import ServiceModel
from botocore.validate import validate_parameters

from components.policies.alerts import (
    REWARM_ALARMS,
    topic_key_policy,
    topic_policy,
    undelivered_alerts_queue_policy,
)
from tests.conftest import RunProgram

ACCOUNT = "123456789012"
RULE_ARN = "arn:aws:events:eu-west-1:123456789012:rule/alerts-failed-syncs"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:alerts-topic"
ALARMS = (
    "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:alerts-rewarm-dead-letters",
    "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:alerts-rewarm-errors",
)
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
KEY = "aws:kms/key:Key"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
BASE: dict[str, Any] = {"upstreams": {"quay.io": {}}, "endpoints": {"enabled": False}}
IMAGES = "- quay.io/a/b:1\n"


def _matches(operator: str, actual: str | None, wanted: str | Sequence[str]) -> bool:
    """IAM's condition operators this project uses, on one key (a missing key matches no value)."""
    values = [wanted] if isinstance(wanted, str) else list(wanted)
    if operator in ("ArnEquals", "StringEquals"):
        return actual in values
    if operator in ("ArnNotEquals", "StringNotEquals"):
        return actual not in values
    raise AssertionError(f"the test does not evaluate {operator}")


def _applies(statement: Mapping[str, Any], service: str, context: Mapping[str, str]) -> bool:
    principal = statement["Principal"]
    if principal != "*" and principal != {"Service": service}:
        return False
    return all(
        _matches(operator, context.get(key), wanted)
        for operator, pairs in statement.get("Condition", {}).items()
        for key, wanted in pairs.items()
    )


def may_publish(policy: Mapping[str, Any], service: str, context: Mapping[str, str]) -> bool:
    """Whether the policy lets a service principal's request through: an Allow applies, no Deny does."""
    statements = policy["Statement"]
    if any(s["Effect"] == "Deny" and _applies(s, service, context) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _applies(s, service, context) for s in statements)


def test_the_topic_lets_the_rule_and_this_stacks_alarms_publish_and_nobody_else() -> None:
    policy = topic_policy(topic_arn=TOPIC_ARN, rule_arn=RULE_ARN, account_id=ACCOUNT, alarm_arns=ALARMS)
    alarm = {"aws:SourceArn": ALARMS[1], "aws:SourceAccount": ACCOUNT}
    assert may_publish(policy, "cloudwatch.amazonaws.com", alarm)
    assert may_publish(
        policy, "events.amazonaws.com", {"aws:SourceArn": RULE_ARN, "aws:SourceAccount": ACCOUNT}
    )
    other_alarm = {
        "aws:SourceArn": ALARMS[0].replace("dead-letters", "someone-else"),
        "aws:SourceAccount": ACCOUNT,
    }
    assert not may_publish(policy, "cloudwatch.amazonaws.com", other_alarm)
    assert not may_publish(policy, "events.amazonaws.com", {"aws:SourceArn": RULE_ARN + "-2"})
    assert not may_publish(policy, "sns.amazonaws.com", {})


def test_the_old_blanket_deny_would_have_blocked_the_alarms() -> None:
    """The contradiction: a Deny on every source but the rule drops CloudWatch's publishes silently."""
    without_alarms = topic_policy(topic_arn=TOPIC_ARN, rule_arn=RULE_ARN, account_id=ACCOUNT)
    alarm = {"aws:SourceArn": ALARMS[0], "aws:SourceAccount": ACCOUNT}
    assert not may_publish(without_alarms, "cloudwatch.amazonaws.com", alarm)
    assert not any("cloudwatch" in json.dumps(s) for s in without_alarms["Statement"])


def test_the_key_serves_this_topic_only_and_this_stacks_alarms() -> None:
    policy = topic_key_policy(partition="aws", account_id=ACCOUNT, topic_arn=TOPIC_ARN, alarm_arns=ALARMS)
    statements = {s["Sid"]: s for s in policy["Statement"]}
    events = statements["EventBridgePublishesToTheTopic"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert events["Condition"] == {"StringEquals": {"kms:EncryptionContext:aws:sns:topicArn": TOPIC_ARN}}
    alarms = statements["AlarmsPublishToTheTopic"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Condition"] == {
        "ArnEquals": {"aws:SourceArn": list(ALARMS)},
        "StringEquals": {"aws:SourceAccount": ACCOUNT, "kms:EncryptionContext:aws:sns:topicArn": TOPIC_ARN},
    }
    for statement in (events, alarms):
        assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    encrypt = {"kms:EncryptionContext:aws:sns:topicArn": TOPIC_ARN}
    assert may_publish(policy, "events.amazonaws.com", encrypt)
    assert not may_publish(policy, "events.amazonaws.com", {"kms:EncryptionContext:aws:sns:topicArn": "x"})
    assert "AlarmsPublishToTheTopic" not in {
        s["Sid"]
        for s in topic_key_policy(partition="aws", account_id=ACCOUNT, topic_arn=TOPIC_ARN)["Statement"]
    }


def test_undelivered_alerts_queue_takes_messages_from_the_rule_only() -> None:
    queue = "arn:aws:sqs:eu-west-1:123456789012:alerts-undelivered"
    policy = undelivered_alerts_queue_policy(queue_arn=queue, rule_arn=RULE_ARN)
    (statement,) = policy["Statement"]
    assert (statement["Action"], statement["Resource"]) == ("sqs:SendMessage", queue)
    assert may_publish(policy, "events.amazonaws.com", {"aws:SourceArn": RULE_ARN})
    assert not may_publish(policy, "events.amazonaws.com", {"aws:SourceArn": RULE_ARN + "-other"})


def _by_name(run: Any, type_: str) -> dict[str, dict[str, Any]]:
    return dict(run.of_type(type_))


def test_with_alerts_and_a_schedule_two_alarms_publish_to_the_topic(run_program: RunProgram) -> None:
    run = run_program({**BASE, "alerts": {}, "warm": {"schedule": "rate(1 day)"}}, images=IMAGES)
    alarms = _by_name(run, ALARM)
    assert set(alarms) == {"alerts-rewarm-dead-letters", "alerts-rewarm-errors"}
    topic_arn = run.plan.outputs["alerts_topic_arn"]
    dead, errors = alarms["alerts-rewarm-dead-letters"], alarms["alerts-rewarm-errors"]
    assert (dead["namespace"], dead["metricName"], dead["statistic"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    queue_name = run.planned(QUEUE, "warm-schedule-dead-letters")
    assert dead["dimensions"] == {"QueueName": "warm-schedule-dead-letters"}, queue_name
    assert (errors["namespace"], errors["metricName"], errors["statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert errors["dimensions"] == {"FunctionName": "warm-schedule-function"}
    for alarm in alarms.values():
        assert alarm["alarmActions"] == [topic_arn]
        assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)
        assert alarm["treatMissingData"] == "notBreaching" and alarm["tags"] == {}
    topic_policy_doc = json.loads(run.inputs(TOPIC_POLICY, "alerts-topic")["policy"])
    alarm_arns = sorted(f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:{name}" for name in alarms)
    assert may_publish(
        topic_policy_doc,
        "cloudwatch.amazonaws.com",
        {"aws:SourceArn": alarm_arns[0], "aws:SourceAccount": ACCOUNT},
    )
    (key_policy,) = _by_name(run, KEY_POLICY).values()
    key_doc = json.loads(key_policy["policy"])
    cloudwatch = next(
        s for s in key_doc["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    )
    assert cloudwatch["Condition"]["ArnEquals"]["aws:SourceArn"] == alarm_arns


@pytest.mark.parametrize(
    "values",
    [
        {**BASE, "alerts": {}},
        {**BASE, "warm": {"schedule": "rate(1 day)"}},
        {**BASE, "alerts": {"enabled": False}, "warm": {"schedule": "rate(1 day)"}},
    ],
)
def test_no_alarms_unless_both_alerts_and_a_schedule(run_program: RunProgram, values: dict[str, Any]) -> None:
    run = run_program(values, images=IMAGES)
    assert run.of_type(ALARM) == []
    for _, policy in run.of_type(TOPIC_POLICY) + run.of_type(KEY_POLICY):
        assert "cloudwatch.amazonaws.com" not in policy["policy"]


def test_the_alert_rule_target_retries_and_keeps_what_it_could_not_deliver(run_program: RunProgram) -> None:
    run = run_program({**BASE, "alerts": {}}, images=IMAGES)
    ((_, target),) = run.of_type(TARGET)
    assert target["retryPolicy"] == {"maximumEventAgeInSeconds": 86400, "maximumRetryAttempts": 185}
    queue = run.inputs(QUEUE, "alerts-undelivered")
    assert queue["sqsManagedSseEnabled"] is True and queue["messageRetentionSeconds"] == 1_209_600
    assert target["deadLetterConfig"] == {"arn": f"arn:aws:sqs:eu-west-1:{ACCOUNT}:alerts-undelivered"}
    policy = json.loads(run.inputs(QUEUE_POLICY, "alerts-undelivered")["policy"])
    assert may_publish(
        policy,
        "events.amazonaws.com",
        {"aws:SourceArn": f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alerts-failed-syncs"},
    )
    (key,) = _by_name(run, KEY).values()
    assert "policy" not in key, (
        "the key's policy is its own resource: it names the topic, which names the key"
    )


def test_alarms_and_targets_fit_the_apis_shapes(run_program: RunProgram) -> None:
    """Each new resource's inputs, as the API call the provider makes, pass botocore's validation."""
    run = run_program({**BASE, "alerts": {}, "warm": {"schedule": "rate(1 day)"}}, images=IMAGES)
    cloudwatch = ServiceModel(Loader().load_service_model("cloudwatch", "service-2"))
    events = ServiceModel(Loader().load_service_model("events", "service-2"))
    for name, alarm in run.of_type(ALARM):
        params = {
            "AlarmName": f"{name}-1234567",
            "AlarmDescription": alarm["alarmDescription"],
            "AlarmActions": alarm["alarmActions"],
            "MetricName": alarm["metricName"],
            "Namespace": alarm["namespace"],
            "Statistic": alarm["statistic"],
            "Dimensions": [{"Name": k, "Value": v} for k, v in alarm["dimensions"].items()],
            # Pulumi's wire format carries every number as a float.
            "Period": int(alarm["period"]),
            "EvaluationPeriods": int(alarm["evaluationPeriods"]),
            "DatapointsToAlarm": int(alarm["datapointsToAlarm"]),
            "Threshold": float(alarm["threshold"]),
            "ComparisonOperator": alarm["comparisonOperator"],
            "TreatMissingData": alarm["treatMissingData"],
        }
        validate_parameters(params, cloudwatch.operation_model("PutMetricAlarm").input_shape)
        assert alarm["treatMissingData"] in {"breaching", "notBreaching", "ignore", "missing"}
        assert alarm["period"] % 60 == 0 and 1 <= len(alarm["alarmDescription"]) <= 1024
    ((_, target),) = run.of_type(TARGET)
    retry = target["retryPolicy"]
    validate_parameters(
        {
            "Rule": "alerts-failed-syncs",
            "Targets": [
                {
                    "Id": "topic",
                    "Arn": target["arn"],
                    "RetryPolicy": {
                        "MaximumRetryAttempts": int(retry["maximumRetryAttempts"]),
                        "MaximumEventAgeInSeconds": int(retry["maximumEventAgeInSeconds"]),
                    },
                    "DeadLetterConfig": {"Arn": target["deadLetterConfig"]["arn"]},
                }
            ],
        },
        events.operation_model("PutTargets").input_shape,
    )
    # botocore's model bounds these; its validator checks only the minimums, so the maximums here.
    shapes = events.shape_for("RetryPolicy").members
    assert retry["maximumRetryAttempts"] <= shapes["MaximumRetryAttempts"].metadata["max"]
    assert retry["maximumEventAgeInSeconds"] <= shapes["MaximumEventAgeInSeconds"].metadata["max"]


def test_the_alarm_specs_are_the_documented_metrics() -> None:
    assert {(a.namespace, a.metric_name, a.dimension) for a in REWARM_ALARMS} == {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName"),
        ("AWS/Lambda", "Errors", "FunctionName"),
    }
