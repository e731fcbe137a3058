"""Who may pull through the cache: other accounts, an organization, and this account's EKS nodes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.model.names import legacy_repository_name, names_with_aliases, repository_name
from components.resources._children import child_opts

COMPONENT_TYPE = "ecr-pull-through-cache:index:CacheAccess"


@dataclass(frozen=True)
class CacheAccessArgs:
    """Rendered documents (policies/documents.py); `existing_repositories` get the repository policy now."""

    node_pull_policy: str
    registry_policy: str | None = None  # None: no consumer account or organization
    repository_policy: str | None = None
    existing_repositories: Sequence[str] = ()
    repository_policy_depends_on: Sequence[pulumi.Resource] = ()


class CacheAccess(pulumi.ComponentResource):
    """Pull-only grants: a registry policy for first-time caching, repository policies and a node policy.

    Repository policies reach new repositories through the creation templates;
    `existing_repositories` covers repositories that already exist, which templates never touch.
    """

    node_pull_policy_arn: pulumi.Output[str]
    registry_policy: aws.ecr.RegistryPolicy | None

    def __init__(self, name: str, args: CacheAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        registry_policy_name = f"{name}-registry-policy"
        self.registry_policy = (
            aws.ecr.RegistryPolicy(
                registry_policy_name,
                policy=args.registry_policy,
                opts=child_opts(self, registry_policy_name, ["registry-policy"]),
            )
            if args.registry_policy is not None
            else None
        )
        if args.repository_policy is not None:
            existing = args.existing_repositories
            names = names_with_aliases(existing, repository_name, legacy_repository_name)
            for repository in existing:
                suffix, legacy = names[repository]
                policy_name = f"{name}-repository-policy-{suffix}"
                aws.ecr.RepositoryPolicy(
                    policy_name,
                    repository=repository,
                    policy=args.repository_policy,
                    opts=child_opts(
                        self,
                        policy_name,
                        [f"repository-policy-{old}" for old in [suffix, *legacy]],
                        depends_on=list(args.repository_policy_depends_on),
                    ),
                )
        node_policy_name = f"{name}-node-pull-policy"
        node_policy = aws.iam.Policy(
            node_policy_name,
            description="Lets EKS nodes pull through the ECR pull-through cache, including first-time caching.",
            policy=args.node_pull_policy,
            opts=child_opts(self, node_policy_name, ["node-pull-policy"]),
        )
        self.node_pull_policy_arn = node_policy.arn
        self.register_outputs({"node_pull_policy_arn": self.node_pull_policy_arn})
