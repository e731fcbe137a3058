"""Scheduled re-warming's pure part: the IAM documents as JSON, how the catalogue is sharded, what a run costs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from components.policies.access import PUSH_ACTIONS, iter_actions
from components.policies.scheduled_warming import (
    ASSUMED_IMAGE_BYTES,
    LAMBDA_ARM64_USD_PER_GB_SECOND,
    SHARD_BUDGET_SECONDS,
    GiB,
    MiB,
    Shards,
    estimate_run_cost,
    estimated_seconds,
    function_policy,
    function_trust_policy,
    policy_excess,
    scheduler_policy,
    scheduler_trust_policy,
    shard_catalogue,
)

ACCOUNT = "123456789012"
REGION = "eu-west-1"
LOG_GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:warm-schedule-logs-1234567"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:warm-schedule-dead-letters-1234567"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:warm-schedule-function-1234567"


@dataclass(frozen=True)
class Image:
    source: str
    size_bytes: int | None = None


def image(n: int, size: int | None = None) -> Image:
    return Image(f"docker.io/library/app{n:04d}:1", size)


def policy(prefixes: list[str], tags_new_repositories: bool = False) -> dict[str, Any]:
    return function_policy(
        partition="aws",
        region=REGION,
        account_id=ACCOUNT,
        prefixes=prefixes,
        log_group_arn=LOG_GROUP_ARN,
        dead_letter_queue_arn=QUEUE_ARN,
        tags_new_repositories=tags_new_repositories,
    )


# --- policies ---------------------------------------------------------------------------------


def test_the_function_pulls_and_caches_under_the_stacks_prefixes_only() -> None:
    statements = {s["Sid"]: s for s in policy(["docker-hub", "quay"])["Statement"]}
    assert statements["AuthenticateToEcr"] == {
        "Sid": "AuthenticateToEcr",
        "Effect": "Allow",
        "Action": ["ecr:GetAuthorizationToken"],
        "Resource": "*",
    }
    pull = statements["PullThroughCache"]
    assert pull["Action"] == [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:BatchImportUpstreamImage",
        "ecr:CreateRepository",
        "ecr:GetDownloadUrlForLayer",
    ]
    assert pull["Resource"] == [
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/docker-hub/*",
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/quay/*",
    ]
    assert statements["WriteItsOwnLogs"]["Resource"] == f"{LOG_GROUP_ARN}:*"
    assert statements["ReportFailedInvocations"] == {
        "Sid": "ReportFailedInvocations",
        "Effect": "Allow",
        "Action": ["sqs:SendMessage"],
        "Resource": QUEUE_ARN,
    }
    assert not set(iter_actions(policy(["docker-hub"]))) & PUSH_ACTIONS
    wildcards = [s for s in statements.values() if s["Resource"] == "*"]
    assert [s["Sid"] for s in wildcards] == ["AuthenticateToEcr"], (
        "only the action without a resource is on *"
    )


def test_tag_resource_only_when_templates_tag_new_repositories() -> None:
    def pull_actions(flag: bool) -> list[str]:
        pull = next(s for s in policy(["quay"], flag)["Statement"] if s["Sid"] == "PullThroughCache")
        return list(pull["Action"])

    assert "ecr:TagResource" not in pull_actions(False)
    assert "ecr:TagResource" in pull_actions(True)


def test_a_root_prefix_covers_every_repository() -> None:
    pull = next(s for s in policy(["ROOT"])["Statement"] if s["Sid"] == "PullThroughCache")
    assert pull["Resource"] == [f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/*"]


def test_trust_policies() -> None:
    (lambda_trust,) = function_trust_policy()["Statement"]
    assert (lambda_trust["Principal"], lambda_trust["Action"]) == (
        {"Service": "lambda.amazonaws.com"},
        "sts:AssumeRole",
    )
    (scheduler,) = scheduler_trust_policy(account_id=ACCOUNT)["Statement"]
    assert scheduler["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert scheduler["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_the_scheduler_invokes_this_function_only() -> None:
    document = scheduler_policy(function_arn=FUNCTION_ARN, dead_letter_queue_arn=QUEUE_ARN)
    by_action = {action: s["Resource"] for s in document["Statement"] for action in s["Action"]}
    assert by_action == {"lambda:InvokeFunction": FUNCTION_ARN, "sqs:SendMessage": QUEUE_ARN}


def test_policies_for_fifty_longest_prefixes_fit_an_inline_role_policy() -> None:
    prefixes = [f"p{index:02d}-{'x' * 26}" for index in range(50)]
    rendered = json.dumps(policy(prefixes, tags_new_repositories=True), indent=2)
    assert policy_excess(rendered) is None
    assert policy_excess(json.dumps({"Statement": ["x" * 10_241]})) is not None


# --- sharding and cost ------------------------------------------------------------------------


def flat(shards: Shards[Image]) -> list[str]:
    return sorted(i.source for shard in shards for i in shard)


def load(shard: tuple[Image, ...]) -> float:
    return sum(estimated_seconds(i) for i in shard)


def test_any_image_with_a_source_and_a_size_can_be_sharded() -> None:
    """The policies know no pydantic model: the program shards the handler's `PackagedImage`s."""

    @dataclass(frozen=True)
    class Plain:
        source: str
        size_bytes: int | None

    shards = shard_catalogue([Plain("b", 1), Plain("a", None)])
    assert shards == ((Plain("a", None), Plain("b", 1)),)


def test_a_small_catalogue_is_one_shard() -> None:
    images = [image(n, 50 * MiB) for n in range(10)]
    shards = shard_catalogue(images)
    assert len(shards) == 1 and flat(shards) == sorted(i.source for i in images)


def test_a_large_catalogue_is_split_so_every_shard_is_within_the_budget() -> None:
    images = [image(n, (n % 7 + 1) * 300 * MiB) for n in range(200)]
    shards = shard_catalogue(images)
    assert len(shards) > 1
    assert flat(shards) == sorted(i.source for i in images), "every image exactly once"
    assert max(load(shard) for shard in shards) <= SHARD_BUDGET_SECONDS
    total = sum(estimated_seconds(i) for i in images)
    assert len(shards) <= total / SHARD_BUDGET_SECONDS + 2, "not wastefully many"
    assert shard_catalogue(list(reversed(images))) == shards, "the order of the catalogue does not matter"


def test_unknown_sizes_count_as_the_assumed_size_and_a_huge_image_gets_a_shard_alone() -> None:
    assert estimated_seconds(image(1)) == estimated_seconds(image(1, ASSUMED_IMAGE_BYTES))
    huge = image(0, 40 * GiB)
    shards = shard_catalogue([huge, *(image(n, 10 * MiB) for n in range(1, 5))])
    assert ((huge,) in shards) and len(shards) == 2


def test_an_empty_catalogue_is_one_empty_shard() -> None:
    assert shard_catalogue([]) == ((),)


def test_the_cost_of_a_run_from_the_images_sizes() -> None:
    images = [image(n, 200 * MiB) for n in range(40)]  # 40 images, 8,000 MiB
    cost = estimate_run_cost(shard_catalogue(images), memory_mb=1024)
    seconds = 40 * (5 + 200 * MiB / 25e6)
    assert cost.function_seconds == pytest.approx(seconds)
    assert cost.gb_seconds == pytest.approx(seconds)  # 1,024 MB is 1 GB
    assert cost.lambda_usd == pytest.approx(seconds * LAMBDA_ARM64_USD_PER_GB_SECOND + cost.shards * 0.2e-6)
    assert cost.bytes_moved == 40 * 200 * MiB and cost.unknown_sizes == 0
    assert cost.transfer_usd == 0.0, "ECR to Lambda in one region is free"
    assert estimate_run_cost(
        shard_catalogue(images), memory_mb=1024, transfer_usd_per_gb=0.09
    ).transfer_usd == (pytest.approx(40 * 200 / 1024 * 0.09))
    assert estimate_run_cost(shard_catalogue([image(1)]), memory_mb=2048).unknown_sizes == 1
