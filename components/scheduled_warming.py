"""Scheduled re-warming: a Lambda function that pulls the catalogue through the cache on a schedule.

A tag nobody pulls is never refreshed, and an image nobody pulls may be archived; pulling the
catalogue regularly keeps mutable tags fresh, keeps the images pulled, and turns an upstream
deletion into a failed invocation (dead-letter queue, Lambda's `Errors` metric) and a failed
sync event for the alerts. EventBridge Scheduler runs one schedule per shard of the catalogue,
each within Lambda's time limit (`scheduled_warming_policies.shard_catalogue`).

Failures: Scheduler's dead-letter queue gets invocations it could not deliver
(https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html). Scheduler
invokes Lambda asynchronously, so a function that ran and failed is reported by Lambda's own
on-failure destination, the same queue
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.config.source import PROJECT_ROOT
from components.model.images import DEFAULT_TAG
from components.resources.warming import WarmSpec
from components.scheduled_warming_package import (
    ARCHITECTURE,
    HANDLER,
    LAMBDA_RUNTIME,
    archive_files,
    install_dependencies,
)
from components.scheduled_warming_policies import (
    LAMBDA_MAX_TIMEOUT_SECONDS,
    function_policy,
    function_trust_policy,
    policy_excess,
    scheduler_policy,
    scheduler_trust_policy,
    shard_catalogue,
)
from components.warm.lambda_handler import CATALOGUE_FILE, PackagedCatalogue, PackagedImage, render_catalogue

COMPONENT_TYPE = "ecr-pull-through-cache:index:ScheduledWarming"
PLACEHOLDER_FILE = "PLACEHOLDER"
PLACEHOLDER_TEXT = "The offline plan does not fetch wheels; `pulumi up` packages the real code here.\n"
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


def scheduled_images(
    specs: Sequence[WarmSpec], sizes: Mapping[str, int] | None = None
) -> list[PackagedImage]:
    """The catalogue as the function warms it; `sizes` maps a catalogue reference to its bytes, when known."""
    sizes = sizes or {}
    return [
        PackagedImage(
            source=str(spec.entry.ref),
            registry_url=spec.registry_url,
            repository=spec.path,
            tag=spec.entry.ref.tag or DEFAULT_TAG,
            platforms=tuple(spec.entry.platforms) if spec.entry.platforms else None,
            size_bytes=sizes.get(str(spec.entry.ref)),
        )
        for spec in specs
    ]


@dataclass(frozen=True)
class ScheduledWarmingArgs:
    """Plain values: when to run, what to warm, where, and how the function is sized.

    `memory_mb`: the warm is network-bound, but Lambda gives CPU in proportion to memory and the
    warm hashes every byte it receives; 1,024 MB is about 0.6 vCPU
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
    `placeholder_code`: the offline plan and the mock tests package a placeholder instead of
    fetching wheels from PyPI.
    """

    schedule: str
    images: Sequence[PackagedImage]
    prefixes: Sequence[str]
    partition: str
    region: str
    account_id: str
    tags_new_repositories: bool = False
    timezone: str = "UTC"
    memory_mb: int = 1024
    log_retention_days: int = 30
    flexible_window_minutes: int = 15
    placeholder_code: bool = False
    project_root: Path = PROJECT_ROOT
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
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


def code_archive(args: ScheduledWarmingArgs, catalogue: PackagedCatalogue) -> pulumi.Archive:
    """The function's code: the handler's modules, the wheels and the catalogue, or a placeholder offline."""
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {
        CATALOGUE_FILE: pulumi.StringAsset(render_catalogue(catalogue))
    }
    if args.placeholder_code:
        assets[PLACEHOLDER_FILE] = pulumi.StringAsset(PLACEHOLDER_TEXT)
    else:
        files = archive_files(args.project_root, install_dependencies())
        assets |= {path: pulumi.FileAsset(str(source)) for path, source in files.items()}
    return pulumi.AssetArchive(assets)


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
    dead_letter_queue_url: pulumi.Output[str]
    log_group_name: pulumi.Output[str]
    shards: int

    def __init__(
        self, name: str, args: ScheduledWarmingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        catalogue = shard_catalogue(args.images)
        self.shards = len(catalogue.shards)

        queue = aws.sqs.Queue(
            f"{name}-dead-letters",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
            tags=tags,
            opts=child,
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", retention_in_days=args.log_retention_days, tags=tags, opts=child
        )
        function_role = aws.iam.Role(
            f"{name}-function",
            description="The scheduled re-warming function: pulls this stack's catalogue through its cache.",
            assume_role_policy=_render(function_trust_policy()),
            tags=tags,
            opts=child,
        )
        function_permissions = aws.iam.RolePolicy(
            f"{name}-function",
            role=function_role.id,
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
                        )
                    ),
                    "function's policy",
                )
            ),
            opts=child,
        )
        after_permissions = pulumi.ResourceOptions(parent=self, depends_on=[function_permissions])
        function = aws.lambda_.Function(
            f"{name}-function",
            description="Pulls this stack's image catalogue through the ECR pull-through cache (one shard per call).",
            runtime=LAMBDA_RUNTIME,
            architectures=[ARCHITECTURE],
            handler=HANDLER,
            code=code_archive(args, catalogue),
            role=function_role.arn,
            memory_size=args.memory_mb,
            timeout=LAMBDA_MAX_TIMEOUT_SECONDS,
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=log_group.name),
            tags=tags,
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
        scheduler_role = aws.iam.Role(
            f"{name}-scheduler",
            description="EventBridge Scheduler invokes the scheduled re-warming function with this role.",
            assume_role_policy=_render(scheduler_trust_policy(account_id=args.account_id)),
            tags=tags,
            opts=child,
        )
        scheduler_permissions = aws.iam.RolePolicy(
            f"{name}-scheduler",
            role=scheduler_role.id,
            policy=pulumi.Output.all(function.arn, queue.arn).apply(
                lambda arns: _checked(
                    _render(scheduler_policy(function_arn=arns[0], dead_letter_queue_arn=arns[1])),
                    "scheduler's policy",
                )
            ),
            opts=child,
        )
        schedules = [
            aws.scheduler.Schedule(
                f"{name}-shard-{shard}",
                description=f"Re-warms shard {shard} of {self.shards} of the image catalogue.",
                schedule_expression=args.schedule,
                schedule_expression_timezone=args.timezone,
                # Shards start at different moments in the window, instead of all pulling at once.
                flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(
                    mode="FLEXIBLE", maximum_window_in_minutes=args.flexible_window_minutes
                ),
                target=aws.scheduler.ScheduleTargetArgs(
                    arn=function.arn,
                    role_arn=scheduler_role.arn,
                    input=_render({"shard": shard, "of": self.shards}),
                    retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                        maximum_retry_attempts=SCHEDULER_RETRY_ATTEMPTS,
                        maximum_event_age_in_seconds=SCHEDULER_MAX_EVENT_AGE_SECONDS,
                    ),
                    dead_letter_config=aws.scheduler.ScheduleTargetDeadLetterConfigArgs(arn=queue.arn),
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[scheduler_permissions]),
            )
            for shard in range(self.shards)
        ]

        self.function_arn = function.arn
        self.dead_letter_queue_url = queue.url
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
