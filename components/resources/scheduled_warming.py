"""Scheduled re-warming: a Lambda function that pulls the catalogue through the cache on a schedule.

A tag nobody pulls is never refreshed, and an image nobody pulls may be archived; pulling the
catalogue regularly keeps mutable tags fresh, keeps the images pulled, and turns an upstream
deletion into a failed invocation (dead-letter queue, Lambda's `Errors` metric) and a failed
sync event for the alerts. EventBridge Scheduler runs one schedule per shard of the catalogue,
each within Lambda's time limit (`policies/scheduled_warming.py`, `shard_catalogue`). The code,
with the catalogue already split into those shards, arrives built (`program/lambda_package.py`).

Failures: Scheduler's dead-letter queue gets invocations it could not deliver
(https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html). Scheduler
invokes Lambda asynchronously, so a function that ran and failed is reported by Lambda's own
on-failure destination, the same queue
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.policies.scheduled_warming import (
    LAMBDA_MAX_TIMEOUT_SECONDS,
    function_policy,
    function_trust_policy,
    policy_excess,
    scheduler_policy,
    scheduler_trust_policy,
)

COMPONENT_TYPE = "ecr-pull-through-cache:index:ScheduledWarming"
# CloudWatch Logs' allowed retention periods (PutRetentionPolicy):
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)
# SQS keeps a message at most 14 days (botocore SQS `MessageRetentionPeriod`, 60 to 1,209,600 s).
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600
# Scheduler: retry a throttled or failed delivery for up to an hour (MaximumEventAgeInSeconds 60..86400).
SCHEDULER_RETRY_ATTEMPTS = 3
SCHEDULER_MAX_EVENT_AGE_SECONDS = 3600
# Lambda (asynchronous): a shard that ran and failed is not run again at once; its images already
# had their retries, and the next scheduled run is the retry (MaximumRetryAttempts 0..2).
FUNCTION_RETRY_ATTEMPTS = 0
FUNCTION_MAX_EVENT_AGE_SECONDS = 3600


@dataclass(frozen=True)
class FunctionCode:
    """The function's code as the program packaged it, with the runtime it was packaged for."""

    archive: pulumi.Archive
    handler: str
    runtime: str
    architecture: str


@dataclass(frozen=True)
class ScheduledWarmingArgs:
    """Plain values: when to run, how many shards the code holds, where, and how the function is sized.

    `memory_mb`: the warm is network-bound, but Lambda gives CPU in proportion to memory and the
    warm hashes every byte it receives; 1,024 MB is about 0.6 vCPU
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
    """

    schedule: str
    shards: int
    code: FunctionCode
    prefixes: Sequence[str]
    partition: str
    region: str
    account_id: str
    tags_new_repositories: bool = False
    copy_prefixes: Sequence[str] = ()  # the function copies under these (push actions there only)
    copy_secrets: Sequence[str] = ()  # the copied upstreams' login secrets, by name or ARN
    timezone: str = "UTC"
    memory_mb: int = 1024
    log_retention_days: int = 30
    flexible_window_minutes: int = 15

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ValueError(f"{self.shards} shards: the catalogue is at least one shard, even empty")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(
                f"log retention of {self.log_retention_days} days: CloudWatch Logs allows {sorted(LOG_RETENTION_DAYS)}"
            )
        if not 128 <= self.memory_mb <= 10_240:
            raise ValueError(f"memory of {self.memory_mb} MB: Lambda allows 128 to 10,240")
        if not 1 <= self.flexible_window_minutes <= 1440:
            raise ValueError(
                f"a flexible window of {self.flexible_window_minutes} minutes: Scheduler allows 1 to 1,440"
            )


def _checked(text: str, what: str) -> str:
    """An inline role policy that fits IAM's limit, or a clear error at `pulumi up` instead of a failed call."""
    excess = policy_excess(text)
    if excess is not None:
        raise ValueError(f"the scheduled re-warming {what}: {excess}")
    return text


def _render(document: Mapping[str, object]) -> str:
    return json.dumps(document, sort_keys=True)


class ScheduledWarming(pulumi.ComponentResource):
    """The function, its role and log group, the dead-letter queue, and one schedule per shard."""

    function_arn: pulumi.Output[str]
    function_name: pulumi.Output[str]
    dead_letter_queue_url: pulumi.Output[str]
    dead_letter_queue_name: pulumi.Output[str]
    log_group_name: pulumi.Output[str]
    schedule_arns: pulumi.Output[list[str]]
    shards: int

    def __init__(
        self, name: str, args: ScheduledWarmingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.shards = args.shards
        queue = aws.sqs.Queue(
            f"{name}-dead-letters",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
            opts=pulumi.ResourceOptions(parent=self),
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            retention_in_days=args.log_retention_days,
            opts=pulumi.ResourceOptions(parent=self),
        )
        function = self._function(name, args, queue, log_group)
        schedules = self._schedules(name, args, function, queue)
        self.function_arn = function.arn
        self.function_name = function.name
        self.dead_letter_queue_url = queue.url
        self.dead_letter_queue_name = queue.name
        self.log_group_name = log_group.name
        self.schedule_arns = pulumi.Output.all(*(schedule.arn for schedule in schedules))
        self.register_outputs(
            {
                "function_arn": self.function_arn,
                "dead_letter_queue_url": self.dead_letter_queue_url,
                "log_group_name": self.log_group_name,
                "schedule_arns": self.schedule_arns,
            }
        )

    def _function(
        self, name: str, args: ScheduledWarmingArgs, queue: aws.sqs.Queue, log_group: aws.cloudwatch.LogGroup
    ) -> aws.lambda_.Function:
        """The function with its role, and where its failed asynchronous invocations go."""
        role = aws.iam.Role(
            f"{name}-function",
            description="The scheduled re-warming function: pulls this stack's catalogue through its cache.",
            assume_role_policy=_render(function_trust_policy()),
            opts=pulumi.ResourceOptions(parent=self),
        )
        permissions = aws.iam.RolePolicy(
            f"{name}-function",
            role=role.id,
            policy=pulumi.Output.all(log_group.arn, queue.arn).apply(
                lambda arns: _checked(
                    _render(
                        function_policy(
                            partition=args.partition,
                            region=args.region,
                            account_id=args.account_id,
                            prefixes=args.prefixes,
                            log_group_arn=arns[0],
                            dead_letter_queue_arn=arns[1],
                            tags_new_repositories=args.tags_new_repositories,
                            copy_prefixes=args.copy_prefixes,
                            copy_secrets=args.copy_secrets,
                        )
                    ),
                    "function's policy",
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        after_permissions = pulumi.ResourceOptions(parent=self, depends_on=[permissions])
        function = aws.lambda_.Function(
            f"{name}-function",
            description="Pulls this stack's image catalogue through the ECR pull-through cache (one shard per call).",
            runtime=args.code.runtime,
            architectures=[args.code.architecture],
            handler=args.code.handler,
            code=args.code.archive,
            role=role.arn,
            memory_size=args.memory_mb,
            timeout=LAMBDA_MAX_TIMEOUT_SECONDS,
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=log_group.name),
            opts=after_permissions,
        )
        aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-function",
            function_name=function.name,
            maximum_retry_attempts=FUNCTION_RETRY_ATTEMPTS,
            maximum_event_age_in_seconds=FUNCTION_MAX_EVENT_AGE_SECONDS,
            destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                    destination=queue.arn
                )
            ),
            opts=after_permissions,
        )
        return function

    def _schedules(
        self, name: str, args: ScheduledWarmingArgs, function: aws.lambda_.Function, queue: aws.sqs.Queue
    ) -> list[aws.scheduler.Schedule]:
        """The scheduler's role, and one schedule per shard, each sending its shard's number."""
        role = aws.iam.Role(
            f"{name}-scheduler",
            description="EventBridge Scheduler invokes the scheduled re-warming function with this role.",
            assume_role_policy=_render(scheduler_trust_policy(account_id=args.account_id)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        permissions = aws.iam.RolePolicy(
            f"{name}-scheduler",
            role=role.id,
            policy=pulumi.Output.all(function.arn, queue.arn).apply(
                lambda arns: _checked(
                    _render(scheduler_policy(function_arn=arns[0], dead_letter_queue_arn=arns[1])),
                    "scheduler's policy",
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return [
            aws.scheduler.Schedule(
                f"{name}-shard-{shard}",
                description=f"Re-warms shard {shard} of {args.shards} of the image catalogue.",
                schedule_expression=args.schedule,
                schedule_expression_timezone=args.timezone,
                # Shards start at different moments in the window, instead of all pulling at once.
                flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(
                    mode="FLEXIBLE", maximum_window_in_minutes=args.flexible_window_minutes
                ),
                target=aws.scheduler.ScheduleTargetArgs(
                    arn=function.arn,
                    role_arn=role.arn,
                    input=_render({"shard": shard, "of": args.shards}),
                    retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                        maximum_retry_attempts=SCHEDULER_RETRY_ATTEMPTS,
                        maximum_event_age_in_seconds=SCHEDULER_MAX_EVENT_AGE_SECONDS,
                    ),
                    dead_letter_config=aws.scheduler.ScheduleTargetDeadLetterConfigArgs(arn=queue.arn),
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[permissions]),
            )
            for shard in range(args.shards)
        ]
