"""The stack's policy documents for its resolved settings, in the account and partition deployed to."""

from __future__ import annotations

from components.config.settings import StackSettings
from components.policies.documents import StackDocuments, stack_documents


def documents_for(settings: StackSettings, partition: str, account_id: str) -> StackDocuments:
    return stack_documents(
        partition=partition,
        region=settings.region,
        account_id=account_id,
        prefixes=[rule.prefix for rule in settings.rules],
        consumers=settings.access.consumers,
        tags_new_repositories=bool(settings.templates.resource_tags),
        template_role=settings.templates.needs_role,
        kms_key_arn=settings.templates.kms_key_arn,
        copy_prefixes=[copy.prefix for copy in settings.copies],
    )
