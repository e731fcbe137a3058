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
