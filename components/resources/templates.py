"""Repository creation templates: every repository the cache creates is governed from birth."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.config.settings import TemplateSettings
from components.model.names import legacy_prefix_name, names_with_aliases, prefix_name
from components.policies.templates import template_role_policy, template_role_trust_policy

COMPONENT_TYPE = "ecr-pull-through-cache:index:CreationTemplates"
APPLIED_FOR_PULL_THROUGH_CACHE = "PULL_THROUGH_CACHE"


class CreationTemplates(pulumi.ComponentResource):
    """One `aws.ecr.RepositoryCreationTemplate` per cache prefix, plus the role ECR needs for tags or KMS."""

    templates: dict[str, aws.ecr.RepositoryCreationTemplate]
    role: aws.iam.Role | None

    def __init__(
        self,
        name: str,
        *,
        prefixes: Sequence[str],
        settings: TemplateSettings,
        lifecycle_policy: str,
        repository_policy: str | None,
        partition: str,
        region: str,
        account_id: str,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = None
        role_arn: pulumi.Output[str] | None = None
        role_policy: aws.iam.RolePolicy | None = None
        if settings.needs_role:
            kms_key = settings.kms_key_arn if settings.encryption == "KMS" else None
            self.role = aws.iam.Role(
                "template-role",
                description="Lets ECR tag and encrypt the repositories pull-through cache creates.",
                assume_role_policy=json.dumps(template_role_trust_policy()),
                tags=dict(tags),
                opts=child,
            )
            role_policy = aws.iam.RolePolicy(
                "template-role",
                role=self.role.id,
                policy=json.dumps(
                    template_role_policy(
                        partition=partition,
                        region=region,
                        account_id=account_id,
                        prefixes=prefixes,
                        kms_key_arn=kms_key,
                    )
                ),
                opts=child,
            )
            role_arn = self.role.arn
        encryption = aws.ecr.RepositoryCreationTemplateEncryptionConfigurationArgs(
            encryption_type=settings.encryption,
            kms_key=settings.kms_key_arn if settings.encryption == "KMS" else None,
        )
        exclusions = [
            aws.ecr.RepositoryCreationTemplateImageTagMutabilityExclusionFilterArgs(
                filter=pattern, filter_type="WILDCARD"
            )
            for pattern in settings.mutability_exclusions
        ]
        self.templates = {}
        names = names_with_aliases(prefixes, prefix_name, legacy_prefix_name)
        for prefix in prefixes:
            suffix, legacy = names[prefix]
            self.templates[prefix] = aws.ecr.RepositoryCreationTemplate(
                f"template-{suffix}",
                prefix=prefix,
                applied_fors=[APPLIED_FOR_PULL_THROUGH_CACHE],
                description=settings.description,
                image_tag_mutability=settings.image_tag_mutability,
                image_tag_mutability_exclusion_filters=exclusions or None,
                encryption_configurations=[encryption],
                resource_tags=dict(settings.resource_tags) or None,
                lifecycle_policy=lifecycle_policy,
                repository_policy=repository_policy,
                custom_role_arn=role_arn,
                # The prefix names the template in ECR, so a replacement must delete the old one first.
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[role_policy] if role_policy else [],
                    delete_before_replace=True,
                    aliases=[pulumi.Alias(name=f"template-{name}") for name in legacy],
                ),
            )
        self.register_outputs({"template_prefixes": sorted(self.templates)})
