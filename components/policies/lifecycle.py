"""The cache's retention policy as code: settings in, lifecycle rules out, each able to act.

How each rule works and why they are ordered so: docs/lifecycle.md. Checking a policy (this one, or a
hand-written one) as AWS would: lifecycle_checks.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.errors import LifecyclePolicyError
from components.policies.lifecycle_checks import ARCHIVE, ARCHIVE_MINIMUM_DAYS, validate_lifecycle_policy


@dataclass(frozen=True)
class RetentionSettings:
    """What a stack asks to keep; see `build_lifecycle_policy` for how it becomes rules."""

    untagged_expire_days: int
    max_image_count: int | None
    archive_unpulled_after_days: int | None = None
    expire_archived_after_days: int | None = None
    expire_tagged_unpulled_after_days: int | None = None


def _positive(value: int | None, key: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise LifecyclePolicyError(f"retention.{key} must be a whole number of at least 1, not {value!r}")


def build_lifecycle_policy(retention: RetentionSettings) -> dict[str, Any]:
    """Untagged images expire; tagged ones are capped or archived (never both); archived ones expire.

    Only the first rule matching an image's tags acts on it, hence this order: docs/lifecycle.md.
    """
    _check_retention(retention)
    rules = [_untagged_rule(retention.untagged_expire_days)]
    if retention.max_image_count is not None:
        rules.append(_count_rule(retention.max_image_count))
    if retention.archive_unpulled_after_days is not None:
        rules.append(_archive_rule(retention.archive_unpulled_after_days))
    if retention.expire_archived_after_days is not None:
        rules.append(_expire_archived_rule(retention.expire_archived_after_days))
    policy = {"rules": rules}
    idle = validate_lifecycle_policy(policy)
    if idle:
        raise LifecyclePolicyError(
            "the built lifecycle policy has a rule that can never act: " + "; ".join(idle)
        )
    return policy


def _check_retention(retention: RetentionSettings) -> None:
    """Settings whose rules AWS would refuse, or of which one could never act."""
    if retention.expire_tagged_unpulled_after_days is not None:
        raise LifecyclePolicyError(
            "retention.expireTaggedUnpulledAfterDays cannot be built: AWS rejects it on two counts. "
            "countType sinceImagePulled works only with a 'transition' action to the archive storage class, "
            "never with 'expire' (aws/containers-roadmap#921, #2728); and a 'tagged' rule needs exactly one "
            "of tagPrefixList or tagPatternList. Expiring tagged images would also remove the cache's "
            "protection against upstream deletion. Use retention.archiveUnpulledAfterDays instead."
        )
    _positive(retention.untagged_expire_days, "untaggedExpireDays")
    _positive(retention.max_image_count, "maxImageCount")
    _positive(retention.archive_unpulled_after_days, "archiveUnpulledAfterDays")
    expire_archived = retention.expire_archived_after_days
    _positive(expire_archived, "expireArchivedAfterDays")
    if retention.max_image_count is not None and retention.archive_unpulled_after_days is not None:
        raise LifecyclePolicyError(
            "retention.maxImageCount and retention.archiveUnpulledAfterDays both select every tagged image, and "
            "ECR lets only the first rule that matches an image's tags act on it: the second could never act. "
            "Choose one (set maxImageCount: null to archive instead of capping)"
        )
    if expire_archived is not None and retention.archive_unpulled_after_days is None:
        raise LifecyclePolicyError(
            "retention.expireArchivedAfterDays needs retention.archiveUnpulledAfterDays: nothing is archived without it"
        )
    if expire_archived is not None and expire_archived < ARCHIVE_MINIMUM_DAYS:
        raise LifecyclePolicyError(
            f"retention.expireArchivedAfterDays is {expire_archived}: ECR keeps archived images at least "
            f"{ARCHIVE_MINIMUM_DAYS} days and refuses rules that delete them sooner"
        )


def _untagged_rule(days: int) -> dict[str, Any]:
    selection = {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": days,
    }
    return {
        "rulePriority": 1,
        "description": "Expire untagged images: digests superseded upstream",
        "selection": selection,
        "action": {"type": "expire"},
    }


def _count_rule(count: int) -> dict[str, Any]:
    return {
        "rulePriority": 2,
        "description": "Keep at most this many tagged images per repository",
        "selection": {
            "tagStatus": "tagged",
            "tagPatternList": ["*"],
            "countType": "imageCountMoreThan",
            "countNumber": count,
        },
        "action": {"type": "expire"},
    }


def _archive_rule(days: int) -> dict[str, Any]:
    return {
        "rulePriority": 2,
        "description": "Archive tagged images nobody pulled recently",
        "selection": {
            "tagStatus": "tagged",
            "tagPatternList": ["*"],
            "countType": "sinceImagePulled",
            "countUnit": "days",
            "countNumber": days,
        },
        "action": {"type": "transition", "targetStorageClass": ARCHIVE},
    }


def _expire_archived_rule(days: int) -> dict[str, Any]:
    return {
        "rulePriority": 3,
        "description": "Expire images archived long ago",
        "selection": {
            "tagStatus": "tagged",
            "tagPatternList": ["*"],
            "storageClass": ARCHIVE,
            "countType": "sinceImageTransitioned",
            "countUnit": "days",
            "countNumber": days,
        },
        "action": {"type": "expire"},
    }
