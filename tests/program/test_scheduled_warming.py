"""`warm.schedule` wired into the stack: the catalogue the function warms, the plan with and without it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.config.load import load_stack_settings
from components.errors import InputError
from components.model.ecr import EcrRegistry
from components.policies.scheduled_warming import MiB
from components.program.lambda_package import PLACEHOLDER_FILE
from components.program.scheduled_warming import function_code, packaged_catalogue, scheduled_images
from components.program.warming import warm_specs
from components.warm.lambda_handler import CATALOGUE_FILE, PackagedCatalogue
from tests.config.test_settings import error_for, settings_for
from tests.conftest import RunProgram

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
BASE: dict[str, Any] = {"upstreams": {"quay.io": {}, "registry.k8s.io": {}}, "endpoints": {"enabled": False}}
IMAGES = "- quay.io/argoproj/argocd:v2.7.3\n- registry.k8s.io/pause:3.9\n"
FUNCTION = "aws:lambda/function:Function"
NEW_TYPES = {
    "ecr-pull-through-cache:index:ScheduledWarming",
    FUNCTION,
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
    "aws:scheduler/schedule:Schedule",
    "aws:sqs/queue:Queue",
    "aws:cloudwatch/logGroup:LogGroup",
}


def test_the_catalogue_becomes_what_the_function_warms(tmp_path: Path) -> None:
    settings = settings_for(
        {
            "upstreams": {
                "docker.io": {"prefix": "docker-hub", "credentialSecret": "ecr-pullthroughcache/hub"},
                "quay.io": {},
            }
        },
        tmp_path,
        images="- nginx:1.27\n- quay.io/argoproj/argocd\n",
    )
    host = EcrRegistry(ACCOUNT, settings.region).host
    specs = warm_specs(settings.images, settings.cache_prefixes(), host, settings.upstream_prefixes())
    nginx, argocd = scheduled_images(specs, sizes={"docker.io/library/nginx:1.27": 70 * MiB})
    assert (nginx.source, nginx.registry_url, nginx.repository, nginx.tag, nginx.size_bytes) == (
        "docker.io/library/nginx:1.27",
        f"https://{host}/docker-hub",
        "library/nginx",
        "1.27",
        70 * MiB,
    )
    assert (argocd.registry_url, argocd.repository, argocd.tag, argocd.size_bytes) == (
        f"https://{host}/quay",
        "argoproj/argocd",
        "latest",
        None,
    )


def test_the_plan_with_a_schedule_has_the_function_and_one_schedule(run_program: RunProgram) -> None:
    run = run_program(
        {**BASE, "warm": {"schedule": "rate(1 day)"}, "tags": {"team": "platform"}}, images=IMAGES
    )
    assert {type_ for type_, _ in run.raw_inputs} >= NEW_TYPES
    ((_, function),) = run.of_type(FUNCTION)
    assert function["runtime"] == "python3.12" and function["architectures"] == ["arm64"]
    assert function["handler"] == "components.warm.lambda_handler.handler"
    assets = function["code"].assets
    assert set(assets) == {CATALOGUE_FILE, PLACEHOLDER_FILE}, "the plan packages a placeholder, no wheels"
    packaged = PackagedCatalogue.model_validate_json(assets[CATALOGUE_FILE].text)
    assert sorted(i.source for s in packaged.shards for i in s) == [
        "quay.io/argoproj/argocd:v2.7.3",
        "registry.k8s.io/pause:3.9",
    ]
    ((_, schedule),) = run.of_type("aws:scheduler/schedule:Schedule")
    assert schedule["scheduleExpression"] == "rate(1 day)" and schedule["scheduleExpressionTimezone"] == "UTC"
    assert json.loads(schedule["target"]["input"]) == {"shard": 0, "of": 1}
    policy = json.loads(run.inputs("aws:iam/rolePolicy:RolePolicy", "warm-schedule-function")["policy"])
    pull = next(s for s in policy["Statement"] if s["Sid"] == "PullThroughCache")
    assert pull["Resource"] == [
        f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/k8s/*",
        f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/quay/*",
    ]
    for type_ in (FUNCTION, "aws:sqs/queue:Queue", "aws:cloudwatch/logGroup:LogGroup", "aws:iam/role:Role"):
        assert all(inputs["tags"] == {"team": "platform"} for _, inputs in run.of_type(type_)), type_
    # The plan's stand-in ARN for the function (program/plan.py StandInMocks).
    assert (
        run.plan.outputs["warm_schedule_function_arn"]
        == f"arn:aws:lambda:eu-west-1:{ACCOUNT}:warm-schedule-function"
    )


def test_the_plan_prints_the_functions_code_as_its_files(run_program: RunProgram) -> None:
    """`plan --json` is one JSON object: the code archive shows as its files, the catalogue as text."""
    run = run_program({**BASE, "warm": {"schedule": "rate(1 day)"}}, images=IMAGES)
    planned = json.loads(json.dumps(run.plan.as_json()))
    (function,) = [r for r in planned["resources"] if r["type"] == FUNCTION]
    files = function["inputs"]["code"]["assets"]
    assert set(files) == {CATALOGUE_FILE, PLACEHOLDER_FILE}
    catalogue = PackagedCatalogue.model_validate_json(files[CATALOGUE_FILE]["text"])
    assert len(catalogue.shards) == 1


def test_the_plan_without_a_schedule_registers_nothing_new(run_program: RunProgram) -> None:
    run = run_program(BASE, images=IMAGES)
    assert not {type_ for type_, _ in run.raw_inputs} & NEW_TYPES
    assert run.plan.outputs["warm_schedule_function_arn"] is None


def test_a_large_catalogue_gets_one_schedule_per_shard(run_program: RunProgram, tmp_path: Path) -> None:
    images = "".join(f"- quay.io/team/app{n:03d}:1\n" for n in range(200))
    run = run_program({**BASE, "warm": {"schedule": "cron(0 3 * * ? *)", "enabled": False}}, images=images)
    schedules = run.of_type("aws:scheduler/schedule:Schedule")
    ((_, function),) = run.of_type(FUNCTION)
    packaged = PackagedCatalogue.model_validate_json(function["code"].assets[CATALOGUE_FILE].text)
    assert len(schedules) == len(packaged.shards) > 1, "unknown sizes count as 512 MiB each"
    assert {json.loads(s["target"]["input"])["of"] for _, s in schedules} == {len(packaged.shards)}


def test_the_packaged_catalogue_is_the_sharded_one() -> None:
    from components.warm.lambda_handler import PackagedImage

    images = [
        PackagedImage(source=f"quay.io/a/b:{n}", registry_url="https://r/quay", repository="a/b", tag=str(n))
        for n in range(3)
    ]
    assert packaged_catalogue(images).shards == (tuple(images),)


@pytest.mark.parametrize(
    ("warm", "expected"),
    [
        ({"schedule": "daily"}, "warm.schedule: 'daily' is not a schedule expression"),
        ({"schedule": "cron(0 3 * * *)"}, "six fields"),
        (
            {"schedule": "rate(1 day)", "scheduleTimezone": "Mars/Olympus"},
            "warm.scheduleTimezone: 'Mars/Olympus'",
        ),
    ],
)
def test_bad_schedules_are_refused(tmp_path: Path, warm: dict[str, str], expected: str) -> None:
    assert expected in error_for({"upstreams": {"quay.io": {}}, "warm": warm}, tmp_path)


def test_a_bad_schedule_in_a_stack_file_names_the_key_and_its_line(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "images.yaml").write_text("- quay.io/a/b:1\n")
    (tmp_path / "Pulumi.bad.yaml").write_text(
        "config:\n"
        "  aws:region: eu-west-1\n"
        "  ecr-pull-through-cache:upstreams:\n"
        "    quay.io: {}\n"
        "  ecr-pull-through-cache:warm:\n"
        "    schedule: every day\n"
    )
    with pytest.raises(InputError) as caught:
        load_stack_settings("bad", root=tmp_path)
    message = str(caught.value)
    assert "Pulumi.bad.yaml:6: ecr-pull-through-cache:warm.schedule: 'every day' is not a schedule" in message
    assert "for example rate(1 day)" in message


def test_a_schedule_more_often_than_daily_is_a_warning(tmp_path: Path) -> None:
    settings = settings_for({"upstreams": {"quay.io": {}}, "warm": {"schedule": "rate(6 hours)"}}, tmp_path)
    assert any("at most once per 24 hours" in warning for warning in settings.warnings)


def test_pip_failing_under_the_engine_ends_the_run_with_pips_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    from components.program import lambda_package

    def failing() -> Path:
        raise lambda_package.PackagingError("pip could not fetch the wheels; check access to PyPI")

    monkeypatch.setattr(lambda_package, "install_dependencies", failing)
    with pytest.raises(pulumi.RunError, match="check access to PyPI"):
        function_code(packaged_catalogue([]), placeholder=False)
