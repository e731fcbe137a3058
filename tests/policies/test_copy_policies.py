"""Copy prefixes in the policy documents: nodes and consumers pull them, only the re-warming function pushes.

The function's actions are checked against botocore's ECR service model, so each is an operation
ECR has (and IAM authorizes under that name).
"""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from components.errors import PolicyInputError
from components.model.arns import secret_resource
from components.policies.access import (
    PULL_ACTIONS,
    PUSH_ACTIONS,
    Consumers,
    iter_actions,
    node_pull_policy,
    registry_policy,
)
from components.policies.documents import stack_documents
from components.policies.scheduled_warming import function_policy, pushes_only_under

ACCOUNT = "123456789012"
REGION = "eu-west-1"
LOG_GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:warm-schedule-logs-1234567"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:warm-schedule-dead-letters-1234567"
BASE = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository"
NVCR_SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/ngc-AbCdEf"


def statements(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in doc["Statement"]}


def function(
    prefixes: list[str], copies: list[str], secrets: list[str], tags: bool = False
) -> dict[str, Any]:
    return function_policy(
        partition="aws",
        region=REGION,
        account_id=ACCOUNT,
        prefixes=prefixes,
        log_group_arn=LOG_GROUP_ARN,
        dead_letter_queue_arn=QUEUE_ARN,
        tags_new_repositories=tags,
        copy_prefixes=copies,
        copy_secrets=secrets,
    )


def test_nodes_pull_copies_and_nothing_more() -> None:
    doc = node_pull_policy(
        partition="aws", region=REGION, account_id=ACCOUNT, prefixes=["quay"], copy_prefixes=["nvcr", "mcr"]
    )
    by_sid = statements(doc)
    assert by_sid["PullCopies"] == {
        "Sid": "PullCopies",
        "Effect": "Allow",
        "Action": sorted(PULL_ACTIONS),
        "Resource": [f"{BASE}/mcr/*", f"{BASE}/nvcr/*"],
    }
    assert by_sid["PullThroughCache"]["Resource"] == [f"{BASE}/quay/*"], "no first-time caching under a copy"
    assert not set(iter_actions(doc)) & PUSH_ACTIONS


def test_without_copies_the_node_policy_is_as_before() -> None:
    without = node_pull_policy(partition="aws", region=REGION, account_id=ACCOUNT, prefixes=["quay"])
    assert [s["Sid"] for s in without["Statement"]] == ["AuthenticateToEcr", "PullThroughCache"]


def test_a_stack_that_only_copies_grants_nodes_the_token_and_the_copies() -> None:
    doc = node_pull_policy(
        partition="aws", region=REGION, account_id=ACCOUNT, prefixes=[], copy_prefixes=["nvcr"]
    )
    assert [s["Sid"] for s in doc["Statement"]] == ["AuthenticateToEcr", "PullCopies"]
    consumers = Consumers(account_ids=("111111111111",))
    assert (
        registry_policy(partition="aws", region=REGION, account_id=ACCOUNT, prefixes=[], consumers=consumers)
        is None
    ), "consumers never import or create anything under a copy prefix"


def test_consumers_pull_copies_through_the_same_repository_policy_and_the_registry_policy_ignores_them() -> (
    None
):
    documents = stack_documents(
        partition="aws",
        region=REGION,
        account_id=ACCOUNT,
        prefixes=["quay"],
        consumers=Consumers(account_ids=("111111111111",)),
        tags_new_repositories=True,
        template_role=True,
        kms_key_arn=None,
        copy_prefixes=["nvcr"],
    )
    assert documents.registry_policy is not None
    assert {r for s in documents.registry_policy["Statement"] for r in s["Resource"]} == {f"{BASE}/quay/*"}
    assert documents.repository_policy is not None
    assert "Resource" not in documents.repository_policy["Statement"][0]
    assert documents.template_role_policy is not None
    (create,) = [
        s for s in documents.template_role_policy["Statement"] if s["Sid"] == "CreateCachedRepositories"
    ]
    assert create["Resource"] == [f"{BASE}/nvcr/*", f"{BASE}/quay/*"], (
        "ECR tags and encrypts copies' repositories too"
    )


def test_the_function_pushes_under_the_copy_prefixes_only() -> None:
    doc = function(["quay"], ["nvcr"], ["ecr-pullthroughcache/nvcr"])
    by_sid = statements(doc)
    assert by_sid["CopyIntoEcr"] == {
        "Sid": "CopyIntoEcr",
        "Effect": "Allow",
        "Action": [
            "ecr:BatchCheckLayerAvailability",
            "ecr:BatchGetImage",
            "ecr:CompleteLayerUpload",
            "ecr:CreateRepository",
            "ecr:GetDownloadUrlForLayer",
            "ecr:InitiateLayerUpload",
            "ecr:PutImage",
            "ecr:UploadLayerPart",
        ],
        "Resource": [f"{BASE}/nvcr/*"],
    }
    assert by_sid["ReadCopyLogins"] == {
        "Sid": "ReadCopyLogins",
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": [f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/nvcr-??????"],
    }
    for sid, statement in by_sid.items():
        if set(statement["Action"]) & PUSH_ACTIONS:
            assert sid == "CopyIntoEcr"
    assert by_sid["PullThroughCache"]["Resource"] == [f"{BASE}/quay/*"]


def test_the_function_tags_copies_only_when_the_templates_tag() -> None:
    assert "ecr:TagResource" not in statements(function([], ["nvcr"], []))["CopyIntoEcr"]["Action"]
    assert "ecr:TagResource" in statements(function([], ["nvcr"], [], tags=True))["CopyIntoEcr"]["Action"]


def test_an_anonymous_copy_reads_no_secret_and_no_copies_change_nothing() -> None:
    assert "ReadCopyLogins" not in statements(function(["quay"], ["mcr"], []))
    assert [s["Sid"] for s in function(["quay"], [], [])["Statement"]] == [
        "AuthenticateToEcr",
        "PullThroughCache",
        "WriteItsOwnLogs",
        "ReportFailedInvocations",
    ]


def test_every_ecr_action_the_function_gets_is_an_ecr_operation() -> None:
    """Checked against botocore's ECR model; `BatchImportUpstreamImage` is IAM-only, as ECR documents."""
    operations = set(botocore.session.get_session().get_service_model("ecr").operation_names)
    copy_actions = statements(function([], ["nvcr"], ["ecr-pullthroughcache/nvcr"]))["CopyIntoEcr"]["Action"]
    assert {action.removeprefix("ecr:") for action in copy_actions} <= operations
    ecr_actions = {
        a.removeprefix("ecr:") for a in iter_actions(function(["quay"], ["nvcr"], [])) if a.startswith("ecr:")
    }
    assert ecr_actions - operations == {"BatchImportUpstreamImage"}


def test_a_push_anywhere_but_a_copy_prefix_is_refused() -> None:
    doc = {
        "Statement": [
            {"Sid": "X", "Effect": "Allow", "Action": ["ecr:PutImage"], "Resource": [f"{BASE}/quay/*"]}
        ]
    }
    with pytest.raises(PolicyInputError, match=r"under the copy prefixes only"):
        pushes_only_under(doc, [f"{BASE}/nvcr/*"])
    doc["Statement"][0]["Resource"] = "*"
    with pytest.raises(PolicyInputError):
        pushes_only_under(doc, [f"{BASE}/nvcr/*"])
    doc["Statement"][0]["Resource"] = [f"{BASE}/nvcr/*"]
    assert pushes_only_under(doc, [f"{BASE}/nvcr/*"]) is doc


@pytest.mark.parametrize(
    ("given", "resource"),
    [
        (
            "ecr-pullthroughcache/nvcr",
            f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/nvcr-??????",
        ),
        (NVCR_SECRET_ARN, NVCR_SECRET_ARN),
        (
            f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/nvcr",
            f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/nvcr-??????",
        ),
    ],
)
def test_a_secret_is_named_in_iam_with_its_random_suffix(given: str, resource: str) -> None:
    assert secret_resource(given, partition="aws", region=REGION, account_id=ACCOUNT) == resource
