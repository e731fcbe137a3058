"""Who may pull through the cache: other accounts, an organization, and this account's EKS nodes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.model.names import legacy_repository_name, names_with_aliases, repository_name
from components.policies.access import (
    Consumers,
    node_pull_policy,
    registry_policy,
    render_policy,
    repository_policy,
)

COMPONENT_TYPE = "ecr-pull-through-cache:index:CacheAccess"


class CacheAccess(pulumi.ComponentResource):
    """Pull-only grants: a registry policy for first-time caching, repository policies and a node policy.

    Repository policies reach new repositories through the creation templates
    (`template_repository_policy`); `existing_repositories` covers repositories that
    already exist, which templates never touch.
    """

    node_pull_policy_arn: pulumi.Output[str]
    registry_policy: aws.ecr.RegistryPolicy | None

    def __init__(
        self,
        name: str,
        *,
        consumers: Consumers,
        prefixes: Sequence[str],
        partition: str,
        region: str,
        account_id: str,
        tags_new_repositories: bool,
        existing_repositories: Sequence[str] = (),
        depends_on: Sequence[pulumi.Resource] = (),
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        document = registry_policy(
            partition=partition, region=region, account_id=account_id, prefixes=prefixes, consumers=consumers
        )
        self.registry_policy = (
            aws.ecr.RegistryPolicy("registry-policy", policy=render_policy(document), opts=child)
            if document is not None
            else None
        )
        repository_document = repository_policy(partition=partition, consumers=consumers)
        if repository_document is not None:
            names = names_with_aliases(existing_repositories, repository_name, legacy_repository_name)
            for repository in existing_repositories:
                name, legacy = names[repository]
                aws.ecr.RepositoryPolicy(
                    f"repository-policy-{name}",
                    repository=repository,
                    policy=render_policy(repository_document),
                    opts=pulumi.ResourceOptions(
                        parent=self,
                        depends_on=list(depends_on),
                        aliases=[pulumi.Alias(name=f"repository-policy-{old}") for old in legacy],
                    ),
                )
        node_policy = aws.iam.Policy(
            "node-pull-policy",
            description="Lets EKS nodes pull through the ECR pull-through cache, including first-time caching.",
            policy=render_policy(
                node_pull_policy(
                    partition=partition,
                    region=region,
                    account_id=account_id,
                    prefixes=prefixes,
                    tags_new_repositories=tags_new_repositories,
                )
            ),
            tags=dict(tags),
            opts=child,
        )
        self.node_pull_policy_arn = node_policy.arn
        self.register_outputs({"node_pull_policy_arn": self.node_pull_policy_arn})


def template_repository_policy(*, partition: str, consumers: Consumers) -> str | None:
    """The repository policy every creation template stamps onto the repositories it creates."""
    document = repository_policy(partition=partition, consumers=consumers)
    return render_policy(document) if document is not None else None
