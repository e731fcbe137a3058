"""Which rules of a lifecycle policy can move a catalogued image to the archive, and on what count.

A rule whose action is `transition` moves the standard-class images it selects to the archive,
where pulls of them fail with 404 until a restore
(https://docs.aws.amazon.com/AmazonECR/latest/userguide/archive-image.html). Counted by
`sinceImagePulled`, a pull resets the count, so a schedule that keeps pulling the catalogue
protects it; counted by `sinceImagePushed` or `imageCountMoreThan`, nothing a pull does matters
(https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html).

Matching a catalogued tag is deliberately wide. A rule with several patterns or prefixes selects
an image only when its tags match all of them, and an image may carry tags besides the catalogued
one, so a rule counts here as soon as one entry matches the tag; a selector's tags, unknown until
the lock is read, match every rule that selects tagged images; and a rule an earlier one claims is
not set aside. Refusing a rule that could not have acted costs an edit; letting through one that
can archives images clusters run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.policies.lifecycle_checks import ARCHIVE

PULL_COUNT = "sinceImagePulled"
TRANSITION = "transition"


@dataclass(frozen=True)
class CataloguedTag:
    """A tag the catalogue holds, shown as `reference`; `tag` None for a selector's, not yet known."""

    reference: str
    tag: str | None


@dataclass(frozen=True)
class ArchivingRule:
    """A transition rule and the catalogued tags it may archive."""

    priority: int
    description: str
    count_type: str
    count_number: int
    tags: tuple[CataloguedTag, ...]

    @property
    def counts_pulls(self) -> bool:
        return self.count_type == PULL_COUNT

    @property
    def title(self) -> str:
        return f"lifecycle rule {self.priority} ({self.description or 'no description'})"


def _pattern(text: str) -> re.Pattern[str]:
    """A `tagPatternList` entry: `*` stands for any characters, everything else for itself."""
    return re.compile(".*".join(re.escape(part) for part in text.split("*")))


def may_select(selection: Mapping[str, Any], tag: str | None) -> bool:
    """Whether a rule's tag selection may select an image carrying `tag` (None: any tag)."""
    status = selection.get("tagStatus")
    if status == "any":
        return True
    if status != "tagged":
        return False
    if tag is None:
        return True
    patterns = selection.get("tagPatternList", [])
    prefixes = selection.get("tagPrefixList", [])
    return any(_pattern(p).fullmatch(tag) for p in patterns) or any(tag.startswith(p) for p in prefixes)


def archiving_rules(policy: Mapping[str, Any], tags: Sequence[CataloguedTag]) -> list[ArchivingRule]:
    """The rules of a checked policy that move standard-class images to the archive and may select a
    catalogued tag, in priority order."""
    found = []
    for rule in sorted(policy["rules"], key=lambda rule: rule["rulePriority"]):
        action, selection = rule["action"], rule["selection"]
        if action.get("type") != TRANSITION or selection.get("storageClass") == ARCHIVE:
            continue
        selected = tuple(tag for tag in tags if may_select(selection, tag.tag))
        if selected:
            found.append(
                ArchivingRule(
                    priority=rule["rulePriority"],
                    description=str(rule.get("description", "")),
                    count_type=selection["countType"],
                    count_number=selection["countNumber"],
                    tags=selected,
                )
            )
    return found
