"""One check per stack-file section; each returns what it resolved and records problems on the Checker."""

from __future__ import annotations

import json
import re

from components.config.checker import Checker
from components.config.schema import COPY_MODE, ProjectConfig
from components.config.source import RawConfig
from components.errors import LifecyclePolicyError, UnsupportedUpstreamError
from components.model.arns import KMS_KEY_ARN, PRINCIPAL_ARN_MAX, PRINCIPAL_ROLE_ARN, ROLE_NAME_MAX
from components.model.ecr import (
    EXCLUSION_FILTER,
    MAX_EXCLUSION_WILDCARDS,
    MAX_PULL_TIME_EXCLUSIONS,
    REGION,
    TEMPLATE_DESCRIPTION_MAX,
    UNSUPPORTED_REGIONS,
)
from components.model.schedules import (
    SCHEDULE_EXAMPLES,
    schedule_expression_problem,
    schedule_expression_warning,
    timezone_problem,
)
from components.model.upstreams import Credential, resolve_upstream
from components.policies.access import ACCOUNT_ID, ORGANIZATION_ID
from components.policies.lifecycle import RetentionSettings, build_lifecycle_policy
from components.policies.lifecycle_checks import (
    lifecycle_policy_from_json,
    render_lifecycle_policy,
    validate_lifecycle_policy,
)
from components.policies.network import partition_of_region


def check_region(raw: RawConfig, check: Checker) -> str:
    region = raw.provider.get("aws:region")
    source_line = raw.lines.get(("aws:region",))
    if not isinstance(region, str) or not REGION.fullmatch(region):
        check.at(raw.source, "aws:region is missing or malformed", "pulumi config set aws:region us-east-1")
        return ""
    if region in UNSUPPORTED_REGIONS:
        check.at(
            raw.source,
            f"aws:region {region!r} has no ECR pull-through cache or repository creation templates",
            "choose a commercial region, for example us-east-1 or eu-west-1",
            source_line,
        )
    return region


def check_templates(config: ProjectConfig, region: str, check: Checker) -> list[str]:
    templates = config.templates
    warnings: list[str] = []
    path = ("templates",)
    mutability = templates.image_tag_mutability
    if mutability == "IMMUTABLE":
        warnings.append(
            f"{check.key(*path, 'imageTagMutability')} is IMMUTABLE: the cache can no longer refresh a cached tag "
            "when the upstream moves it (for example 'latest'); prefer IMMUTABLE_WITH_EXCLUSION with "
            "mutabilityExclusions for moving tags"
        )
    if mutability.endswith("_WITH_EXCLUSION"):
        if not 1 <= len(templates.mutability_exclusions) <= 5:
            check.add(
                (*path, "mutabilityExclusions"),
                f"{mutability} needs 1 to 5 exclusion filters",
                "for example mutabilityExclusions: [latest, 'v*-rc*']",
            )
        for pattern in templates.mutability_exclusions:
            if not EXCLUSION_FILTER.fullmatch(pattern):
                check.add(
                    (*path, "mutabilityExclusions"),
                    f"filter {pattern!r} must match ^[0-9a-zA-Z._*-]{{1,128}}$",
                )
            elif pattern.count("*") > MAX_EXCLUSION_WILDCARDS:
                check.add(
                    (*path, "mutabilityExclusions"),
                    f"filter {pattern!r} has {pattern.count('*')} '*' wildcards; ECR allows {MAX_EXCLUSION_WILDCARDS}",
                )
    elif templates.mutability_exclusions:
        check.add(
            (*path, "mutabilityExclusions"),
            f"exclusions need a *_WITH_EXCLUSION mutability, not {mutability}",
        )
    if templates.encryption == "KMS":
        match = KMS_KEY_ARN.fullmatch(templates.kms_key_arn or "")
        if match is None:
            check.add((*path, "kmsKeyArn"), "KMS encryption needs a KMS key ARN", "set templates.kmsKeyArn")
        elif region and match["region"] != region:
            check.add((*path, "kmsKeyArn"), f"the key is in {match['region']}, but must be in {region}")
    elif templates.kms_key_arn is not None:
        check.add((*path, "kmsKeyArn"), "is set but encryption is AES256", "set templates.encryption: KMS")
    if len(templates.description) > TEMPLATE_DESCRIPTION_MAX:
        check.add((*path, "description"), f"is longer than {TEMPLATE_DESCRIPTION_MAX} characters")
    return warnings


def check_lifecycle(config: ProjectConfig, check: Checker) -> tuple[str, list[str]]:
    """The policy's JSON, and a warning per hand-written rule that can never act."""
    try:
        if config.lifecycle_policy is not None:
            text = config.lifecycle_policy
            if isinstance(text, dict):
                text = json.dumps(text)
            key = check.key("lifecyclePolicy")
            doc = lifecycle_policy_from_json(text, source=key)
            warnings = [f"{key}: {idle}" for idle in validate_lifecycle_policy(doc)]
            return render_lifecycle_policy(doc), warnings
        retention = config.retention
        # Archiving and the count cap both select every tagged image, so only one can act:
        # archiving turns the default cap off, unless the stack sets maxImageCount itself.
        archives = retention.archive_unpulled_after_days is not None
        cap_given = "max_image_count" in retention.model_fields_set
        max_image_count = retention.max_image_count if cap_given or not archives else None
        return render_lifecycle_policy(
            build_lifecycle_policy(
                RetentionSettings(
                    untagged_expire_days=retention.untagged_expire_days,
                    max_image_count=max_image_count,
                    archive_unpulled_after_days=retention.archive_unpulled_after_days,
                    expire_archived_after_days=retention.expire_archived_after_days,
                    expire_tagged_unpulled_after_days=retention.expire_tagged_unpulled_after_days,
                )
            )
        ), []
    except LifecyclePolicyError as error:
        key = "lifecyclePolicy" if config.lifecycle_policy is not None else "retention"
        check.add((key,), str(error))
        return "", []


def check_pull_time_exclusions(config: ProjectConfig, region: str, check: Checker) -> tuple[str, ...]:
    """`retention.pullTimeExclusions`: IAM role ARNs of this stack's partition, each once, at most 100."""
    path = ("retention", "pullTimeExclusions")
    roles = config.retention.pull_time_exclusions
    if len(roles) > MAX_PULL_TIME_EXCLUSIONS:
        check.add(
            path,
            f"lists {len(roles)} roles; ECR allows {MAX_PULL_TIME_EXCLUSIONS} per registry",
            "keep the identities that pull every image to scan it, not the ones that run them",
        )
    seen: set[str] = set()
    for index, arn in enumerate(roles):
        where = (*path, str(index))
        match = PRINCIPAL_ROLE_ARN.fullmatch(arn)
        if match is None:
            check.add(
                where,
                f"{arn[:100]!r} is not an IAM role ARN",
                "write arn:aws:iam::<account>:role/<path/name>, the role your scanner pulls with",
            )
        elif len(arn) > PRINCIPAL_ARN_MAX:
            check.add(
                where, f"is longer than {PRINCIPAL_ARN_MAX} characters, ECR's limit for a principal ARN"
            )
        elif len(match["name"]) > ROLE_NAME_MAX:
            check.add(where, f"{arn!r}: a role name has at most {ROLE_NAME_MAX} characters")
        elif region and match["partition"] != partition_of_region(region):
            check.add(
                where,
                f"{arn!r} is in partition {match['partition']}; this stack's region {region} is in "
                f"{partition_of_region(region)}",
            )
        elif arn in seen:
            check.add(where, f"{arn!r} is listed twice", "remove the second entry")
        seen.add(arn)
    return roles


def check_warm(config: ProjectConfig, check: Checker) -> list[str]:
    """The backend's command, and `schedule`/`scheduleTimezone`; returns a warning for a schedule faster than daily."""
    warm = config.warm
    if warm.backend == "command" and not warm.pull_command:
        check.add(
            ("warm", "pullCommand"),
            "the command backend needs the command that pulls $IMAGE",
            'for example: crane digest "$IMAGE" (crane auth login first) or skopeo inspect ...',
        )
    elif warm.backend != "command" and warm.pull_command:
        check.add(("warm", "pullCommand"), f"is only used by the command backend, not {warm.backend!r}")
    if (zone := timezone_problem(warm.schedule_timezone)) is not None:
        check.add(("warm", "scheduleTimezone"), zone)
    if warm.schedule is None:
        return []
    problem = schedule_expression_problem(warm.schedule)
    if problem is not None:
        check.add(("warm", "schedule"), problem, f"for example {SCHEDULE_EXAMPLES}")
        return []
    warning = schedule_expression_warning(warm.schedule)
    return [warning] if warning else []


def check_access(config: ProjectConfig, check: Checker) -> list[str]:
    access = config.access
    if access.apply_to_existing_repositories and not config.warm.enabled:
        # Refused rather than creating the repositories here: a cache repository exists once a pull
        # creates it, and a Pulumi-owned aws.ecr.Repository would skip the creation template and be
        # deleted, images and all, with the stack.
        check.add(
            ("access", "applyToExistingRepositories"),
            "needs warming: with warm.enabled false nothing in this stack creates the cache repositories, so "
            "SetRepositoryPolicy would fail with RepositoryNotFoundException on a registry that has not pulled them",
            "set warm.enabled: true, or set applyToExistingRepositories: false (the creation templates "
            "already give new repositories the policy)",
        )
    for index, account in enumerate(access.account_ids):
        if not ACCOUNT_ID.fullmatch(account):
            check.add(("access", "accountIds", str(index)), f"{account!r} is not a 12-digit AWS account ID")
    org = access.organization_id
    if org is not None and not ORGANIZATION_ID.fullmatch(org):
        check.add(("access", "organizationId"), f"{org!r} is not an organization ID", "write o-xxxxxxxxxx")
    if (access.account_ids or org) and config.templates.resource_tags:
        return [
            f"{check.key('templates', 'resourceTags')} is set: a first pull that creates a repository also needs "
            "ecr:TagResource on it, so consumer accounts' node roles need it in their own IAM policies "
            "(this stack's node_pull_policy_arn has it); or warm their images here through images.yaml"
        ]
    return []


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def check_alerts_and_rotation(config: ProjectConfig, region: str, check: Checker) -> None:
    """`alerts` and per-upstream `rotateAfterDays`, the settings `doctor` and the alert topic read."""
    for registry, options in config.upstreams.items():
        if options is None or options.rotate_after_days is None:
            continue
        if options.mode == COPY_MODE:
            credentialed = bool(options.username or options.credential_secret)
        else:
            try:
                credentialed = resolve_upstream(registry).credential is Credential.SECRET
            except UnsupportedUpstreamError:
                continue  # reported by check_rules
        if not credentialed:
            check.add(
                ("upstreams", registry, "rotateAfterDays"),
                "only an upstream with a Secrets Manager credential has a token to rotate",
                "remove it",
            )
    alerts = config.alerts
    if alerts is None or not alerts.enabled:
        return
    if config.upstreams and all(
        options is not None and options.mode == COPY_MODE for options in config.upstreams.values()
    ):
        check.add(
            ("alerts",),
            "alerts report the pull-through cache's failed syncs, and this stack has no pull-through cache "
            "upstream, only copied ones",
            "remove the alerts section; a failed copy shows in `pulumi up`, `warm --stack` and doctor",
        )
    for index, email in enumerate(alerts.emails):
        if not _EMAIL.fullmatch(email):
            check.add(("alerts", "emails", str(index)), f"{email!r} is not an email address")
    if alerts.kms_key_arn is not None:
        match = KMS_KEY_ARN.fullmatch(alerts.kms_key_arn)
        if match is None:
            check.add(
                ("alerts", "kmsKeyArn"),
                "is not a KMS key ARN (an alias such as alias/aws/sns is refused: EventBridge cannot use the "
                "AWS-managed SNS key to publish)",
                "name a customer-managed key whose policy lets events.amazonaws.com use it, or remove the key "
                "and let the stack create one",
            )
        elif region and match["region"] != region:
            check.add(("alerts", "kmsKeyArn"), f"the key is in {match['region']}, but must be in {region}")
