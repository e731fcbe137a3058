"""Checking any lifecycle policy as AWS would, and the one way a policy is rendered.

Parameters: https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html;
evaluation rules: https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html. AWS
rejects `sinceImagePulled` with `expire` (aws/containers-roadmap#921, #2728) and a `tagged` rule
without exactly one of its tag lists at `pulumi up`, not at preview; checking here fails early.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from components.errors import LifecyclePolicyError
from components.policies.limits import ECR_LIFECYCLE_POLICY

MAX_WILDCARDS = 4
TAG_STATUSES = frozenset({"tagged", "untagged", "any"})
COUNT_TYPES = frozenset(
    {"imageCountMoreThan", "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned"}
)
DAY_COUNT_TYPES = COUNT_TYPES - {"imageCountMoreThan"}
ACTION_TYPES = frozenset({"expire", "transition"})
ARCHIVE = "archive"
STANDARD = "standard"
# Archived images are billed for at least 90 days, and no lifecycle rule may delete them sooner
# (https://docs.aws.amazon.com/AmazonECR/latest/userguide/archive-image.html).
ARCHIVE_MINIMUM_DAYS = 90
_RULE_KEYS = frozenset({"rulePriority", "description", "selection", "action"})
_SELECTION_KEYS = frozenset(
    {"tagStatus", "tagPrefixList", "tagPatternList", "countType", "countUnit", "countNumber", "storageClass"}
)
_ACTION_KEYS = frozenset({"type", "targetStorageClass"})


def _fail(priority: object, message: str) -> LifecyclePolicyError:
    return LifecyclePolicyError(f"lifecycle rule {priority}: {message}")


def _check_tag_lists(priority: object, selection: Mapping[str, Any]) -> None:
    status = selection.get("tagStatus")
    lists = [key for key in ("tagPrefixList", "tagPatternList") if key in selection]
    if status == "tagged" and len(lists) != 1:
        raise _fail(
            priority,
            "a 'tagged' rule needs exactly one of tagPrefixList and tagPatternList"
            + (" (not both)" if lists else "; use tagPatternList ['*'] for every tag"),
        )
    if status in ("untagged", "any") and lists:
        raise _fail(priority, f"a tagStatus {status!r} rule takes no tagPrefixList or tagPatternList")
    for key in lists:
        values = selection[key]
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
            raise _fail(priority, f"{key} must be a non-empty list of strings")
    for pattern in selection.get("tagPatternList", []):
        if pattern.count("*") > MAX_WILDCARDS:
            raise _fail(priority, f"pattern {pattern!r} has more than {MAX_WILDCARDS} '*' wildcards")


def _check_count(priority: object, selection: Mapping[str, Any], action_type: object) -> None:
    count_type = selection.get("countType")
    if count_type not in COUNT_TYPES:
        raise _fail(
            priority, f"countType must be one of {', '.join(sorted(COUNT_TYPES))}, not {count_type!r}"
        )
    if count_type in DAY_COUNT_TYPES and selection.get("countUnit") != "days":
        raise _fail(priority, f"countType {count_type} needs countUnit 'days'")
    if count_type == "imageCountMoreThan" and "countUnit" in selection:
        raise _fail(priority, "countType imageCountMoreThan takes no countUnit")
    number = selection.get("countNumber")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise _fail(priority, f"countNumber must be an integer of at least 1, not {number!r}")
    if count_type == "sinceImagePulled" and action_type == "expire":
        raise _fail(
            priority,
            "AWS rejects sinceImagePulled with an 'expire' action; it works only with 'transition' to "
            "the archive storage class (aws/containers-roadmap#921, #2728)",
        )
    storage_class = selection.get("storageClass")
    if storage_class not in (None, STANDARD, ARCHIVE):
        raise _fail(priority, f"storageClass must be 'standard' or 'archive', not {storage_class!r}")
    if count_type == "sinceImageTransitioned" and storage_class != ARCHIVE:
        raise _fail(priority, "countType sinceImageTransitioned selects storageClass 'archive'; set it")
    if storage_class == ARCHIVE and count_type != "sinceImageTransitioned":
        raise _fail(priority, "archived images are selected only with countType sinceImageTransitioned")
    if storage_class == ARCHIVE and action_type == "transition":
        raise _fail(priority, "archived images can only expire; they are already in the archive")
    if count_type == "sinceImageTransitioned" and number < ARCHIVE_MINIMUM_DAYS:
        raise _fail(
            priority,
            f"archived images are kept at least {ARCHIVE_MINIMUM_DAYS} days; ECR refuses a rule that expires "
            f"them after {number}",
        )


def _check_action(priority: object, action: Any) -> str:
    if not isinstance(action, Mapping):
        raise _fail(priority, "action must be an object with a 'type'")
    unknown = set(action) - _ACTION_KEYS
    if unknown:
        raise _fail(priority, f"unknown action key(s) {', '.join(sorted(unknown))}")
    action_type = action.get("type")
    if action_type not in ACTION_TYPES:
        raise _fail(priority, f"action type must be 'expire' or 'transition', not {action_type!r}")
    target = action.get("targetStorageClass")
    if action_type == "transition" and target != ARCHIVE:
        raise _fail(priority, "a 'transition' action needs targetStorageClass 'archive'")
    if action_type == "expire" and target is not None:
        raise _fail(priority, "an 'expire' action takes no targetStorageClass")
    return str(action_type)


def _check_rule(rule: Any) -> int:
    if not isinstance(rule, Mapping):
        raise LifecyclePolicyError("each lifecycle rule must be an object")
    priority = rule.get("rulePriority")
    if isinstance(priority, bool) or not isinstance(priority, int) or priority < 1:
        raise LifecyclePolicyError(f"rulePriority must be an integer of at least 1, not {priority!r}")
    unknown = set(rule) - _RULE_KEYS
    if unknown:
        raise _fail(priority, f"unknown key(s) {', '.join(sorted(unknown))}")
    selection = rule.get("selection")
    if not isinstance(selection, Mapping):
        raise _fail(priority, "selection must be an object")
    unknown = set(selection) - _SELECTION_KEYS
    if unknown:
        raise _fail(priority, f"unknown selection key(s) {', '.join(sorted(unknown))}")
    if selection.get("tagStatus") not in TAG_STATUSES:
        raise _fail(
            priority, f"tagStatus must be tagged, untagged or any, not {selection.get('tagStatus')!r}"
        )
    action_type = _check_action(priority, rule.get("action"))
    _check_tag_lists(priority, selection)
    _check_count(priority, selection, action_type)
    return priority


def validate_lifecycle_policy(doc: Mapping[str, Any]) -> list[str]:
    """Raise LifecyclePolicyError, naming the rule and the fix, for anything AWS would reject.

    Returns a sentence per rule that AWS accepts but that can never act (see `idle_rules`):
    the caller decides whether that is an error (a policy this project builds) or a warning
    (a hand-written one).
    """
    if not isinstance(doc, Mapping) or set(doc) != {"rules"}:
        raise LifecyclePolicyError("a lifecycle policy is an object with exactly one key, 'rules'")
    rules = doc["rules"]
    if not isinstance(rules, list) or not rules:
        raise LifecyclePolicyError("'rules' must be a non-empty list")
    priorities = [_check_rule(rule) for rule in rules]
    duplicates = sorted({p for p in priorities if priorities.count(p) > 1})
    if duplicates:
        raise LifecyclePolicyError(f"rulePriority values must be unique; repeated: {duplicates}")
    any_rules = [rule["rulePriority"] for rule in rules if rule["selection"]["tagStatus"] == "any"]
    if any_rules and (len(any_rules) > 1 or any_rules[0] != max(priorities)):
        raise _fail(
            any_rules[0],
            "a tagStatus 'any' rule must have the highest rulePriority, so there can be only one",
        )
    too_long = ECR_LIFECYCLE_POLICY.excess(_canonical_json(doc))
    if too_long:
        raise LifecyclePolicyError(too_long)
    return idle_rules(rules)


def _storage_class(selection: Mapping[str, Any]) -> str:
    return str(selection.get("storageClass", STANDARD))


def _claims(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> bool:
    """Whether every image `later` selects matches `earlier`'s tagging requirements first.

    A rule with several prefixes or patterns needs an image to match all of them, so a rule
    whose list includes every entry of an earlier rule's list selects only images the earlier
    one claims; the pattern `*` matches every tag. Storage classes are separate populations:
    a rule selects standard images unless it names `storageClass: archive`.
    """
    if _storage_class(earlier) != _storage_class(later):
        return False
    status, later_status = earlier["tagStatus"], later["tagStatus"]
    if status == "any":
        return True
    if status != later_status:
        return False
    if status == "untagged":
        return True
    if earlier.get("tagPatternList") == ["*"]:
        return True
    for key in ("tagPrefixList", "tagPatternList"):
        if key in earlier:
            return key in later and set(earlier[key]) <= set(later[key])
    return False


def idle_rules(rules: list[Any]) -> list[str]:
    """Rules that can never act: every image they select is claimed by a rule with a lower rulePriority.

    ECR: "an image that matches the tagging requirements of a rule cannot be expired or archived
    by a rule with a lower priority" (https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html).
    A `tagStatus: any` rule is idle when earlier rules claim both the untagged and every tagged image.
    """
    ordered = sorted(rules, key=lambda rule: rule["rulePriority"])
    idle: list[str] = []
    for index, rule in enumerate(ordered):
        selection = rule["selection"]
        earlier = [r["selection"] for r in ordered[:index]]
        if selection["tagStatus"] == "any":
            parts = [
                {**selection, "tagStatus": "untagged"},
                {**selection, "tagStatus": "tagged", "tagPatternList": ["*"]},
            ]
            claimed = all(any(_claims(e, part) for e in earlier) for part in parts)
        else:
            claimed = any(_claims(e, selection) for e in earlier)
        if claimed:
            idle.append(
                f"lifecycle rule {rule['rulePriority']} ({rule.get('description') or selection['tagStatus']}) can never "
                "act: every image it selects matches the tagging requirements of a rule with a lower rulePriority"
            )
    return idle


def _canonical_json(doc: Mapping[str, Any]) -> str:
    rules = sorted(doc["rules"], key=lambda rule: rule["rulePriority"])
    return json.dumps({"rules": rules}, sort_keys=True, separators=(",", ":"))


def render_lifecycle_policy(doc: Mapping[str, Any]) -> str:
    """Deterministic JSON, rules ascending by priority as the API returns them, so previews show no diff."""
    validate_lifecycle_policy(doc)
    return _canonical_json(doc)


def lifecycle_policy_from_json(text: str, *, source: str) -> dict[str, Any]:
    """A hand-written policy from stack config, parsed and validated (call `validate_lifecycle_policy` for idle rules)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise LifecyclePolicyError(
            f"{source} is not valid JSON: {error.msg} at line {error.lineno}"
        ) from None
    except RecursionError:
        raise LifecyclePolicyError(f"{source} nests arrays or objects too deeply to be a policy") from None
    if not isinstance(doc, dict):
        raise LifecyclePolicyError(f"{source} must be a JSON object with 'rules'")
    validate_lifecycle_policy(doc)
    return doc
