"""URNs: one per resource, stable across versions through aliases, and refused when duplicated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.errors import InputError
from components.program.plan import plan_stack, run_plan
from tests.conftest import CapturingMocks, RunProgram

URNS = Path(__file__).parents[1] / "data" / "urns"
RULE = "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
TEMPLATE = "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate"
SECRET = "aws:secretsmanager/secret:Secret"
WARMED = "pulumi-python:dynamic/ecr:WarmedImage"
NO_ENDPOINTS: dict[str, Any] = {"endpoints": {"enabled": False}}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_urn_of_the_recorded_plans_is_still_registered_or_aliased(stack: str) -> None:
    recorded = set((URNS / f"{stack}.txt").read_text().split())
    plan = plan_stack(stack)
    answered = {r.urn for r in plan.resources} | {a for r in plan.resources for a in r.alias_urns}
    assert recorded - answered == set(), "an existing stack would lose these resources"


def test_prefixes_that_used_to_share_a_name_get_distinct_ones(run_program: RunProgram) -> None:
    run = run_program(
        {
            "upstreams": {"quay.io": {"prefix": "team/k8s"}, "registry.k8s.io": {"prefix": "team-k8s"}},
            **NO_ENDPOINTS,
        }
    )
    assert {name for name, _ in run.of_type(RULE)} == {"cache-rule-team/k8s", "cache-rule-team-k8s"}
    assert {name for name, _ in run.of_type(TEMPLATE)} == {"templates-team/k8s", "templates-team-k8s"}
    by_name = {r.name: r for r in run.plan.resources}
    assert by_name["cache-rule-team/k8s"].as_json()["aliases"] == ["rule-team/k8s"], (
        "its name before the re-layout, not the flattened one: that was the other rule's name"
    )


def test_root_and_root_lowercase_are_distinct(run_program: RunProgram) -> None:
    run = run_program(
        {
            "upstreams": {
                "333333333333.dkr.ecr.eu-west-1.amazonaws.com": {
                    "prefix": "ROOT",
                    "roleArn": "arn:aws:iam::123456789012:role/upstream",
                },
                "registry.k8s.io": {"prefix": "root"},
            },
            **NO_ENDPOINTS,
        }
    )
    assert {name for name, _ in run.of_type(RULE)} == {"cache-rule-ROOT", "cache-rule-root"}


def test_a_renamed_resource_answers_to_its_old_name(run_program: RunProgram) -> None:
    run = run_program(
        {"upstreams": {"quay.io": {"prefix": "team/quay"}}, **NO_ENDPOINTS}, images="- quay.io/a/b:1\n"
    )
    by_name = {r.name: r for r in run.plan.resources}
    rule = by_name["cache-rule-team/quay"]
    assert sorted(rule.alias_urns) == sorted(
        rule.urn.replace("::cache-rule-team/quay", old) for old in ("::rule-team/quay", "::rule-team-quay")
    )
    warmed = by_name["warm-quay.io/a/b:1"]
    assert warmed.alias_urns == [warmed.urn.replace("::warm-quay.io/a/b:1", "::warm-quay.io-a-b-1")]


def test_images_that_used_to_share_a_name_get_distinct_ones(run_program: RunProgram) -> None:
    run = run_program(
        {"upstreams": {"quay.io": {}}, **NO_ENDPOINTS}, images="- quay.io/a/b:1\n- quay.io/a-b:1\n"
    )
    assert {name for name, _ in run.of_type(WARMED)} == {"warm-quay.io/a/b:1", "warm-quay.io/a-b:1"}


def test_children_are_named_within_their_component_and_answer_to_their_names_before_it() -> None:
    plan = plan_stack("prod")
    for resource in plan.resources:
        if resource.parent is not None:
            assert resource.name.startswith(f"{resource.parent}-"), resource.name
    role = next(r for r in plan.resources if r.type == "aws:iam/role:Role")
    assert (role.name, role.as_json()["aliases"]) == ("templates-role", ["template-role"])


def test_the_plan_refuses_duplicate_urns_as_the_engine_does(tmp_path: Path, run_program: RunProgram) -> None:
    settings = run_program({"upstreams": {"quay.io": {}}, **NO_ENDPOINTS}).settings
    main = tmp_path / "__main__.py"
    main.write_text(
        "import pulumi_aws as aws\n"
        "aws.ecr.RepositoryCreationTemplate('same', prefix='a', applied_fors=['PULL_THROUGH_CACHE'])\n"
        "aws.ecr.RepositoryCreationTemplate('same', prefix='b', applied_fors=['PULL_THROUGH_CACHE'])\n"
    )
    with pytest.raises(
        InputError, match=r"two resources would have the URN .*::same; the Pulumi engine refuses"
    ):
        run_plan(settings, "test", main=main, mocks=CapturingMocks(settings))


def test_resources_named_in_the_cloud_by_their_prefix_are_deleted_before_replacement(
    run_program: RunProgram,
) -> None:
    run = run_program(
        {"upstreams": {"docker.io": {"username": "u"}}, **NO_ENDPOINTS}, secrets={"docker-hub-token": "t"}
    )
    dbr = {(r.type, r.name): r.delete_before_replace for r in run.plan.resources}
    assert dbr[(RULE, "cache-rule-docker-hub")] is True, "ECR refuses a second rule for the same prefix"
    assert dbr[(TEMPLATE, "templates-docker-hub")] is True, (
        "ECR refuses a second template for the same prefix"
    )
    assert dbr[(SECRET, "cache-credential-docker-hub")] is False, (
        "a deleted secret's name stays taken for 30 days"
    )
