"""The stack's tags reach every taggable resource once, through one stack transform."""

from __future__ import annotations

import pulumi

from components.program.stack import tag_transform
from tests.conftest import RunProgram

ENDPOINTS = {
    "vpcId": "vpc-0a1b2c3d4e5f60718",
    "vpcCidrs": ["10.20.0.0/16"],
    "subnetIds": ["subnet-0a1b2c3d4e5f60001"],
    "routeTableIds": ["rtb-0a1b2c3d4e5f60001"],
}


def _apply(type_: str, props: dict[str, object]) -> dict[str, object] | None:
    args = pulumi.ResourceTransformArgs(True, type_, "x", props, pulumi.ResourceOptions())
    result = tag_transform({"team": "platform", "Name": "stack"})(args)
    assert result is None or isinstance(result, pulumi.ResourceTransformResult)
    return dict(result.props) if result is not None else None


def test_a_resources_own_tags_win_over_the_stacks() -> None:
    props = _apply("aws:ec2/vpcEndpoint:VpcEndpoint", {"tags": {"Name": "own"}, "vpcId": "v"})
    assert props == {"tags": {"team": "platform", "Name": "own"}, "vpcId": "v"}


def test_types_without_tags_are_left_alone() -> None:
    assert _apply("aws:ecr/pullThroughCacheRule:PullThroughCacheRule", {"ecrRepositoryPrefix": "p"}) is None


def test_every_taggable_resource_of_a_run_carries_the_stack_tags(run_program: RunProgram) -> None:
    run = run_program(
        {
            "upstreams": {"quay.io": {}},
            "tags": {"team": "platform"},
            "templates": {"resourceTags": {"a": "b"}},
            "endpoints": ENDPOINTS,
        }
    )
    tagged = [
        inputs["tags"]
        for (type_, _), inputs in run.raw_inputs.items()
        if type_ in {"aws:iam/role:Role", "aws:iam/policy:Policy", "aws:ec2/vpcEndpoint:VpcEndpoint"}
    ]
    assert len(tagged) == 5, "the templates' role, the node policy, ecr.api, ecr.dkr and s3"
    assert all(tags["team"] == "platform" for tags in tagged)
