"""`doctor`'s check of the catalogued images: none may be archived, since a pull of an archived image gets 404.

ECR keeps listing an archived image, with `imageStatus` ARCHIVED, and ACTIVATING while a restore
runs (botocore's ECR `ImageStatus`; DescribeImages returns only ACTIVE images unless its filter asks
for others). `UpdateImageStorageClass` with `targetStorageClass` STANDARD restores one, which
"can take up to 20 minutes" (https://docs.aws.amazon.com/AmazonECR/latest/userguide/archive-image.html).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from components.config.settings import StackSettings
from components.model.ecr import EcrRegistry
from components.model.images import DEFAULT_TAG
from components.program.doctor_report import Finding, Passed, Report, could_not
from components.program.warming import stack_specs

ARCHIVED = "ARCHIVED"
ACTIVATING = "ACTIVATING"
EVERY_STATUS = "ANY"
RESTORED_CLASS = "STANDARD"
RESTORE_TIME = "up to 20 minutes"


def catalogued_tags(settings: StackSettings, account_id: str) -> dict[str, set[str]]:
    """Cache or copy repository -> the catalogue's tags in it, named as the stack names them (model/ecr.py)."""
    tags: dict[str, set[str]] = {}
    for spec in stack_specs(settings, EcrRegistry(account_id, settings.region).host):
        tags.setdefault(spec.repository, set()).add(spec.entry.ref.tag or DEFAULT_TAG)
    return tags


def _images(ecr: Any, repository: str, account_id: str) -> Iterator[dict[str, Any]]:
    pages = ecr.get_paginator("describe_images").paginate(
        registryId=account_id, repositoryName=repository, filter={"imageStatus": EVERY_STATUS}
    )
    for page in pages:
        yield from page.get("imageDetails", [])


def check_archived_images(settings: StackSettings, ecr: Any, account_id: str, *, fix: bool) -> Report:
    """Each catalogued tag whose image is ARCHIVED (restored with `fix`) or still ACTIVATING is a finding.

    A repository the cache has not created yet holds nothing to archive, and is skipped.
    """
    report = Report()
    for repository, tags in sorted(catalogued_tags(settings, account_id).items()):
        try:
            images = list(_images(ecr, repository, account_id))
        except ecr.exceptions.RepositoryNotFoundException:
            continue
        except Exception as error:  # one repository's error does not stop the others
            report.findings.append(could_not("image", repository, error))
            continue
        findings = [
            _finding(ecr, repository, account_id, image, held, fix=fix)
            for image in images
            if image.get("imageStatus") in (ARCHIVED, ACTIVATING)
            and (held := sorted(tags & set(image.get("imageTags", []))))
        ]
        report.findings += findings
        if not findings:
            report.passed.append(Passed("image", repository))
    return report


def _finding(
    ecr: Any, repository: str, account_id: str, image: dict[str, Any], tags: list[str], *, fix: bool
) -> Finding:
    subject = f"{repository}:{','.join(tags)}"
    if image.get("imageStatus") == ACTIVATING:
        return Finding(
            "image",
            subject,
            f"is being restored from the archive (ACTIVATING): pulls fail until it is ACTIVE, {RESTORE_TIME} "
            "after the restore began",
            "wait, then run doctor again",
        )
    restored = False
    if fix:
        try:
            ecr.update_image_storage_class(
                registryId=account_id,
                repositoryName=repository,
                imageId={"imageDigest": image["imageDigest"]},
                targetStorageClass=RESTORED_CLASS,
            )
            restored = True
        except Exception as error:
            return could_not("image", subject, error)
    if restored:
        problem = f"was archived; restore requested; it takes {RESTORE_TIME}, and pulls fail until then"
    else:
        problem = "is archived: pulls of it fail with 404 until it is restored"
    return Finding(
        "image",
        subject,
        problem,
        f"run doctor again with --fix to restore it (a restore takes {RESTORE_TIME}); then keep the catalogue "
        "from being archived: warm.schedule must re-warm it well within retention.archiveUnpulledAfterDays",
        fixed=restored,
    )
