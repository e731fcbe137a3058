"""Repository creation templates: every repository the cache creates is governed from birth."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.model.names import legacy_prefix_name, names_with_aliases, prefix_name, principal_name
from components.policies.templates import template_role_trust_policy
from components.resources._children import child_opts

COMPONENT_TYPE = "ecr-pull-through-cache:index:CreationTemplates"
APPLIED_FOR_PULL_THROUGH_CACHE = "PULL_THROUGH_CACHE"
# A push to a repository that does not exist creates it from the template whose prefix matches
# (https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-creation-templates.html);
# botocore's ECR `RCTAppliedFor`: REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH.
APPLIED_FOR_CREATE_ON_PUSH = "CREATE_ON_PUSH"


@dataclass(frozen=True)
class CreationTemplatesArgs:
    """One template per prefix, all alike but for what each applies to: `prefixes` are the pull-through
    rules' (PULL_THROUGH_CACHE), `copy_prefixes` the copied upstreams' (CREATE_ON_PUSH: the first
    push of a copy creates its repository). `role_policy`: the role ECR needs for tags or KMS, or None.

    `pull_time_exclusions`: IAM role ARNs whose pulls ECR does not record as pulls, so a scanner
    that pulls every image does not keep the lifecycle policy's `sinceImagePulled` from acting.
    """

    prefixes: Sequence[str]
    image_tag_mutability: str
    mutability_exclusions: Sequence[str]
    encryption: str
    kms_key_arn: str | None
    resource_tags: Mapping[str, str]
    description: str
    lifecycle_policy: str
    repository_policy: str | None
    role_policy: Mapping[str, Any] | None = None
    pull_time_exclusions: Sequence[str] = ()
    copy_prefixes: Sequence[str] = ()


class CreationTemplates(pulumi.ComponentResource):
    """One `aws.ecr.RepositoryCreationTemplate` per cache and copy prefix, plus the role ECR needs for tags or KMS."""

    templates: dict[str, aws.ecr.RepositoryCreationTemplate]
    role: aws.iam.Role | None

    def __init__(
        self, name: str, args: CreationTemplatesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        settings = args
        self.role = None
        role_arn: pulumi.Output[str] | None = None
        role_policy: aws.iam.RolePolicy | None = None
        if args.role_policy is not None:
            self.role, role_policy = self._role(f"{name}-role", args.role_policy)
            role_arn = self.role.arn
        encryption = aws.ecr.RepositoryCreationTemplateEncryptionConfigurationArgs(
            encryption_type=settings.encryption,
            kms_key=settings.kms_key_arn,
        )
        exclusions = [
            aws.ecr.RepositoryCreationTemplateImageTagMutabilityExclusionFilterArgs(
                filter=pattern, filter_type="WILDCARD"
            )
            for pattern in settings.mutability_exclusions
        ]
        self.templates = {}
        # The cache templates' older names; a copy's template is new and answers to none.
        names = names_with_aliases(args.prefixes, prefix_name, legacy_prefix_name)
        applied_for = {
            **{prefix: APPLIED_FOR_PULL_THROUGH_CACHE for prefix in args.prefixes},
            **{prefix: APPLIED_FOR_CREATE_ON_PUSH for prefix in args.copy_prefixes},
        }
        for prefix, applies_to in applied_for.items():
            suffix = prefix_name(prefix)
            older = [f"template-{old}" for old in [suffix, *names[prefix][1]]] if prefix in names else []
            template_name = f"{name}-{suffix}"
            self.templates[prefix] = aws.ecr.RepositoryCreationTemplate(
                template_name,
                prefix=prefix,
                applied_fors=[applies_to],
                description=settings.description,
                image_tag_mutability=settings.image_tag_mutability,
                image_tag_mutability_exclusion_filters=exclusions or None,
                encryption_configurations=[encryption],
                resource_tags=dict(settings.resource_tags) or None,
                lifecycle_policy=args.lifecycle_policy,
                repository_policy=args.repository_policy,
                custom_role_arn=role_arn,
                # The prefix names the template in ECR, so a replacement must delete the old one first.
                opts=child_opts(
                    self,
                    template_name,
                    older,
                    depends_on=[role_policy] if role_policy else [],
                    delete_before_replace=True,
                ),
            )
        for principal in args.pull_time_exclusions:
            exclusion_name = f"{name}-pull-time-exclusion-{principal_name(principal)}"
            aws.ecr.PullTimeUpdateExclusion(
                exclusion_name, principal_arn=principal, opts=pulumi.ResourceOptions(parent=self)
            )
        self.register_outputs({"template_prefixes": sorted(self.templates)})

    def _role(self, role_name: str, policy: Mapping[str, Any]) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        role = aws.iam.Role(
            role_name,
            description="Lets ECR tag and encrypt the repositories pull-through cache creates.",
            assume_role_policy=json.dumps(template_role_trust_policy()),
            opts=child_opts(self, role_name, ["template-role"]),
        )
        role_policy = aws.iam.RolePolicy(
            role_name,
            role=role.id,
            policy=json.dumps(policy),
            opts=child_opts(self, role_name, ["template-role"]),
        )
        return role, role_policy
