"""Cache-failure alerts: the event pattern through moto's EventBridge, the policies, the plan, the settings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from components.errors import InputError
from components.policies.alerts import failure_event_pattern, render, topic_key_policy, topic_policy
from tests.config.test_settings import error_for, settings_for
from tests.conftest import RunProgram

REGION = "us-west-2"
RULE_ARN = "arn:aws:events:us-west-2:123456789012:rule/alerts-failed-syncs"
TOPIC_ARN = "arn:aws:sns:us-west-2:123456789012:alerts-topic"

# AWS's sample "Event for a pull through cache action", as printed on
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html
# (the page's trailing comma after image-digest removed, so it parses as JSON).
DOCUMENTED_SAMPLE: dict[str, Any] = {
    "version": "0",
    "id": "85fc3613-e913-7fc4-a80c-a3753e4aa9ae",
    "detail-type": "ECR Pull Through Cache Action",
    "source": "aws.ecr",
    "account": "123456789012",
    "time": "2023-02-29T02:36:48Z",
    "region": "us-west-2",
    "resources": ["arn:aws:ecr:us-west-2:123456789012:repository/docker-hub/alpine"],
    "detail": {
        "rule-version": "1",
        "sync-status": "SUCCESS",
        "ecr-repository-prefix": "docker-hub",
        "repository-name": "docker-hub/alpine",
        "upstream-registry-url": "public.ecr.aws",
        "image-tag": "3.17.2",
        "image-digest": "sha256:4aa08ef415aecc80814cb42fa41b658480779d80c77ab15EXAMPLE",
    },
}


def failure(prefix: str = "docker-hub", status: str = "FAILED") -> dict[str, Any]:
    """A failed sync built from the documented fields; ECR documents no value but SUCCESS, so any other."""
    detail = {
        **DOCUMENTED_SAMPLE["detail"],
        "sync-status": status,
        "ecr-repository-prefix": prefix,
        "repository-name": f"{prefix}/alpine",
        "failure-code": "UPSTREAM_IMAGE_NOT_FOUND",
        "failure-reason": "The image was not found in the upstream registry.",
    }
    return {**DOCUMENTED_SAMPLE, "detail": detail}


class EventBus:
    """moto's default event bus with one rule on the pattern, delivering to an SQS queue.

    moto 5.2.5 answers TestEventPattern with NotImplementedError, so each event goes
    through PutEvents and the test reads whether the rule delivered it.
    """

    def __init__(self, pattern: dict[str, Any]) -> None:
        self.events = boto3.client("events", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.queue = self.sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])
        self.events.put_rule(Name="alerts", EventPattern=render(pattern))
        self.events.put_targets(
            Rule="alerts", Targets=[{"Id": "topic", "Arn": queue_arn["Attributes"]["QueueArn"]}]
        )

    def matches(self, event: dict[str, Any]) -> bool:
        answer = self.events.put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event["resources"],
                }
            ]
        )
        assert answer["FailedEntryCount"] == 0
        delivered = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10)
        return bool(delivered.get("Messages"))


@pytest.fixture
def bus() -> Iterator[type[EventBus]]:
    with mock_aws():
        yield EventBus


def test_documented_success_sample_does_not_alert(bus: type[EventBus]) -> None:
    assert not bus(failure_event_pattern(["docker-hub", "quay"])).matches(DOCUMENTED_SAMPLE)


@pytest.mark.parametrize("status", ["FAILED", "FAILURE", "IN_PROGRESS_ERROR"])
def test_a_failed_sync_of_a_stack_prefix_alerts(bus: type[EventBus], status: str) -> None:
    assert bus(failure_event_pattern(["docker-hub", "quay"])).matches(failure(status=status))


def test_another_stacks_prefix_does_not_alert(bus: type[EventBus]) -> None:
    assert not bus(failure_event_pattern(["docker-hub", "quay"])).matches(failure(prefix="ghcr"))


def test_another_detail_type_does_not_alert(bus: type[EventBus]) -> None:
    image_push = {**failure(), "detail-type": "ECR Image Action"}
    assert not bus(failure_event_pattern(["docker-hub"])).matches(image_push)


def test_a_root_rule_alerts_on_every_prefix(bus: type[EventBus]) -> None:
    pattern = failure_event_pattern(["ROOT", "quay"])
    assert "ecr-repository-prefix" not in pattern["detail"]
    events = bus(pattern)
    assert events.matches(failure(prefix="ROOT")) and events.matches(failure(prefix="anything"))
    assert not events.matches(DOCUMENTED_SAMPLE)


def test_topic_policy_lets_only_the_rule_publish() -> None:
    policy = topic_policy(topic_arn=TOPIC_ARN, rule_arn=RULE_ARN, account_id="123456789012")
    statements = {s["Sid"]: s for s in policy["Statement"]}
    allow, deny = statements["AlertRulePublishes"], statements["NobodyElsePublishes"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": RULE_ARN}}
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "sns:Publish")
    assert deny["Condition"] == {"ArnNotEquals": {"aws:SourceArn": [RULE_ARN]}}
    assert {allow["Resource"], deny["Resource"]} == {TOPIC_ARN}


def test_key_policy_lets_eventbridge_encrypt_and_keeps_the_account_in_control() -> None:
    statements = topic_key_policy(partition="aws", account_id="123456789012", topic_arn=TOPIC_ARN)[
        "Statement"
    ]
    service = next(s for s in statements if s["Principal"] == {"Service": "events.amazonaws.com"})
    assert sorted(service["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert any(s["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"} for s in statements)


KEY = "aws:kms/key:Key"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
BASE: dict[str, Any] = {"upstreams": {"quay.io": {}, "registry.k8s.io": {}}, "endpoints": {"enabled": False}}


def test_plan_with_alerts_has_rule_topic_key_and_subscriptions(run_program: RunProgram) -> None:
    emails = ["oncall@example.com", "platform@example.com"]
    run = run_program({**BASE, "alerts": {"emails": emails}})
    ((_, rule),) = run.of_type(EVENT_RULE)
    assert json.loads(rule["eventPattern"]) == failure_event_pattern(["k8s", "quay"])
    ((_, topic),) = run.of_type(TOPIC)
    ((_, key),) = run.of_type(KEY)
    assert topic["kmsMasterKeyId"].startswith("arn:") and "alias/aws/sns" not in topic["kmsMasterKeyId"]
    assert key["enableKeyRotation"] is True
    ((_, key_policy),) = run.of_type("aws:kms/keyPolicy:KeyPolicy")
    assert json.loads(key_policy["policy"]) == topic_key_policy(
        partition="aws", account_id="123456789012", topic_arn=run.plan.outputs["alerts_topic_arn"]
    )
    ((_, policy),) = run.of_type(TOPIC_POLICY)
    document = json.loads(policy["policy"])
    assert document["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"].endswith("alerts-failed-syncs")
    ((_, target),) = run.of_type(EVENT_TARGET)
    assert target["arn"] == policy["arn"]
    assert sorted(s["endpoint"] for _, s in run.of_type(SUBSCRIPTION)) == emails
    assert {s["protocol"] for _, s in run.of_type(SUBSCRIPTION)} == {"email"}
    assert run.plan.outputs["alerts_topic_arn"] == policy["arn"]


def test_plan_with_a_given_key_creates_no_key(run_program: RunProgram) -> None:
    key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    run = run_program({**BASE, "alerts": {"kmsKeyArn": key_arn}})
    assert run.of_type(KEY) == [] and run.of_type(SUBSCRIPTION) == []
    ((_, topic),) = run.of_type(TOPIC)
    assert topic["kmsMasterKeyId"] == key_arn


@pytest.mark.parametrize("alerts", [None, {"enabled": False, "emails": ["a@example.com"]}])
def test_plan_without_alerts_registers_nothing_new(run_program: RunProgram, alerts: Any) -> None:
    without = run_program(BASE)
    values = BASE if alerts is None else {**BASE, "alerts": alerts}
    run = run_program(values)
    assert sorted(run.raw_inputs) == sorted(without.raw_inputs)
    alert_types = {
        KEY,
        TOPIC,
        TOPIC_POLICY,
        EVENT_RULE,
        EVENT_TARGET,
        SUBSCRIPTION,
        "aws:kms/keyPolicy:KeyPolicy",
    }
    assert not {type_ for type_, _ in run.raw_inputs} & alert_types
    assert run.plan.outputs["alerts_topic_arn"] is None


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        ({"emails": ["not-an-address"]}, "alerts.emails.0: 'not-an-address' is not an email address"),
        ({"kmsKeyArn": "alias/aws/sns"}, "EventBridge cannot use the AWS-managed SNS key"),
        (
            {"kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab"},
            "the key is in us-east-1, but must be in eu-west-1",
        ),
        ({"email": ["a@example.com"]}, "alerts.email: unknown config key"),
    ],
)
def test_bad_alert_settings_are_refused(tmp_path: Path, alerts: dict[str, Any], expected: str) -> None:
    values = {"upstreams": {"quay.io": {}}, "alerts": alerts}
    assert expected in error_for(values, tmp_path)


def test_rotation_is_only_for_credentialed_upstreams(tmp_path: Path) -> None:
    message = error_for({"upstreams": {"quay.io": {"rotateAfterDays": 30}}}, tmp_path)
    assert "upstreams.quay.io.rotateAfterDays: only an upstream with a Secrets Manager credential" in message
    with pytest.raises(InputError, match="greater than or equal to 1"):
        settings_for({"upstreams": {"quay.io": {"rotateAfterDays": 0}}}, tmp_path)


def test_the_pattern_for_fifty_longest_prefixes_fits_eventbridge() -> None:
    """50 rules per registry, 30 characters each; botocore's PutRule caps EventPattern at 4,096."""
    prefixes = [f"p{index:02d}-{'x' * 26}" for index in range(50)]
    assert all(len(prefix) == 30 for prefix in prefixes)
    assert len(render(failure_event_pattern(prefixes))) <= 4096
