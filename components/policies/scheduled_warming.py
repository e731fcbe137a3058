"""Scheduled re-warming, the pure part: IAM documents, how the catalogue is sharded, what a run costs.

Tested as JSON and numbers, without Pulumi. Sharding and cost take any image with a `source` and
a `size_bytes` (the handler's `PackagedImage` in the program), so this module needs neither the warm
engine nor pydantic. What each grant is for:
- the function pulls through the cache as a node does: `ecr:GetAuthorizationToken` (it has no
  resource, so `*`), the pull actions, `ecr:BatchImportUpstreamImage`, and `ecr:CreateRepository`,
  which ECR needs "if the repository storing the cached images doesn't already exist"
  (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-iam.html): a
  repository someone deleted is created again by the next scheduled pull instead of failing it.
  `ecr:TagResource` is added when the creation templates tag new repositories (same page). All of
  it on `repository/<prefix>/*` of this stack's cache prefixes only, never a push action;
- it copies the copied upstreams' images into ECR: the push actions, the reads a copy checks
  first, and `ecr:CreateRepository`, on `repository/<prefix>/*` of the copy prefixes only
  (`pushes_only_under` refuses a push action anywhere else), and `secretsmanager:GetSecretValue`
  on those upstreams' login secrets only;
- it writes to its own log group, and sends failed asynchronous invocations to the dead-letter
  queue (a Lambda destination uses the function's role:
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html);
- EventBridge Scheduler assumes its own role, trusted only for this account
  (https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role),
  invokes this function only, and sends undeliverable invocations to the same queue
  (https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from components.errors import PolicyInputError
from components.model.arns import secret_resource
from components.policies.access import PULL_ACTIONS, PUSH_ACTIONS, pull_only, pull_through_cache_statements
from components.policies.iam import service_trust_policy
from components.policies.limits import IAM_ROLE_INLINE_POLICIES
from components.policies.templates import repository_arns

# Pushing a copy (the layer uploads, the manifest), the HEADs and reads that make a re-run upload
# nothing, and creating the repository on the first push: botocore's ECR operations of these names.
COPY_ACTIONS = (*sorted(PUSH_ACTIONS), *PULL_ACTIONS, "ecr:CreateRepository")
LAMBDA_SERVICE_PRINCIPAL = "lambda.amazonaws.com"
SCHEDULER_SERVICE_PRINCIPAL = "scheduler.amazonaws.com"
MiB = 1024 * 1024
GiB = 1024 * MiB

# Lambda's hard limit on one invocation (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
LAMBDA_MAX_TIMEOUT_SECONDS = 900
# A shard is sized to take at most half of it by the estimate below, so a cold upstream, retries
# and an estimate that was too kind still end well inside the limit.
SHARD_BUDGET_SECONDS = LAMBDA_MAX_TIMEOUT_SECONDS / 2
# The estimate's assumptions, deliberately slow: Lambda documents no network bandwidth, and the
# warm hashes every byte it receives. Per image: manifests, the verification round trips, and
# ECR's upstream check when the tag is due for one.
ASSUMED_BYTES_PER_SECOND = 25 * 1_000_000
IMAGE_OVERHEAD_SECONDS = 5.0
# An image whose size the lock does not record counts as this large.
ASSUMED_IMAGE_BYTES = 512 * MiB

# Prices, us-east-1, December 2026: Lambda on arm64 per GB-second and per request
# (https://aws.amazon.com/lambda/pricing/). ECR charges nothing for data moved to another
# service in the same region, nor for the upstream's data coming in (https://aws.amazon.com/ecr/pricing/),
# and the function runs outside a VPC, so no NAT gateway processes it.
LAMBDA_ARM64_USD_PER_GB_SECOND = 0.0000133334
LAMBDA_USD_PER_REQUEST = 0.20 / 1_000_000
SAME_REGION_TRANSFER_USD_PER_GB = 0.0


class SizedImage(Protocol):
    """What sharding needs of an image: a stable name to order by, and its bytes when known."""

    @property
    def source(self) -> str: ...

    @property
    def size_bytes(self) -> int | None: ...


Image = TypeVar("Image", bound=SizedImage)
# The catalogue split for the schedules: shard `i` is what the schedule sending `{"shard": i}` warms.
Shards = tuple[tuple[Image, ...], ...]


def function_trust_policy() -> dict[str, Any]:
    return service_trust_policy(LAMBDA_SERVICE_PRINCIPAL)


def scheduler_trust_policy(*, account_id: str) -> dict[str, Any]:
    """Only EventBridge Scheduler acting for this account (the confused-deputy guard AWS documents)."""
    return service_trust_policy(SCHEDULER_SERVICE_PRINCIPAL, source_account=account_id)


def copy_statements(
    copy_arns: Sequence[str], secret_resources: Sequence[str], *, tags_new_repositories: bool
) -> list[dict[str, Any]]:
    """What copying needs: push (and read back) under the copy prefixes only, and the copies' logins.

    `ecr:CreateRepository`: a push to a repository that does not exist yet creates it through the
    CREATE_ON_PUSH creation template, in the pusher's name
    (https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-creation-templates.html);
    `ecr:TagResource` when that template tags it, as for a first pull through the cache.
    """
    tagging = ["ecr:TagResource"] if tags_new_repositories else []
    statements: list[dict[str, Any]] = []
    if copy_arns:
        statements.append(
            {
                "Sid": "CopyIntoEcr",
                "Effect": "Allow",
                "Action": sorted({*COPY_ACTIONS, *tagging}),
                "Resource": list(copy_arns),
            }
        )
    if secret_resources:
        statements.append(
            {
                "Sid": "ReadCopyLogins",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": sorted(set(secret_resources)),
            }
        )
    return statements


def pushes_only_under(doc: dict[str, Any], copy_arns: Sequence[str]) -> dict[str, Any]:
    """The last word on the function's policy: a push action is allowed under the copy prefixes only."""
    allowed = set(copy_arns)
    for statement in doc["Statement"]:
        actions = statement["Action"]
        resources = statement["Resource"]
        pushes = set([actions] if isinstance(actions, str) else actions) & PUSH_ACTIONS
        wider = set([resources] if isinstance(resources, str) else resources) - allowed
        if pushes and wider:
            raise PolicyInputError(
                f"{sorted(pushes)} may be granted under the copy prefixes only, not {sorted(wider)}"
            )
    return doc


def function_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    prefixes: Sequence[str],
    log_group_arn: str,
    dead_letter_queue_arn: str,
    tags_new_repositories: bool = False,
    copy_prefixes: Sequence[str] = (),
    copy_secrets: Sequence[str] = (),
) -> dict[str, Any]:
    """What the re-warming function may do: pull through the cache under the stack's prefixes, copy
    under its copy prefixes (reading `copy_secrets`, names or ARNs, for the upstreams' logins), log, report."""
    scope = {"partition": partition, "region": region, "account_id": account_id}
    pulls = repository_arns(**scope, prefixes=prefixes) if prefixes else []
    copies = repository_arns(**scope, prefixes=copy_prefixes) if copy_prefixes else []
    reads = pull_only(
        {
            "Version": "2012-10-17",
            "Statement": [
                *pull_through_cache_statements(pulls, tags_new_repositories=tags_new_repositories),
                {
                    "Sid": "WriteItsOwnLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    # The provider's log group ARN has no `:*`; the streams are below it.
                    "Resource": f"{log_group_arn}:*",
                },
                {
                    "Sid": "ReportFailedInvocations",
                    "Effect": "Allow",
                    "Action": ["sqs:SendMessage"],
                    "Resource": dead_letter_queue_arn,
                },
            ],
        }
    )
    logins = [secret_resource(secret, **scope) for secret in copy_secrets]
    writes = copy_statements(copies, logins, tags_new_repositories=tags_new_repositories)
    return pushes_only_under({**reads, "Statement": [*reads["Statement"], *writes]}, copies)


def scheduler_policy(*, function_arn: str, dead_letter_queue_arn: str) -> dict[str, Any]:
    """The schedules invoke this function and nothing else, and dead-letter to its queue."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "InvokeTheWarmer",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": function_arn,
            },
            {
                "Sid": "DeadLetterUndelivered",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": dead_letter_queue_arn,
            },
        ],
    }


def policy_excess(text: str) -> str | None:
    """Why a rendered inline role policy is too long for IAM, or None; every document here is inline."""
    return IAM_ROLE_INLINE_POLICIES.excess(text)


def estimated_seconds(image: SizedImage) -> float:
    """How long one image takes to warm, by the slow assumptions above."""
    size = image.size_bytes if image.size_bytes is not None else ASSUMED_IMAGE_BYTES
    return IMAGE_OVERHEAD_SECONDS + size / ASSUMED_BYTES_PER_SECOND


def _packed(images: Sequence[Image], count: int) -> list[list[Image]]:
    """Longest first, each into the least loaded shard (ties: the lowest index): balanced and stable."""
    ordered = sorted(images, key=lambda image: (-estimated_seconds(image), image.source))
    loads = [(0.0, index) for index in range(count)]
    shards: list[list[Image]] = [[] for _ in range(count)]
    for image in ordered:
        load, index = heapq.heappop(loads)
        shards[index].append(image)
        heapq.heappush(loads, (load + estimated_seconds(image), index))
    return [sorted(shard, key=lambda image: image.source) for shard in shards]


def shard_catalogue(images: Sequence[Image], budget: float = SHARD_BUDGET_SECONDS) -> Shards[Image]:
    """As few shards as keep each one's estimate within `budget`; one image per shard at most.

    Starts from the total over the budget, and adds shards while packing leaves one over it.
    An image estimated past the budget alone gets a shard of its own (it cannot be split), and
    does not make the others spread thinner.
    """
    if not images:
        return ((),)
    total = sum(estimated_seconds(image) for image in images)
    limit = max(budget, max(estimated_seconds(image) for image in images))
    count = min(len(images), max(1, math.ceil(total / limit)))
    while True:
        shards = _packed(images, count)
        worst = max(sum(estimated_seconds(image) for image in shard) for shard in shards)
        if worst <= limit or count == len(images):
            return tuple(tuple(shard) for shard in shards)
        count += 1


@dataclass(frozen=True)
class RunCost:
    """One scheduled run of every shard, by the estimate: conservative, so an upper bound in practice."""

    shards: int
    images: int
    bytes_moved: int
    unknown_sizes: int
    function_seconds: float
    gb_seconds: float
    lambda_usd: float
    transfer_usd: float

    @property
    def total_usd(self) -> float:
        return self.lambda_usd + self.transfer_usd


def estimate_run_cost(
    shards: Sequence[Sequence[SizedImage]],
    *,
    memory_mb: int,
    usd_per_gb_second: float = LAMBDA_ARM64_USD_PER_GB_SECOND,
    usd_per_request: float = LAMBDA_USD_PER_REQUEST,
    transfer_usd_per_gb: float = SAME_REGION_TRANSFER_USD_PER_GB,
) -> RunCost:
    """Lambda GB-seconds and ECR data transfer of one run, from the images' sizes (assumed when unknown).

    Every run moves every image's bytes: the warm pulls each blob through the cache to prove it is kept.
    """
    images = [image for shard in shards for image in shard]
    seconds = sum(estimated_seconds(image) for image in images)
    moved = sum(image.size_bytes if image.size_bytes is not None else ASSUMED_IMAGE_BYTES for image in images)
    gb_seconds = seconds * memory_mb / 1024
    return RunCost(
        shards=len(shards),
        images=len(images),
        bytes_moved=moved,
        unknown_sizes=sum(image.size_bytes is None for image in images),
        function_seconds=seconds,
        gb_seconds=gb_seconds,
        lambda_usd=gb_seconds * usd_per_gb_second + len(shards) * usd_per_request,
        transfer_usd=moved / GiB * transfer_usd_per_gb,
    )
