"""Retention against the catalogue: no lifecycle rule may archive a catalogued image out from under a cluster.

Archived images cannot be pulled: "Requests to pull the archived image will fail with a 404 error",
and a restore takes up to 20 minutes (https://docs.aws.amazon.com/AmazonECR/latest/userguide/archive-image.html).
A catalogued image that clusters pull rarely (a quarterly job, a disaster-recovery tool, a DaemonSet
on long-lived nodes that never re-pull) would be archived by "archive what nobody pulled for N days"
and fail exactly when it is needed. So a rule that can archive a catalogued tag is accepted only when:

- it counts days since the last pull (`sinceImagePulled`): a rule counting pushes or images
  archives catalogued images whatever anyone pulls, and is refused;
- and `warm.schedule` re-warms the whole catalogue often enough that, with two failed runs in a row
  and ECR recording a pull's time about once a day, no catalogued image reaches N days without a
  recorded pull: `(failed runs + 1) x longest gap + margin < N`. The longest gap is computed from
  the schedule's own runs (`model/schedules.py`); a one-time `at()`, or a cron whose year field
  ends, keeps nothing pulled.

Why a schedule, and not a lifecycle rule that protects catalogued tags: ECR claims an image for the
first rule whose tag requirements it matches, but a `tagPatternList` matches only an image whose tags
match *all* its patterns, so protecting N tags needs N rules, and a policy holds at most 50
(https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html); and creation
templates never update a repository that already exists, so every catalogue change would leave the
old repositories with the old list. A re-warm also refreshes the tags, which a rule cannot.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import timedelta

from components.config.checker import Checker
from components.config.schema import ProjectConfig
from components.model.catalogue import CatalogueEntry
from components.model.images import DEFAULT_TAG
from components.model.schedules import schedule_expression_problem, schedule_recurrence, timezone_problem
from components.policies.archiving import ArchivingRule, CataloguedTag, archiving_rules

# Runs that may fail in a row (an upstream outage, a throttled night) before a catalogued image
# goes unpulled too long: "a failed run or two".
TOLERATED_FAILED_RUNS = 2
# ECR "refreshes the last image pull timestamp at least once every 24 hours", so the recorded time
# can trail the last pull by a day (ECR's API reference, DescribeImages' `lastRecordedPullTime`:
# https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageDetail.html); a run starts up
# to 15 minutes into Scheduler's flexible window and a shard takes up to 15 more.
RECORDING_MARGIN = timedelta(days=2)
_SHOWN_TAGS = 3


def check_catalogue_archiving(
    config: ProjectConfig, lifecycle_json: str, entries: Sequence[CatalogueEntry], check: Checker
) -> None:
    """Refuse, against its key and line, a lifecycle policy that can archive a catalogued image."""
    if not lifecycle_json or not entries:
        return
    tags = [
        CataloguedTag(f"{entry.ref.registry}/{entry.ref.repository} (a selector: any tag it selects)", None)
        if entry.selector is not None
        else CataloguedTag(
            f"{entry.ref.registry}/{entry.ref.repository}:{entry.ref.tag or DEFAULT_TAG}",
            entry.ref.tag or DEFAULT_TAG,
        )
        for entry in entries
    ]
    key = (
        ("lifecyclePolicy",)
        if config.lifecycle_policy is not None
        else ("retention", "archiveUnpulledAfterDays")
    )
    rules = archiving_rules(json.loads(lifecycle_json), tags)
    for rule in rules:
        if not rule.counts_pulls:
            check.add(
                key,
                f"{rule.title} archives tagged images by {rule.count_type}, whatever their pulls: catalogued images "
                f"such as {_examples(rule)} would be archived under running clusters, and pulls of an archived "
                "image fail with 404",
                "archive only by sinceImagePulled, with warm.schedule re-warming the catalogue, or narrow the "
                "rule's tag lists so that no catalogued tag matches them",
            )
    pulled = [rule for rule in rules if rule.counts_pulls]
    if pulled:
        _check_schedule(config, min(pulled, key=lambda rule: rule.count_number), key, check)


def _check_schedule(config: ProjectConfig, rule: ArchivingRule, key: tuple[str, ...], check: Checker) -> None:
    days = rule.count_number
    schedule, zone = config.warm.schedule, config.warm.schedule_timezone
    if schedule is not None and (schedule_expression_problem(schedule) or timezone_problem(zone)):
        return  # the schedule's own problem is reported by check_warm
    what = (
        f"archives tagged images nobody pulled for {days} days"
        + ("" if key[0] == "retention" else f" ({rule.title})")
        + ", "
    )
    consequence = (
        f"a catalogued image clusters pull rarely (such as {_examples(rule)}) would be archived, and pulls of "
        "an archived image fail with 404 until a restore of up to 20 minutes"
    )
    often = f"re-warm the catalogue at least every {_allowed_gap(days)}"
    if schedule is None:
        check.add(
            key,
            f"{what}and warm.schedule is not set: {consequence}",
            f"set warm.schedule to {often}, for example rate(1 day), or remove the archive rule",
        )
        return
    recurrence = schedule_recurrence(schedule, zone)
    if recurrence.longest_gap is None:
        check.add(
            key,
            f"{what}and warm.schedule {recurrence.reason}, so it does not keep the catalogue pulled: {consequence}",
            f"set warm.schedule to a recurring schedule that {often}, for example rate(1 day)",
        )
        return
    worst = (TOLERATED_FAILED_RUNS + 1) * recurrence.longest_gap + RECORDING_MARGIN
    if worst < timedelta(days=days):
        return
    check.add(
        key,
        f"{what}and warm.schedule {schedule} leaves up to {describe(recurrence.longest_gap)} between re-warms: "
        f"after {TOLERATED_FAILED_RUNS} failed runs in a row, and with ECR recording pull times about once a "
        f"day, a catalogued image could go {describe(worst)} without a recorded pull: {consequence}",
        f"{often} (for example rate(1 day)), or set archiveUnpulledAfterDays to at least "
        f"{math.floor(worst / timedelta(days=1)) + 1}",
    )


def _allowed_gap(days: int) -> str:
    """The longest gap, in whole days (or hours, under a day), that keeps `days` clear of the margin."""
    budget = timedelta(days=days) - RECORDING_MARGIN
    longest = (budget - timedelta(minutes=1)) / (TOLERATED_FAILED_RUNS + 1)
    if longest >= timedelta(days=1):
        return describe(timedelta(days=longest.days))
    return describe(timedelta(hours=max(1, math.floor(longest / timedelta(hours=1)))))


def describe(duration: timedelta) -> str:
    """`13 days 23 hours`, `1 day`, `12 hours`: whole days, hours and minutes, the zero parts left out."""
    hours, rest = divmod(duration.seconds, 3600)
    parts = [(duration.days, "day"), (hours, "hour"), (rest // 60, "minute")]
    return (
        " ".join(f"{count} {unit}{'s' if count != 1 else ''}" for count, unit in parts if count)
        or "0 minutes"
    )


def _examples(rule: ArchivingRule) -> str:
    shown = [tag.reference for tag in rule.tags[:_SHOWN_TAGS]]
    more = len(rule.tags) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")
