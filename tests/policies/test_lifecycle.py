"""Lifecycle policies: AWS's own examples pass, a broken variant of each fails, every rule is checked."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.errors import LifecyclePolicyError
from components.policies.lifecycle import RetentionSettings, build_lifecycle_policy
from components.policies.lifecycle_checks import (
    lifecycle_policy_from_json,
    render_lifecycle_policy,
    validate_lifecycle_policy,
)

EXAMPLES = Path(__file__).parents[1] / "data" / "lifecycle_examples"
SOURCES: dict[str, str] = yaml.safe_load((EXAMPLES / "sources.yaml").read_text())
Policy = dict[str, Any]


def _first_selection(doc: Policy) -> dict[str, Any]:
    selection: dict[str, Any] = doc["rules"][0]["selection"]
    return selection


def _duplicate_priority(doc: Policy) -> None:
    doc["rules"].append(copy.deepcopy(doc["rules"][0]))


def _drop_tag_list(doc: Policy) -> None:
    _first_selection(doc).pop("tagPatternList", None)
    _first_selection(doc).pop("tagPrefixList", None)


def _unit_on_count(doc: Policy) -> None:
    _first_selection(doc)["countUnit"] = "days"


def _prefix_on_untagged(doc: Policy) -> None:
    _first_selection(doc)["tagPrefixList"] = ["v"]


def _both_lists(doc: Policy) -> None:
    _first_selection(doc)["tagPrefixList"] = ["prod"]
    _first_selection(doc)["tagPatternList"] = ["prod*"]


def _any_first(doc: Policy) -> None:
    doc["rules"][1]["rulePriority"] = 1
    doc["rules"][0]["rulePriority"] = 2


def _expire_unpulled(doc: Policy) -> None:
    doc["rules"][0]["action"] = {"type": "expire"}


def _transition_archived(doc: Policy) -> None:
    doc["rules"][0]["action"] = {"type": "transition", "targetStorageClass": "archive"}


def _too_many_wildcards(doc: Policy) -> None:
    _first_selection(doc)["tagPatternList"] = ["*a*b*c*d*"]


BREAKS: dict[str, tuple[Callable[[Policy], None], str]] = {
    "image-age-tag-pattern.json": (_drop_tag_list, "needs exactly one of tagPrefixList and tagPatternList"),
    "image-count-untagged.json": (_unit_on_count, "imageCountMoreThan takes no countUnit"),
    "multiple-rules-patterns.json": (_duplicate_priority, "must be unique"),
    "multiple-rules-prefixes.json": (_both_lists, r"\(not both\)"),
    "multiple-tags-single-rule.json": (_too_many_wildcards, "more than 4 '\\*' wildcards"),
    "multiple-tags-single-rule-count.json": (_unit_on_count, "imageCountMoreThan takes no countUnit"),
    "all-images.json": (_any_first, "'any' rule must have the highest rulePriority"),
    "archive-not-pulled.json": (_expire_unpulled, "rejects sinceImagePulled with an 'expire' action"),
    "expire-archived.json": (_transition_archived, "archived images can only expire"),
}


def load(name: str) -> Policy:
    doc: Policy = json.loads((EXAMPLES / name).read_text())
    return doc


def test_every_example_has_a_source_and_a_break() -> None:
    files = {p.name for p in EXAMPLES.glob("*.json")}
    assert files == set(SOURCES) == set(BREAKS)
    assert all(url.startswith("https://docs.aws.amazon.com/") for url in SOURCES.values())


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_aws_examples_are_accepted(name: str) -> None:
    validate_lifecycle_policy(load(name))


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_broken_variant_of_each_example_is_rejected(name: str) -> None:
    doc = load(name)
    breaker, message = BREAKS[name]
    breaker(doc)
    with pytest.raises(LifecyclePolicyError, match=message):
        validate_lifecycle_policy(doc)


def rule(priority: int = 1, **selection: Any) -> Policy:
    action = selection.pop("action", {"type": "expire"})
    return {"rulePriority": priority, "selection": selection, "action": action}


UNTAGGED_AGE = {
    "tagStatus": "untagged",
    "countType": "sinceImagePushed",
    "countUnit": "days",
    "countNumber": 3,
}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "exactly one key, 'rules'"),
        ({"rules": []}, "non-empty list"),
        ({"rules": [rule(0, **UNTAGGED_AGE)]}, "rulePriority must be an integer of at least 1"),
        ({"rules": [rule(True, **UNTAGGED_AGE)]}, "rulePriority must be an integer"),
        ({"rules": [{**rule(1, **UNTAGGED_AGE), "extra": 1}]}, "unknown key"),
        ({"rules": [rule(1, **{**UNTAGGED_AGE, "tagStatus": "some"})]}, "tagStatus must be"),
        ({"rules": [rule(1, **{**UNTAGGED_AGE, "countType": "sinceForever"})]}, "countType must be one of"),
        ({"rules": [rule(1, **{**UNTAGGED_AGE, "countUnit": "hours"})]}, "needs countUnit 'days'"),
        ({"rules": [rule(1, **{**UNTAGGED_AGE, "countNumber": 0})]}, "countNumber must be an integer"),
        ({"rules": [rule(1, **{**UNTAGGED_AGE, "countNumber": "3"})]}, "countNumber must be an integer"),
        ({"rules": [rule(1, **{**UNTAGGED_AGE, "tagPatternList": ["x"]})]}, "takes no tagPrefixList"),
        (
            {"rules": [rule(1, **{**UNTAGGED_AGE, "tagStatus": "tagged", "tagPatternList": []})]},
            "non-empty list",
        ),
        ({"rules": [rule(1, **UNTAGGED_AGE, action={"type": "delete"})]}, "action type must be"),
        (
            {"rules": [rule(1, **UNTAGGED_AGE, action={"type": "transition"})]},
            "needs targetStorageClass 'archive'",
        ),
        (
            {"rules": [rule(1, **UNTAGGED_AGE, action={"type": "expire", "targetStorageClass": "archive"})]},
            "takes no targetStorageClass",
        ),
        (
            {"rules": [rule(1, **{**UNTAGGED_AGE, "countType": "sinceImageTransitioned"})]},
            "selects storageClass 'archive'",
        ),
        (
            {"rules": [rule(1, **{**UNTAGGED_AGE, "storageClass": "archive"})]},
            "only with countType sinceImageTransitioned",
        ),
        ({"rules": [rule(1, **{**UNTAGGED_AGE, "storageClass": "glacier"})]}, "'standard' or 'archive'"),
        (
            {
                "rules": [
                    rule(1, tagStatus="any", countType="imageCountMoreThan", countNumber=5),
                    rule(2, tagStatus="any", countType="imageCountMoreThan", countNumber=9),
                ]
            },
            "only one",
        ),
        (
            {"rules": [rule(1, **{**UNTAGGED_AGE, "countType": "sinceImagePulled"})]},
            "aws/containers-roadmap#921",
        ),
        (
            {
                "rules": [
                    rule(
                        1, tagStatus="any", tagPrefixList=["v"], countType="imageCountMoreThan", countNumber=5
                    )
                ]
            },
            "a tagStatus 'any' rule takes no tagPrefixList",
        ),
        (
            {
                "rules": [
                    rule(
                        1,
                        **{
                            **UNTAGGED_AGE,
                            "countType": "sinceImageTransitioned",
                            "storageClass": "archive",
                            "countNumber": 89,
                        },
                    )
                ]
            },
            "archived images are kept at least 90 days",
        ),
    ],
)
def test_each_rule_is_checked(doc: Policy, message: str) -> None:
    with pytest.raises(LifecyclePolicyError, match=message):
        validate_lifecycle_policy(doc)


def test_four_wildcards_are_the_most_a_pattern_may_have() -> None:
    four = rule(
        1, tagStatus="tagged", tagPatternList=["*a*b*c*d"], countType="imageCountMoreThan", countNumber=1
    )
    validate_lifecycle_policy({"rules": [four]})
    five = rule(
        1, tagStatus="tagged", tagPatternList=["*a*b*c*d*"], countType="imageCountMoreThan", countNumber=1
    )
    with pytest.raises(LifecyclePolicyError, match="more than 4"):
        validate_lifecycle_policy({"rules": [five]})


def _policy_of_length(characters: int) -> Policy:
    """One rule whose description pads the canonical JSON to exactly `characters`."""
    doc = {"rules": [{**rule(1, **UNTAGGED_AGE), "description": ""}]}
    padding = characters - len(render_lifecycle_policy(doc))
    doc["rules"][0]["description"] = "x" * padding
    assert len(render_lifecycle_policy(doc)) == characters
    return doc


def test_size_limit_is_30720_characters() -> None:
    validate_lifecycle_policy(_policy_of_length(30_720))
    with pytest.raises(
        LifecyclePolicyError,
        match="the ECR lifecycle policy would be 30721 characters; AWS allows at most 30720",
    ):
        validate_lifecycle_policy(_policy_of_length(30_721))


DEV = RetentionSettings(untagged_expire_days=1, max_image_count=30)
PROD = RetentionSettings(
    untagged_expire_days=14,
    max_image_count=None,
    archive_unpulled_after_days=90,
    expire_archived_after_days=365,
)


@pytest.mark.parametrize("retention", [DEV, PROD], ids=["dev", "prod"])
def test_built_policies_are_valid_sorted_and_every_rule_can_act(retention: RetentionSettings) -> None:
    policy = build_lifecycle_policy(retention)
    assert validate_lifecycle_policy(policy) == []
    priorities = [r["rulePriority"] for r in policy["rules"]]
    assert priorities == sorted(priorities)
    assert policy["rules"][0]["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": retention.untagged_expire_days,
    }


def test_prod_archives_unpulled_images_and_never_expires_them_by_pull_age() -> None:
    rules = build_lifecycle_policy(PROD)["rules"]
    archive = next(r for r in rules if r["action"]["type"] == "transition")
    assert archive["selection"]["countType"] == "sinceImagePulled"
    assert archive["selection"]["countNumber"] == 90
    assert archive["action"]["targetStorageClass"] == "archive"
    assert not any(
        r["selection"]["countType"] == "sinceImagePulled" and r["action"]["type"] == "expire" for r in rules
    )


def test_archived_images_expire_only_when_asked_and_not_before_90_days() -> None:
    rules = build_lifecycle_policy(PROD)["rules"]
    expire_archived = next(r for r in rules if r["selection"].get("storageClass") == "archive")
    assert expire_archived["selection"]["countType"] == "sinceImageTransitioned"
    assert expire_archived["selection"]["countNumber"] == 365
    assert expire_archived["action"] == {"type": "expire"}
    keep = RetentionSettings(14, None, archive_unpulled_after_days=90)
    assert not any(r["selection"].get("storageClass") for r in build_lifecycle_policy(keep)["rules"])
    with pytest.raises(LifecyclePolicyError, match="refuses rules that delete them sooner"):
        build_lifecycle_policy(
            RetentionSettings(14, None, archive_unpulled_after_days=90, expire_archived_after_days=30)
        )
    with pytest.raises(LifecyclePolicyError, match="nothing is archived without it"):
        build_lifecycle_policy(RetentionSettings(14, 500, expire_archived_after_days=365))


def test_the_repository_stacks_retention_differs_as_configured() -> None:
    from components.config.load import load_stack_settings

    def rules(stack: str) -> dict[int, Policy]:
        policy = json.loads(load_stack_settings(stack).lifecycle_policy_json)
        return {r["rulePriority"]: r["selection"] for r in policy["rules"]}

    dev, prod = rules("dev"), rules("prod")
    assert (dev[1]["countNumber"], prod[1]["countNumber"]) == (1, 14), "untagged digests expire sooner in dev"
    assert dev[2]["countType"] == "imageCountMoreThan" and dev[2]["countNumber"] == 30, "dev caps the count"
    assert prod[2]["countType"] == "sinceImagePulled", "prod archives instead of capping"
    assert prod[3]["storageClass"] == "archive"


def test_blog_policy_is_refused_with_both_reasons() -> None:
    with pytest.raises(LifecyclePolicyError) as caught:
        build_lifecycle_policy(RetentionSettings(1, 30, expire_tagged_unpulled_after_days=14))
    message = str(caught.value)
    assert "sinceImagePulled works only with a 'transition'" in message
    assert "needs exactly one of tagPrefixList or tagPatternList" in message
    assert "archiveUnpulledAfterDays" in message


@pytest.mark.parametrize(
    ("retention", "key"),
    [
        (RetentionSettings(0, 30), "untaggedExpireDays"),
        (RetentionSettings(1, 0), "maxImageCount"),
        (RetentionSettings(1, 30, archive_unpulled_after_days=-1), "archiveUnpulledAfterDays"),
    ],
)
def test_retention_numbers_are_checked(retention: RetentionSettings, key: str) -> None:
    with pytest.raises(LifecyclePolicyError, match=f"retention.{key} must be a whole number"):
        build_lifecycle_policy(retention)


def test_rendering_is_stable_whatever_the_rule_order() -> None:
    policy = build_lifecycle_policy(PROD)
    shuffled = copy.deepcopy(policy)
    random.Random(7).shuffle(shuffled["rules"])
    assert shuffled["rules"] != policy["rules"]
    assert render_lifecycle_policy(shuffled) == render_lifecycle_policy(policy)
    assert [r["rulePriority"] for r in json.loads(render_lifecycle_policy(shuffled))["rules"]] == [1, 2, 3]


def test_hand_written_policy_from_json() -> None:
    text = (EXAMPLES / "image-age-tag-pattern.json").read_text()
    assert lifecycle_policy_from_json(text, source="lifecyclePolicy")["rules"][0]["rulePriority"] == 1
    with pytest.raises(LifecyclePolicyError, match="lifecyclePolicy is not valid JSON"):
        lifecycle_policy_from_json("{rules:", source="lifecyclePolicy")


def _rule(priority: int, **selection: Any) -> Policy:
    return {"rulePriority": priority, "selection": selection, "action": {"type": "expire"}}


def test_the_old_prod_policy_has_a_count_cap_that_never_acts() -> None:
    """Untagged expiry, archive of tagged `*`, then an `any` cap: every image is claimed before the cap."""
    untagged = _rule(1, tagStatus="untagged", countType="sinceImagePushed", countUnit="days", countNumber=14)
    archive = _rule(
        2,
        tagStatus="tagged",
        tagPatternList=["*"],
        countType="sinceImagePulled",
        countUnit="days",
        countNumber=90,
    )
    archive["action"] = {"type": "transition", "targetStorageClass": "archive"}
    cap = _rule(10, tagStatus="any", countType="imageCountMoreThan", countNumber=500)
    (idle,) = validate_lifecycle_policy({"rules": [untagged, archive, cap]})
    assert idle.startswith("lifecycle rule 10 (any) can never act")
    assert validate_lifecycle_policy({"rules": [untagged, cap]}) == [], "the cap still acts on tagged images"


@pytest.mark.parametrize(
    ("earlier", "later", "idle"),
    [
        ({"tagPrefixList": ["v"]}, {"tagPrefixList": ["v", "rc"]}, True),
        ({"tagPrefixList": ["v", "rc"]}, {"tagPrefixList": ["v"]}, False),
        ({"tagPatternList": ["*"]}, {"tagPrefixList": ["prod"]}, True),
        ({"tagPrefixList": ["prod"]}, {"tagPatternList": ["*"]}, False),
        ({"tagPatternList": ["prod*"]}, {"tagPrefixList": ["prod"]}, False),
    ],
)
def test_a_tagged_rule_is_idle_only_when_an_earlier_one_claims_all_it_selects(
    earlier: Policy, later: Policy, idle: bool
) -> None:
    count = {"countType": "imageCountMoreThan", "countNumber": 5}
    rules = [_rule(1, tagStatus="tagged", **earlier, **count), _rule(2, tagStatus="tagged", **later, **count)]
    assert bool(validate_lifecycle_policy({"rules": rules})) is idle


def test_the_count_cap_and_archiving_cannot_both_be_built() -> None:
    with pytest.raises(LifecyclePolicyError, match="only the first rule that matches an image's tags act"):
        build_lifecycle_policy(RetentionSettings(14, 500, archive_unpulled_after_days=90))
