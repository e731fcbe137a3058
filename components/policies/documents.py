"""Every policy document the stack deploys, built in one place for the program, its checks and doctor.

`pulumi up` registers these (program/stack.py), settings check their sizes before anything is
registered (config/stack_checks.py), and `doctor` compares a deployed stack against them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.policies.access import (
    Consumers,
    node_pull_policy,
    registry_policy,
    render_policy,
    repository_policy,
)
from components.policies.templates import template_role_policy


@dataclass(frozen=True)
class StackDocuments:
    registry_policy: dict[str, Any] | None  # None: no consumer account or organization
    repository_policy: dict[str, Any] | None
    node_pull_policy: dict[str, Any]
    template_role_policy: dict[str, Any] | None  # None: the templates need no role

    @staticmethod
    def render(document: dict[str, Any] | None) -> str | None:
        return render_policy(document) if document is not None else None


def stack_documents(
    *,
    partition: str,
    region: str,
    account_id: str,
    prefixes: Sequence[str],
    consumers: Consumers,
    tags_new_repositories: bool,
    template_role: bool,
    kms_key_arn: str | None,
    copy_prefixes: Sequence[str] = (),
) -> StackDocuments:
    """`prefixes`: the pull-through rules'; `copy_prefixes`: the copied upstreams' (pulled, never cached)."""
    role = (
        template_role_policy(
            partition=partition,
            region=region,
            account_id=account_id,
            prefixes=[*prefixes, *copy_prefixes],
            kms_key_arn=kms_key_arn,
        )
        if template_role
        else None
    )
    return StackDocuments(
        registry_policy=registry_policy(
            partition=partition, region=region, account_id=account_id, prefixes=prefixes, consumers=consumers
        ),
        repository_policy=repository_policy(partition=partition, consumers=consumers),
        node_pull_policy=node_pull_policy(
            partition=partition,
            region=region,
            account_id=account_id,
            prefixes=prefixes,
            tags_new_repositories=tags_new_repositories,
            copy_prefixes=copy_prefixes,
        ),
        template_role_policy=role,
    )
