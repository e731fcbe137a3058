"""Retention settings that reach beyond the lifecycle policy: pull-time update exclusions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.config.test_settings import error_for, settings_for
from tests.conftest import RunProgram

PUBLIC: dict[str, Any] = {"quay.io": {}}
SCANNER = "arn:aws:iam::123456789012:role/security/trivy-scanner"
SNYK = "arn:aws:iam::210987654321:role/snyk-ecr-import"
EXCLUSION = "aws:ecr/pullTimeUpdateExclusion:PullTimeUpdateExclusion"


def test_pull_time_exclusions_are_role_arns_kept_in_order(tmp_path: Path) -> None:
    settings = settings_for(
        {"upstreams": PUBLIC, "retention": {"pullTimeExclusions": [SCANNER, SNYK]}}, tmp_path
    )
    assert settings.pull_time_exclusions == (SCANNER, SNYK)
    assert settings_for({"upstreams": PUBLIC}, tmp_path).pull_time_exclusions == ()


@pytest.mark.parametrize(
    ("arn", "message"),
    [
        (
            "arn:aws:iam::123456789012:user/scanner",
            "retention.pullTimeExclusions.0: 'arn:aws:iam::123456789012:user/scanner' is not an IAM role ARN",
        ),
        ("trivy-scanner", "is not an IAM role ARN"),
        ("arn:aws:iam::12345:role/scanner", "is not an IAM role ARN"),
        ("arn:aws:iam::123456789012:role/", "is not an IAM role ARN"),
        ("arn:aws:iam::123456789012:role/a b", "is not an IAM role ARN"),
        ("arn:aws:sts::123456789012:assumed-role/scanner/session", "is not an IAM role ARN"),
        (
            "arn:aws-us-gov:iam::123456789012:role/scanner",
            "is in partition aws-us-gov; this stack's region eu-west-1 is in aws",
        ),
        ("arn:aws:iam::123456789012:role/" + "r" * 65, "a role name has at most 64 characters"),
        ("arn:aws:iam::123456789012:role/" + "p/" * 90 + "r", "longer than 200 characters"),
    ],
)
def test_a_pull_time_exclusion_ecr_would_refuse_names_its_key(tmp_path: Path, arn: str, message: str) -> None:
    assert message in error_for({"upstreams": PUBLIC, "retention": {"pullTimeExclusions": [arn]}}, tmp_path)


def test_at_most_one_hundred_pull_time_exclusions_each_once(tmp_path: Path) -> None:
    many = [f"arn:aws:iam::123456789012:role/scanner-{n}" for n in range(101)]
    message = error_for({"upstreams": PUBLIC, "retention": {"pullTimeExclusions": many}}, tmp_path)
    assert "retention.pullTimeExclusions: lists 101 roles; ECR allows 100 per registry" in message
    twice = error_for(
        {"upstreams": PUBLIC, "retention": {"pullTimeExclusions": [SCANNER, SCANNER]}}, tmp_path
    )
    assert f"retention.pullTimeExclusions.1: {SCANNER!r} is listed twice" in twice


def test_a_bad_exclusion_in_a_stack_file_names_its_line(tmp_path: Path) -> None:
    from components.config.load import load_stack_settings

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "Pulumi.yaml").write_text((root / "Pulumi.yaml").read_text())
    (tmp_path / "images.yaml").write_text("- quay.io/a/b:1\n")
    (tmp_path / "Pulumi.x.yaml").write_text(
        "config:\n"
        "  aws:region: eu-west-1\n"
        "  ecr-pull-through-cache:upstreams:\n"
        "    quay.io: {}\n"
        "  ecr-pull-through-cache:retention:\n"
        "    pullTimeExclusions:\n"
        f"      - {SCANNER}\n"
        "      - arn:aws:iam::123456789012:user/scanner\n"
    )
    with pytest.raises(Exception) as caught:
        load_stack_settings("x", root=tmp_path)
    assert "Pulumi.x.yaml:8: ecr-pull-through-cache:retention.pullTimeExclusions.1:" in str(caught.value)


def test_each_exclusion_is_one_pull_time_update_exclusion(run_program: RunProgram) -> None:
    run = run_program(
        {
            "upstreams": PUBLIC,
            "endpoints": {"enabled": False},
            "retention": {"pullTimeExclusions": [SCANNER, SNYK]},
        }
    )
    exclusions = dict(run.of_type(EXCLUSION))
    assert exclusions == {
        "templates-pull-time-exclusion-123456789012/security/trivy-scanner": {"principalArn": SCANNER},
        "templates-pull-time-exclusion-210987654321/snyk-ecr-import": {"principalArn": SNYK},
    }
    parents = {r.name: r.parent for r in run.plan.resources if r.type == EXCLUSION}
    assert set(parents.values()) == {"templates"}


def test_no_exclusions_register_nothing(run_program: RunProgram) -> None:
    run = run_program({"upstreams": PUBLIC, "endpoints": {"enabled": False}})
    assert run.of_type(EXCLUSION) == []


# Archive against the catalogue: an archived image cannot be pulled (404), so a lifecycle rule that
# can archive a catalogued image needs a schedule that keeps it pulled, by a clear margin.
ARCHIVE_90: dict[str, Any] = {"archiveUnpulledAfterDays": 90}


def _archive(
    tmp_path: Path, retention: dict[str, Any], warm: dict[str, Any] | None = None, **kwargs: Any
) -> str:
    values = {"upstreams": PUBLIC, "retention": retention, **({"warm": warm} if warm else {})}
    return error_for(values, tmp_path, **kwargs)


def test_archiving_without_a_schedule_is_refused(tmp_path: Path) -> None:
    message = _archive(tmp_path, ARCHIVE_90)
    assert (
        "ecr-pull-through-cache:retention.archiveUnpulledAfterDays: archives tagged images nobody pulled for "
        "90 days, and warm.schedule is not set" in message
    )
    assert "404" in message and "quay.io/a/b:1" in message
    assert "fix: set warm.schedule to re-warm the catalogue at least every 29 days" in message


@pytest.mark.parametrize(
    "schedule",
    ["rate(1 day)", "cron(0 3 * * ? *)", "cron(0 3 ? * MON *)", "rate(29 days)", "cron(0 3 1,15 * ? *)"],
)
def test_archiving_with_a_schedule_well_inside_it_is_accepted(tmp_path: Path, schedule: str) -> None:
    settings = settings_for(
        {"upstreams": PUBLIC, "retention": ARCHIVE_90, "warm": {"schedule": schedule}}, tmp_path
    )
    assert "sinceImagePulled" in settings.lifecycle_policy_json


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (
            "cron(0 8 1 * ? *)",
            "warm.schedule cron(0 8 1 * ? *) leaves up to 31 days between re-warms",
        ),
        ("rate(30 days)", "warm.schedule rate(30 days) leaves up to 30 days between re-warms"),
        ("at(2027-01-31T03:00:00)", "warm.schedule at(2027-01-31T03:00:00) runs once"),
        ("cron(0 3 * * ? 2026-2030)", "its year field ends it: no run after 2030"),
        ("cron(0 0 30 2 ? *)", "it never runs"),
    ],
)
def test_archiving_with_a_schedule_too_slow_or_ending_is_refused(
    tmp_path: Path, schedule: str, expected: str
) -> None:
    message = _archive(tmp_path, ARCHIVE_90, {"schedule": schedule})
    assert "ecr-pull-through-cache:retention.archiveUnpulledAfterDays" in message and expected in message


def test_the_refusal_says_how_often_or_how_long(tmp_path: Path) -> None:
    message = _archive(tmp_path, ARCHIVE_90, {"schedule": "cron(0 8 1 * ? *)"})
    assert (
        "re-warm the catalogue at least every 29 days" in message
        and "archiveUnpulledAfterDays to at least 96" in message
    )
    short = _archive(tmp_path, {"archiveUnpulledAfterDays": 10}, {"schedule": "rate(3 days)"})
    assert "archiveUnpulledAfterDays to at least 12" in short
    assert settings_for(
        {
            "upstreams": PUBLIC,
            "retention": {"archiveUnpulledAfterDays": 10},
            "warm": {"schedule": "rate(2 days)"},
        },
        tmp_path,
    )


def test_daylight_saving_counts_in_the_gap(tmp_path: Path) -> None:
    """A weekly 02:30 run is skipped the Sunday Europe's clocks go forward: two weeks less an hour."""
    schedule = {"schedule": "cron(30 2 ? * SUN *)", "scheduleTimezone": "Europe/Berlin"}
    assert "leaves up to 13 days 23 hours" in _archive(tmp_path, {"archiveUnpulledAfterDays": 43}, schedule)
    assert settings_for(
        {"upstreams": PUBLIC, "retention": {"archiveUnpulledAfterDays": 44}, "warm": schedule}, tmp_path
    )


def test_an_empty_catalogue_may_archive_without_a_schedule(tmp_path: Path) -> None:
    assert settings_for({"upstreams": PUBLIC, "retention": ARCHIVE_90}, tmp_path, images="")


def test_a_bad_schedule_is_reported_once(tmp_path: Path) -> None:
    message = _archive(tmp_path, ARCHIVE_90, {"schedule": "cron(0 24 * * ? *)"})
    assert "hours: 24 is outside 0-23" in message and "archiveUnpulledAfterDays" not in message


def _policy(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"rules": [{"rulePriority": n, **rule} for n, rule in enumerate(rules, 1)]}


ARCHIVE_PUSHED: dict[str, Any] = {
    "description": "archive old pushes",
    "selection": {
        "tagStatus": "tagged",
        "tagPatternList": ["*"],
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 30,
    },
    "action": {"type": "transition", "targetStorageClass": "archive"},
}


def test_a_hand_written_rule_archiving_catalogued_tags_by_push_is_refused(tmp_path: Path) -> None:
    message = error_for({"upstreams": PUBLIC, "lifecyclePolicy": _policy(ARCHIVE_PUSHED)}, tmp_path)
    assert "ecr-pull-through-cache:lifecyclePolicy: lifecycle rule 1 (archive old pushes) archives" in message
    assert "by sinceImagePushed, whatever their pulls" in message and "quay.io/a/b:1" in message
    with_schedule = {
        "upstreams": PUBLIC,
        "lifecyclePolicy": _policy(ARCHIVE_PUSHED),
        "warm": {"schedule": "rate(1 day)"},
    }
    assert "whatever their pulls" in error_for(with_schedule, tmp_path), "no schedule protects from it"


def test_a_hand_written_rule_no_catalogued_tag_matches_may_archive(tmp_path: Path) -> None:
    narrow = {**ARCHIVE_PUSHED, "selection": {**ARCHIVE_PUSHED["selection"], "tagPatternList": ["pr-*"]}}
    assert settings_for({"upstreams": PUBLIC, "lifecyclePolicy": _policy(narrow)}, tmp_path)
    prefixed = {**ARCHIVE_PUSHED, "selection": {**ARCHIVE_PUSHED["selection"], "tagPatternList": ["v*"]}}
    message = error_for(
        {"upstreams": PUBLIC, "lifecyclePolicy": _policy(prefixed)}, tmp_path, images="- quay.io/a/b:v1\n"
    )
    assert "quay.io/a/b:v1" in message


def test_a_selector_whose_tags_are_not_known_yet_counts_as_matching(tmp_path: Path) -> None:
    narrow = {**ARCHIVE_PUSHED, "selection": {**ARCHIVE_PUSHED["selection"], "tagPatternList": ["pr-*"]}}
    selector = "- image: quay.io/a/b\n  semver: '>=1'\n"
    message = error_for({"upstreams": PUBLIC, "lifecyclePolicy": _policy(narrow)}, tmp_path, images=selector)
    assert "quay.io/a/b (a selector: any tag it selects)" in message


def test_a_hand_written_pull_based_archive_needs_the_schedule_too(tmp_path: Path) -> None:
    pulled = {
        "description": "archive unpulled",
        "selection": {
            "tagStatus": "any",
            "countType": "sinceImagePulled",
            "countUnit": "days",
            "countNumber": 30,
        },
        "action": {"type": "transition", "targetStorageClass": "archive"},
    }
    message = error_for({"upstreams": PUBLIC, "lifecyclePolicy": _policy(pulled)}, tmp_path)
    assert (
        "ecr-pull-through-cache:lifecyclePolicy: archives tagged images nobody pulled for 30 days" in message
    )
    ok = {"upstreams": PUBLIC, "lifecyclePolicy": _policy(pulled), "warm": {"schedule": "rate(1 day)"}}
    assert settings_for(ok, tmp_path)


def test_the_refusal_points_at_the_line_in_the_stack_file(tmp_path: Path) -> None:
    from components.config.load import load_stack_settings

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "Pulumi.yaml").write_text((root / "Pulumi.yaml").read_text())
    (tmp_path / "images.yaml").write_text("- quay.io/a/b:1\n")
    (tmp_path / "Pulumi.x.yaml").write_text(
        "config:\n"
        "  aws:region: eu-west-1\n"
        "  ecr-pull-through-cache:upstreams:\n"
        "    quay.io: {}\n"
        "  ecr-pull-through-cache:retention:\n"
        "    untaggedExpireDays: 14\n"
        "    archiveUnpulledAfterDays: 90\n"
        "  ecr-pull-through-cache:endpoints:\n"
        "    enabled: false\n"
    )
    with pytest.raises(Exception) as caught:
        load_stack_settings("x", root=tmp_path)
    assert "Pulumi.x.yaml:7: ecr-pull-through-cache:retention.archiveUnpulledAfterDays:" in str(caught.value)


def test_the_exclusion_grammar_is_botocores_for_roles() -> None:
    """ECR's own `PrincipalArn` shape, from botocore's model: what the check accepts, ECR accepts."""
    import re as regex

    from botocore.loaders import Loader

    from components.model.arns import PRINCIPAL_ARN_MAX, PRINCIPAL_ROLE_ARN

    shape = Loader().load_service_model("ecr", "service-2")["shapes"]["PrincipalArn"]
    botocore_pattern = regex.compile(shape["pattern"].removeprefix("^").removesuffix("$"), regex.ASCII)
    assert shape["max"] == PRINCIPAL_ARN_MAX
    samples = [
        SCANNER,
        SNYK,
        "arn:aws-us-gov:iam::123456789012:role/a",
        "arn:aws:iam::123456789012:role/a/b/c",
    ]
    samples += [
        "arn:aws:iam::123456789012:user/a",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::1:role/a",
    ]
    samples += [
        "arn:aws:iam::123456789012:role/a//b",
        "arn:aws:iam::123456789012:role/a b",
        "arn:aws:iam::123456789012:role/é",
    ]
    for arn in samples:
        is_role = ":role/" in arn
        assert bool(PRINCIPAL_ROLE_ARN.fullmatch(arn)) == (
            is_role and bool(botocore_pattern.fullmatch(arn))
        ), arn
