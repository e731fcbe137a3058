"""Pull-only policy documents for the cache's consumers: pure functions, tested as JSON.

What each grant is for comes from https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-iam.html:
the registry policy lets other accounts cause first-time caching, repository policies
let them pull, and nobody is ever granted a push action.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.errors import PolicyInputError
from components.policies.templates import repository_arns

PUSH_ACTIONS = frozenset(
    {"ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"}
)
FIRST_PULL_ACTIONS = ("ecr:BatchImportUpstreamImage", "ecr:CreateRepository")
PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
ACCOUNT_ID = re.compile(r"[0-9]{12}")
ORGANIZATION_ID = re.compile(r"o-[a-z0-9]{10,32}")


@dataclass(frozen=True)
class Consumers:
    """Accounts that pull from the cache: listed accounts, every account of an organization, or both."""

    account_ids: tuple[str, ...] = ()
    organization_id: str | None = None

    def __post_init__(self) -> None:
        for account in self.account_ids:
            if not ACCOUNT_ID.fullmatch(account):
                raise PolicyInputError(f"{account!r} is not a 12-digit AWS account ID")
        if self.organization_id is not None and not ORGANIZATION_ID.fullmatch(self.organization_id):
            raise PolicyInputError(f"{self.organization_id!r} is not an organization ID (o-xxxxxxxxxx)")

    @property
    def empty(self) -> bool:
        return not self.account_ids and self.organization_id is None


def _consumer_statements(
    sid: str, actions: Sequence[str], consumers: Consumers, partition: str, resources: list[str] | None
) -> list[dict[str, Any]]:
    """One statement for listed accounts, one with an aws:PrincipalOrgID condition for an organization."""
    statements: list[dict[str, Any]] = []
    base: dict[str, Any] = {"Effect": "Allow", "Action": sorted(actions)}
    if resources is not None:
        base["Resource"] = resources
    if consumers.account_ids:
        principals = sorted(f"arn:{partition}:iam::{account}:root" for account in set(consumers.account_ids))
        statements.append({"Sid": f"{sid}Accounts", **base, "Principal": {"AWS": principals}})
    if consumers.organization_id is not None:
        statements.append(
            {
                "Sid": f"{sid}Organization",
                **base,
                "Principal": {"AWS": "*"},
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": consumers.organization_id}},
            }
        )
    return statements


def pull_only(doc: dict[str, Any]) -> dict[str, Any]:
    """The last word before a document leaves this module: a cache's consumers never push."""
    pushes = sorted(set(iter_actions(doc)) & PUSH_ACTIONS)
    if pushes:
        raise PolicyInputError(f"a pull-through cache policy must not grant {pushes}")
    return doc


def _prefix_arns(partition: str, region: str, account_id: str, prefixes: Sequence[str]) -> list[str]:
    if not ACCOUNT_ID.fullmatch(account_id):
        raise PolicyInputError(f"{account_id!r} is not a 12-digit AWS account ID")
    if not prefixes or not all(prefixes):
        raise PolicyInputError("at least one cache prefix is needed to scope the policy")
    return repository_arns(partition=partition, region=region, account_id=account_id, prefixes=prefixes)


def registry_policy(
    *, partition: str, region: str, account_id: str, prefixes: Sequence[str], consumers: Consumers
) -> dict[str, Any] | None:
    """Lets consumers cause first-time caching under the cache prefixes, and nothing wider.

    Only the pull-through rules' prefixes: copies are pushed by this stack, so a consumer never
    imports or creates anything under a copy prefix, and pulls them through repository policies.
    """
    if consumers.empty or not prefixes:
        return None
    resources = _prefix_arns(partition, region, account_id, prefixes)
    statements = _consumer_statements(
        "FirstPullThroughCache", FIRST_PULL_ACTIONS, consumers, partition, resources
    )
    return pull_only({"Version": "2012-10-17", "Statement": statements})


def repository_policy(*, partition: str, consumers: Consumers) -> dict[str, Any] | None:
    """Stamped on every repository the cache creates; a repository policy names no Resource."""
    if consumers.empty:
        return None
    actions = (*PULL_ACTIONS, "ecr:BatchImportUpstreamImage")
    return pull_only(
        {
            "Version": "2012-10-17",
            "Statement": _consumer_statements("PullThroughCache", actions, consumers, partition, None),
        }
    )


def node_pull_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    prefixes: Sequence[str],
    tags_new_repositories: bool = False,
    copy_prefixes: Sequence[str] = (),
) -> dict[str, Any]:
    """For EKS node roles: pull, and cause first-time caching, only under the cache prefixes; pull
    only, under the copy prefixes (this stack pushes the copies; a node never creates one).

    One statement per action group, each prefix ARN once: an IAM managed policy holds 6,144
    characters, and listing 50 prefixes twice would not fit. When the creation templates
    tag new repositories, the puller that causes the
    creation also needs `ecr:TagResource` (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-iam.html).
    """
    if not prefixes and not copy_prefixes:
        raise PolicyInputError("at least one cache or copy prefix is needed to scope the policy")
    resources = _prefix_arns(partition, region, account_id, prefixes) if prefixes else []
    statements = pull_through_cache_statements(resources, tags_new_repositories=tags_new_repositories)
    if copy_prefixes:
        statements.append(copy_pull_statement(_prefix_arns(partition, region, account_id, copy_prefixes)))
    return pull_only({"Version": "2012-10-17", "Statement": statements})


def pull_through_cache_statements(
    repository_arns: Sequence[str], *, tags_new_repositories: bool
) -> list[dict[str, Any]]:
    """What any puller through the cache needs: a token, the pull actions and first-time caching.

    One statement per action group, each repository ARN once; `ecr:TagResource` only when the
    creation templates tag the repositories a first pull creates. No repositories (a stack that
    only copies): the token alone.
    """
    first_pull = {*FIRST_PULL_ACTIONS, *(["ecr:TagResource"] if tags_new_repositories else [])}
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AuthenticateToEcr",
            "Effect": "Allow",
            "Action": ["ecr:GetAuthorizationToken"],
            "Resource": "*",
        }
    ]
    if repository_arns:
        statements.append(
            {
                "Sid": "PullThroughCache",
                "Effect": "Allow",
                "Action": sorted({*PULL_ACTIONS, *first_pull}),
                "Resource": list(repository_arns),
            }
        )
    return statements


def copy_pull_statement(repository_arns: Sequence[str]) -> dict[str, Any]:
    """Pulls of the copies, under the copy prefixes: the pull actions and nothing else."""
    return {
        "Sid": "PullCopies",
        "Effect": "Allow",
        "Action": sorted(PULL_ACTIONS),
        "Resource": list(repository_arns),
    }


def iter_actions(doc: Mapping[str, Any]) -> Iterator[str]:
    """Every action any statement allows, for checks such as 'never a push action'."""
    for statement in doc.get("Statement", []):
        actions = statement.get("Action", [])
        yield from [actions] if isinstance(actions, str) else actions


def render_policy(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))
