"""Policy documents for consumers and nodes: pull-only, scoped to the cache prefixes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.errors import PolicyInputError
from components.policies.access import (
    PUSH_ACTIONS,
    Consumers,
    iter_actions,
    node_pull_policy,
    pull_only,
    registry_policy,
    render_policy,
    repository_policy,
)
from components.policies.templates import template_role_policy

ACCOUNT = "123456789012"
PREFIXES = ["docker-hub", "quay"]
ACCOUNTS = Consumers(account_ids=("111111111111", "222222222222"))
ORG = Consumers(organization_id="o-a1b2c3d4e5")
BOTH = Consumers(account_ids=("111111111111",), organization_id="o-a1b2c3d4e5")
PREFIX_ARNS = [
    f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/docker-hub/*",
    f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/quay/*",
]


def every_document() -> list[dict[str, Any]]:
    docs: list[dict[str, Any] | None] = []
    for consumers in (ACCOUNTS, ORG, BOTH):
        docs.append(
            registry_policy(
                partition="aws",
                region="eu-west-1",
                account_id=ACCOUNT,
                prefixes=PREFIXES,
                consumers=consumers,
            )
        )
        docs.append(repository_policy(partition="aws", consumers=consumers))
    docs.append(node_pull_policy(partition="aws", region="eu-west-1", account_id=ACCOUNT, prefixes=PREFIXES))
    docs.append(
        template_role_policy(
            partition="aws", region="eu-west-1", account_id=ACCOUNT, prefixes=PREFIXES, kms_key_arn=None
        )
    )
    return [doc for doc in docs if doc is not None]


def test_a_push_action_never_leaves_the_builders() -> None:
    pushing = {"Statement": [{"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:PutImage"]}]}
    with pytest.raises(PolicyInputError, match=r"must not grant \['ecr:PutImage'\]"):
        pull_only(pushing)
    pulling = {"Statement": [{"Effect": "Allow", "Action": "ecr:BatchGetImage"}]}
    assert pull_only(pulling) is pulling


def test_principals_are_deduplicated_and_sorted() -> None:
    doc = repository_policy(
        partition="aws", consumers=Consumers(account_ids=("222222222222", "111111111111", "222222222222"))
    )
    assert doc is not None
    assert doc["Statement"][0]["Principal"]["AWS"] == [
        "arn:aws:iam::111111111111:root",
        "arn:aws:iam::222222222222:root",
    ]


def test_no_policy_grants_a_push_action() -> None:
    documents = every_document()
    assert len(documents) == 8
    for doc in documents:
        actions = set(iter_actions(doc))
        assert actions, "every document grants something"
        assert not actions & PUSH_ACTIONS
        assert not any(a in ("ecr:*", "*") for a in actions)


def test_registry_policy_resources_are_only_the_cache_prefixes() -> None:
    doc = registry_policy(
        partition="aws", region="eu-west-1", account_id=ACCOUNT, prefixes=PREFIXES, consumers=BOTH
    )
    assert doc is not None
    for statement in doc["Statement"]:
        assert statement["Resource"] == PREFIX_ARNS
        assert sorted(statement["Action"]) == ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]


def test_registry_policy_principals_for_accounts() -> None:
    doc = registry_policy(
        partition="aws", region="eu-west-1", account_id=ACCOUNT, prefixes=PREFIXES, consumers=ACCOUNTS
    )
    assert doc is not None
    (statement,) = doc["Statement"]
    assert statement["Principal"] == {
        "AWS": ["arn:aws:iam::111111111111:root", "arn:aws:iam::222222222222:root"]
    }
    assert "Condition" not in statement


def test_organization_becomes_a_principal_org_condition() -> None:
    doc = registry_policy(
        partition="aws", region="eu-west-1", account_id=ACCOUNT, prefixes=PREFIXES, consumers=ORG
    )
    assert doc is not None
    (statement,) = doc["Statement"]
    assert statement["Principal"] == {"AWS": "*"}
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
    repo = repository_policy(partition="aws", consumers=ORG)
    assert repo is not None
    assert repo["Statement"][0]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}


def test_accounts_and_organization_make_two_statements() -> None:
    doc = registry_policy(
        partition="aws", region="eu-west-1", account_id=ACCOUNT, prefixes=PREFIXES, consumers=BOTH
    )
    assert doc is not None
    assert [s["Sid"] for s in doc["Statement"]] == [
        "FirstPullThroughCacheAccounts",
        "FirstPullThroughCacheOrganization",
    ]


def test_no_consumers_means_no_registry_or_repository_policy() -> None:
    nobody = Consumers()
    assert (
        registry_policy(
            partition="aws", region="eu-west-1", account_id=ACCOUNT, prefixes=PREFIXES, consumers=nobody
        )
        is None
    )
    assert repository_policy(partition="aws", consumers=nobody) is None


def test_repository_policy_grants_pull_and_import_without_resource() -> None:
    doc = repository_policy(partition="aws", consumers=ACCOUNTS)
    assert doc is not None
    (statement,) = doc["Statement"]
    assert "Resource" not in statement
    assert sorted(statement["Action"]) == [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:BatchImportUpstreamImage",
        "ecr:GetDownloadUrlForLayer",
    ]


def test_node_policy_scopes_everything_but_the_token_to_the_prefixes() -> None:
    doc = node_pull_policy(partition="aws", region="eu-west-1", account_id=ACCOUNT, prefixes=PREFIXES)
    statements = {s["Sid"]: s for s in doc["Statement"]}
    assert statements["AuthenticateToEcr"] == {
        "Sid": "AuthenticateToEcr",
        "Effect": "Allow",
        "Action": ["ecr:GetAuthorizationToken"],
        "Resource": "*",
    }
    assert set(statements) == {"AuthenticateToEcr", "PullThroughCache"}, "one statement per action group"
    assert statements["PullThroughCache"]["Resource"] == PREFIX_ARNS
    assert set(statements["PullThroughCache"]["Action"]) == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchImportUpstreamImage",
        "ecr:CreateRepository",
    }


def test_node_policy_may_tag_new_repositories_only_when_templates_add_tags() -> None:
    def first_pull(tags: bool) -> dict[str, Any]:
        doc = node_pull_policy(
            partition="aws",
            region="eu-west-1",
            account_id=ACCOUNT,
            prefixes=PREFIXES,
            tags_new_repositories=tags,
        )
        return next(s for s in doc["Statement"] if s["Sid"] == "PullThroughCache")

    assert "ecr:TagResource" not in first_pull(False)["Action"]
    tagging = first_pull(True)
    assert "ecr:TagResource" in tagging["Action"]
    assert tagging["Resource"] == PREFIX_ARNS


def test_root_prefix_covers_every_repository() -> None:
    doc = node_pull_policy(partition="aws", region="eu-west-1", account_id=ACCOUNT, prefixes=["ROOT"])
    assert doc["Statement"][1]["Resource"] == [f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/*"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Consumers(account_ids=("12345",)), "not a 12-digit AWS account ID"),
        (lambda: Consumers(organization_id="org-1"), "not an organization ID"),
        (lambda: Consumers(organization_id="o-abc"), "not an organization ID"),
        (
            lambda: node_pull_policy(partition="aws", region="eu-west-1", account_id=ACCOUNT, prefixes=[]),
            "at least one cache or copy prefix",
        ),
    ],
)
def test_inputs_are_checked(make: Any, message: str) -> None:
    with pytest.raises(PolicyInputError, match=message):
        make()


def test_node_policy_lists_each_prefix_once_and_fits_iam_with_50_long_prefixes() -> None:
    from components.policies.limits import IAM_MANAGED_POLICY

    prefixes = [f"ecr-{n:012d}-apse2-team{n:02d}"[:30] for n in range(50)]
    doc = node_pull_policy(
        partition="aws",
        region="ap-southeast-2",
        account_id=ACCOUNT,
        prefixes=prefixes,
        tags_new_repositories=True,
    )
    text = render_policy(doc)
    assert all(text.count(f"repository/{prefix}/*") == 1 for prefix in prefixes)
    assert IAM_MANAGED_POLICY.excess(text) is None


def test_render_is_deterministic_json() -> None:
    doc = node_pull_policy(partition="aws", region="eu-west-1", account_id=ACCOUNT, prefixes=PREFIXES)
    assert json.loads(render_policy(doc)) == doc
    assert render_policy(doc) == render_policy(json.loads(json.dumps(doc)))
