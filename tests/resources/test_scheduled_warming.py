"""The ScheduledWarming component under Pulumi's mock runtime: what it registers from its Args."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pulumi
import pytest
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

from components.policies.scheduled_warming import (
    function_policy,
    function_trust_policy,
    scheduler_policy,
    scheduler_trust_policy,
)
from components.resources.scheduled_warming import FunctionCode, ScheduledWarming, ScheduledWarmingArgs

ACCOUNT = "123456789012"
REGION = "eu-west-1"

FUNCTION = "aws:lambda/function:Function"
INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
SCHEDULE = "aws:scheduler/schedule:Schedule"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
QUEUE = "aws:sqs/queue:Queue"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
NEW_TYPES = {FUNCTION, INVOKE_CONFIG, SCHEDULE, QUEUE, LOG_GROUP}


class Recording(Mocks):
    def __init__(self) -> None:
        self.registered: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.registered[(args.typ, args.name)] = dict(args.inputs)
        service = args.typ.split(":")[1].split("/")[0]
        physical = f"{args.name}-1234567"
        state = {**args.inputs, "name": physical, "arn": f"arn:aws:{service}:{REGION}:{ACCOUNT}:{physical}"}
        if args.typ == LOG_GROUP:
            state["arn"] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{physical}"
        if args.typ == FUNCTION:
            state["arn"] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{physical}"
        if args.typ == QUEUE:
            state["url"] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{physical}"
        return f"{physical}-id", state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, []


def build(args: ScheduledWarmingArgs) -> tuple[Recording, dict[str, Any]]:
    mocks = Recording()
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(mocks, project="ecr-pull-through-cache", stack="test", preview=False)
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> pulumi.Output[Any]:
        component = ScheduledWarming("warm-schedule", args)
        outputs["shards"] = component.shards
        return pulumi.Output.all(
            component.function_arn, component.dead_letter_queue_url, component.schedule_arns
        ).apply(
            lambda values: outputs.update(
                function_arn=values[0], queue_url=values[1], schedule_arns=values[2]
            )
        )

    program()
    return mocks, outputs


CODE = FunctionCode(
    archive=pulumi.AssetArchive({"handler.py": pulumi.StringAsset("def handler(event, context): ...\n")}),
    handler="handler.handler",
    runtime="python3.12",
    architecture="arm64",
)
ARGS = ScheduledWarmingArgs(
    schedule="rate(1 day)",
    shards=1,
    code=CODE,
    prefixes=["docker-hub", "quay"],
    partition="aws",
    region=REGION,
    account_id=ACCOUNT,
)


def of_type(mocks: Recording, type_: str) -> dict[str, dict[str, Any]]:
    return {name: inputs for (t, name), inputs in mocks.registered.items() if t == type_}


def test_the_component_registers_the_function_its_roles_queue_logs_and_a_schedule() -> None:
    mocks, outputs = build(ARGS)
    (function,) = of_type(mocks, FUNCTION).values()
    assert (function["runtime"], function["architectures"], function["handler"]) == (
        "python3.12",
        ["arm64"],
        "handler.handler",
    )
    assert (function["memorySize"], function["timeout"]) == (1024, 900)
    assert function["loggingConfig"]["logGroup"] == "warm-schedule-logs-1234567"
    assert set(function["code"].assets) == {"handler.py"}, "the code the program packaged, as it is"

    (queue,) = of_type(mocks, QUEUE).values()
    assert queue["sqsManagedSseEnabled"] is True and queue["messageRetentionSeconds"] == 1_209_600
    (logs,) = of_type(mocks, LOG_GROUP).values()
    assert logs["retentionInDays"] == 30
    assert not [inputs for inputs in mocks.registered.values() if "tags" in inputs], (
        "components take no tags: the stack's tag transform adds them"
    )

    roles = of_type(mocks, ROLE)
    assert json.loads(roles["warm-schedule-function"]["assumeRolePolicy"]) == function_trust_policy()
    assert json.loads(roles["warm-schedule-scheduler"]["assumeRolePolicy"]) == scheduler_trust_policy(
        account_id=ACCOUNT
    )
    policies = of_type(mocks, ROLE_POLICY)
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:warm-schedule-dead-letters-1234567"
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:warm-schedule-function-1234567"
    assert json.loads(policies["warm-schedule-function"]["policy"]) == function_policy(
        partition="aws",
        region=REGION,
        account_id=ACCOUNT,
        prefixes=["docker-hub", "quay"],
        log_group_arn=f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:warm-schedule-logs-1234567",
        dead_letter_queue_arn=queue_arn,
    )
    assert json.loads(policies["warm-schedule-scheduler"]["policy"]) == scheduler_policy(
        function_arn=function_arn, dead_letter_queue_arn=queue_arn
    )

    (invoke,) = of_type(mocks, INVOKE_CONFIG).values()
    assert invoke["maximumRetryAttempts"] == 0
    assert invoke["destinationConfig"]["onFailure"]["destination"] == queue_arn

    (schedule,) = of_type(mocks, SCHEDULE).values()
    assert schedule["scheduleExpression"] == "rate(1 day)" and schedule["scheduleExpressionTimezone"] == "UTC"
    assert schedule["flexibleTimeWindow"] == {"mode": "FLEXIBLE", "maximumWindowInMinutes": 15}
    target = schedule["target"]
    assert (target["arn"], json.loads(target["input"])) == (function_arn, {"shard": 0, "of": 1})
    assert target["roleArn"].endswith("warm-schedule-scheduler-1234567")
    assert target["deadLetterConfig"] == {"arn": queue_arn}
    assert target["retryPolicy"] == {"maximumRetryAttempts": 3, "maximumEventAgeInSeconds": 3600}
    assert outputs["function_arn"] == function_arn and outputs["queue_url"].endswith(
        "warm-schedule-dead-letters-1234567"
    )


def test_one_schedule_per_shard_each_naming_its_shard() -> None:
    mocks, outputs = build(replace(ARGS, shards=4, schedule="cron(0 3 * * ? *)"))
    schedules = of_type(mocks, SCHEDULE)
    assert outputs["shards"] == len(schedules) == 4 and len(outputs["schedule_arns"]) == 4
    events = sorted(json.loads(s["target"]["input"])["shard"] for s in schedules.values())
    assert events == [0, 1, 2, 3]
    assert {json.loads(s["target"]["input"])["of"] for s in schedules.values()} == {4}
    assert {s["scheduleExpression"] for s in schedules.values()} == {"cron(0 3 * * ? *)"}
    assert len(of_type(mocks, FUNCTION)) == 1, "one function serves every shard"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"log_retention_days": 31}, "CloudWatch Logs allows"),
        ({"memory_mb": 64}, "Lambda allows 128 to 10,240"),
        ({"flexible_window_minutes": 0}, "Scheduler allows 1 to 1,440"),
        ({"shards": 0}, "at least one shard"),
    ],
)
def test_values_aws_would_refuse_are_refused_before_registering(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(ARGS, **change)
