"""Scheduled re-warming: the IAM documents as JSON, sharding and cost, packaging, the component under mocks."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import replace
from importlib.metadata import requires
from pathlib import Path
from typing import Any

import pulumi
import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

from components import scheduled_warming_package as package
from components.config.source import PROJECT_ROOT
from components.policies.access import PUSH_ACTIONS, iter_actions
from components.scheduled_warming import (
    PLACEHOLDER_FILE,
    ScheduledWarming,
    ScheduledWarmingArgs,
)
from components.scheduled_warming_policies import (
    ASSUMED_IMAGE_BYTES,
    LAMBDA_ARM64_USD_PER_GB_SECOND,
    SHARD_BUDGET_SECONDS,
    GiB,
    MiB,
    estimate_run_cost,
    estimated_seconds,
    function_policy,
    function_trust_policy,
    policy_excess,
    scheduler_policy,
    scheduler_trust_policy,
    shard_catalogue,
)
from components.scheduled_warming_schedule import schedule_expression_problem, schedule_expression_warning
from components.warm.lambda_handler import (
    CATALOGUE_FILE,
    PackagedCatalogue,
    PackagedImage,
    load_catalogue,
    shard_of,
)
from tests.conftest import RunProgram

ACCOUNT = "123456789012"
REGION = "eu-west-1"
LOG_GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:warm-schedule-logs-1234567"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:warm-schedule-dead-letters-1234567"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:warm-schedule-function-1234567"
REGISTRY_URL = f"https://{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/docker-hub"


def image(n: int, size: int | None = None) -> PackagedImage:
    return PackagedImage(
        source=f"docker.io/library/app{n:04d}:1",
        registry_url=REGISTRY_URL,
        repository=f"library/app{n:04d}",
        tag="1",
        size_bytes=size,
    )


def policy(prefixes: list[str], tags_new_repositories: bool = False) -> dict[str, Any]:
    return function_policy(
        partition="aws",
        region=REGION,
        account_id=ACCOUNT,
        prefixes=prefixes,
        log_group_arn=LOG_GROUP_ARN,
        dead_letter_queue_arn=QUEUE_ARN,
        tags_new_repositories=tags_new_repositories,
    )


# --- policies ---------------------------------------------------------------------------------


def test_the_function_pulls_and_caches_under_the_stacks_prefixes_only() -> None:
    statements = {s["Sid"]: s for s in policy(["docker-hub", "quay"])["Statement"]}
    assert statements["AuthenticateToEcr"] == {
        "Sid": "AuthenticateToEcr",
        "Effect": "Allow",
        "Action": ["ecr:GetAuthorizationToken"],
        "Resource": "*",
    }
    pull = statements["PullThroughCache"]
    assert pull["Action"] == [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:BatchImportUpstreamImage",
        "ecr:CreateRepository",
        "ecr:GetDownloadUrlForLayer",
    ]
    assert pull["Resource"] == [
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/docker-hub/*",
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/quay/*",
    ]
    assert statements["WriteItsOwnLogs"]["Resource"] == f"{LOG_GROUP_ARN}:*"
    assert statements["ReportFailedInvocations"] == {
        "Sid": "ReportFailedInvocations",
        "Effect": "Allow",
        "Action": ["sqs:SendMessage"],
        "Resource": QUEUE_ARN,
    }
    assert not set(iter_actions(policy(["docker-hub"]))) & PUSH_ACTIONS
    wildcards = [s for s in statements.values() if s["Resource"] == "*"]
    assert [s["Sid"] for s in wildcards] == ["AuthenticateToEcr"], (
        "only the action without a resource is on *"
    )


def test_tag_resource_only_when_templates_tag_new_repositories() -> None:
    def pull_actions(flag: bool) -> list[str]:
        pull = next(s for s in policy(["quay"], flag)["Statement"] if s["Sid"] == "PullThroughCache")
        return list(pull["Action"])

    assert "ecr:TagResource" not in pull_actions(False)
    assert "ecr:TagResource" in pull_actions(True)


def test_a_root_prefix_covers_every_repository() -> None:
    pull = next(s for s in policy(["ROOT"])["Statement"] if s["Sid"] == "PullThroughCache")
    assert pull["Resource"] == [f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/*"]


def test_trust_policies() -> None:
    (lambda_trust,) = function_trust_policy()["Statement"]
    assert (lambda_trust["Principal"], lambda_trust["Action"]) == (
        {"Service": "lambda.amazonaws.com"},
        "sts:AssumeRole",
    )
    (scheduler,) = scheduler_trust_policy(account_id=ACCOUNT)["Statement"]
    assert scheduler["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert scheduler["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_the_scheduler_invokes_this_function_only() -> None:
    document = scheduler_policy(function_arn=FUNCTION_ARN, dead_letter_queue_arn=QUEUE_ARN)
    by_action = {action: s["Resource"] for s in document["Statement"] for action in s["Action"]}
    assert by_action == {"lambda:InvokeFunction": FUNCTION_ARN, "sqs:SendMessage": QUEUE_ARN}


def test_policies_for_fifty_longest_prefixes_fit_an_inline_role_policy() -> None:
    prefixes = [f"p{index:02d}-{'x' * 26}" for index in range(50)]
    rendered = json.dumps(policy(prefixes, tags_new_repositories=True), indent=2)
    assert policy_excess(rendered) is None
    assert policy_excess(json.dumps({"Statement": ["x" * 10_241]})) is not None


# --- sharding and cost ------------------------------------------------------------------------


def flat(catalogue: PackagedCatalogue) -> list[str]:
    return sorted(i.source for shard in catalogue.shards for i in shard)


def load(shard: tuple[PackagedImage, ...]) -> float:
    return sum(estimated_seconds(i) for i in shard)


def test_a_small_catalogue_is_one_shard() -> None:
    images = [image(n, 50 * MiB) for n in range(10)]
    catalogue = shard_catalogue(images)
    assert len(catalogue.shards) == 1 and flat(catalogue) == sorted(i.source for i in images)


def test_a_large_catalogue_is_split_so_every_shard_is_within_the_budget() -> None:
    images = [image(n, (n % 7 + 1) * 300 * MiB) for n in range(200)]
    catalogue = shard_catalogue(images)
    assert len(catalogue.shards) > 1
    assert flat(catalogue) == sorted(i.source for i in images), "every image exactly once"
    assert max(load(shard) for shard in catalogue.shards) <= SHARD_BUDGET_SECONDS
    total = sum(estimated_seconds(i) for i in images)
    assert len(catalogue.shards) <= total / SHARD_BUDGET_SECONDS + 2, "not wastefully many"
    assert shard_catalogue(list(reversed(images))) == catalogue, "the order of the catalogue does not matter"


def test_unknown_sizes_count_as_the_assumed_size_and_a_huge_image_gets_a_shard_alone() -> None:
    assert estimated_seconds(image(1)) == estimated_seconds(image(1, ASSUMED_IMAGE_BYTES))
    huge = image(0, 40 * GiB)
    catalogue = shard_catalogue([huge, *(image(n, 10 * MiB) for n in range(1, 5))])
    assert ((huge,) in catalogue.shards) and len(catalogue.shards) == 2


def test_an_empty_catalogue_is_one_empty_shard() -> None:
    assert shard_catalogue([]).shards == ((),)


def test_the_cost_of_a_run_from_the_images_sizes() -> None:
    images = [image(n, 200 * MiB) for n in range(40)]  # 40 images, 8,000 MiB
    cost = estimate_run_cost(shard_catalogue(images), memory_mb=1024)
    seconds = 40 * (5 + 200 * MiB / 25e6)
    assert cost.function_seconds == pytest.approx(seconds)
    assert cost.gb_seconds == pytest.approx(seconds)  # 1,024 MB is 1 GB
    assert cost.lambda_usd == pytest.approx(seconds * LAMBDA_ARM64_USD_PER_GB_SECOND + cost.shards * 0.2e-6)
    assert cost.bytes_moved == 40 * 200 * MiB and cost.unknown_sizes == 0
    assert cost.transfer_usd == 0.0, "ECR to Lambda in one region is free"
    assert estimate_run_cost(
        shard_catalogue(images), memory_mb=1024, transfer_usd_per_gb=0.09
    ).transfer_usd == (pytest.approx(40 * 200 / 1024 * 0.09))
    assert estimate_run_cost(shard_catalogue([image(1)]), memory_mb=2048).unknown_sizes == 1


def test_the_event_must_match_the_packaged_shards() -> None:
    catalogue = shard_catalogue([image(1), image(2)])
    assert shard_of(catalogue, {"shard": 0, "of": 1}) == catalogue.shards[0]
    for event in ({"shard": 1, "of": 1}, {"shard": 0, "of": 2}):
        with pytest.raises(ValueError, match="run `pulumi up` so the schedules and the code agree"):
            shard_of(catalogue, event)
    with pytest.raises(ValueError):
        shard_of(catalogue, {"shard": -1, "of": 1})


# --- packaging --------------------------------------------------------------------------------


def test_the_pip_command_fetches_lambda_wheels_of_the_pins_only(tmp_path: Path) -> None:
    command = package.pip_install_command(tmp_path / "out", tmp_path / "requirements.txt", python="python3")
    text = " ".join(command)
    assert command[:4] == ["python3", "-m", "pip", "install"]
    assert "--platform manylinux2014_aarch64" in text and "--platform manylinux_2_28_aarch64" in text
    assert "--python-version 3.12" in text and "--implementation cp" in text
    assert {"--only-binary=:all:", "--no-deps"} <= set(command)
    assert f"--target {tmp_path / 'out'}" in text and f"--requirement {tmp_path / 'requirements.txt'}" in text
    assert package.LAMBDA_RUNTIME == "python3.12" and package.ARCHITECTURE == "arm64"


def test_the_cache_key_follows_the_pins() -> None:
    assert package.requirements_digest() == package.requirements_digest()
    changed = [*package.RUNTIME_REQUIREMENTS[:-1], "yarl==1.0.0"]
    assert package.requirements_digest(changed) != package.requirements_digest()


def _marker_environment() -> dict[str, str]:
    return {
        **{key: str(value) for key, value in default_environment().items()},
        "python_version": "3.12",
        "python_full_version": "3.12.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "aarch64",
        "platform_python_implementation": "CPython",
        "implementation_name": "cpython",
    }


def test_the_pins_hold_every_runtime_dependency_at_the_tested_versions() -> None:
    """pip runs with --no-deps: a dependency missing from the pins would be missing on Lambda."""
    pins = {Requirement(line).name.lower().replace("_", "-"): line for line in package.RUNTIME_REQUIREMENTS}
    environment = _marker_environment()
    for line in package.RUNTIME_REQUIREMENTS:
        for text in requires(Requirement(line).name) or []:
            needed = Requirement(text)
            if needed.marker is not None and not needed.marker.evaluate({**environment, "extra": ""}):
                continue
            name = needed.name.lower().replace("_", "-")
            assert name in pins, f"{line} needs {needed}, which is not pinned"
            assert needed.specifier.contains(pins[name].split("==")[1]), (
                f"{pins[name]} does not satisfy {needed}"
            )
    tested = {
        Requirement(line).name.lower(): line
        for line in (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    for name in ("aiohttp", "stamina", "pydantic"):
        assert pins[name] == tested[name], f"{name}: the function must run what the suite tests"


def test_the_handler_sources_are_the_warm_engine_and_nothing_of_pulumi() -> None:
    sources = package.handler_sources(PROJECT_ROOT)
    assert {
        "components/__init__.py",
        "components/warm/__init__.py",
        "components/warm/lambda_handler.py",
        "components/warm/warmer.py",
        "components/warm/client.py",
        "components/images.py",
    } <= set(sources)
    assert not {"components/settings.py", "components/scheduled_warming.py", "components/plan.py"} & set(
        sources
    )


def test_the_packaged_sources_import_the_handler_on_their_own(tmp_path: Path) -> None:
    """Copied alone, the sources import the handler with Pulumi, PyYAML and httpx made unimportable."""
    for relative in package.handler_sources(PROJECT_ROOT):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes((PROJECT_ROOT / relative).read_bytes())
    script = (
        "import sys\n"
        "for name in ('pulumi', 'pulumi_aws', 'yaml', 'httpx', 'components.config.settings'): sys.modules[name] = None\n"
        "import components.warm.lambda_handler as h\n"
        "assert h.__file__.startswith(sys.argv[1]), h.__file__\n"
        "print(h.handler.__name__)\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "handler"


def test_the_archive_holds_the_wheels_and_the_project_modules(tmp_path: Path) -> None:
    dependencies = tmp_path / "deps"
    (dependencies / "aiohttp" / "__pycache__").mkdir(parents=True)
    (dependencies / "aiohttp" / "__init__.py").write_text("")
    (dependencies / "aiohttp" / "__pycache__" / "x.pyc").write_bytes(b"")
    (dependencies / ".complete").write_text("")
    (dependencies / "bin").mkdir()
    (dependencies / "bin" / "idna").write_text("#!/home/someone/.venv/bin/python\n")
    (dependencies / "idna-3.20.dist-info").mkdir()
    (dependencies / "idna-3.20.dist-info" / "RECORD").write_text("../../bin/idna,sha256=...,223\n")
    (dependencies / "idna-3.20.dist-info" / "METADATA").write_text("Name: idna\nVersion: 3.20\n")
    files = package.archive_files(PROJECT_ROOT, dependencies)
    assert "idna-3.20.dist-info/METADATA" in files, "importlib.metadata still finds the versions"
    assert not [path for path in files if path.startswith("bin/") or path.endswith("/RECORD")], (
        "nothing that names the deploying machine"
    )
    assert files["aiohttp/__init__.py"] == dependencies / "aiohttp" / "__init__.py"
    assert files["components/warm/lambda_handler.py"] == PROJECT_ROOT / "components/warm/lambda_handler.py"
    assert not [path for path in files if "__pycache__" in path or path.endswith(".complete")]


def test_cached_wheels_are_used_without_running_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = tmp_path / package.requirements_digest()
    cached.mkdir()
    (cached / ".complete").write_text("")

    def no_pip(*_: object, **__: object) -> None:
        raise AssertionError("pip must not run when the wheels are cached")

    monkeypatch.setattr(subprocess, "run", no_pip)
    assert package.install_dependencies(tmp_path) == cached


def test_a_failed_pip_is_a_clear_error_and_leaves_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_pip(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found for yarl")

    monkeypatch.setattr(subprocess, "run", failing_pip)
    with pytest.raises(package.PackagingError, match=r"check access to PyPI.*No matching distribution"):
        package.install_dependencies(tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- the component under Pulumi's mock runtime ------------------------------------------------

FUNCTION = "aws:lambda/function:Function"
INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
SCHEDULE = "aws:scheduler/schedule:Schedule"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
QUEUE = "aws:sqs/queue:Queue"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
NEW_TYPES = {FUNCTION, INVOKE_CONFIG, SCHEDULE, QUEUE, LOG_GROUP}


class Recording(Mocks):
    def __init__(self) -> None:
        self.registered: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.registered[(args.typ, args.name)] = dict(args.inputs)
        service = args.typ.split(":")[1].split("/")[0]
        physical = f"{args.name}-1234567"
        state = {**args.inputs, "name": physical, "arn": f"arn:aws:{service}:{REGION}:{ACCOUNT}:{physical}"}
        if args.typ == LOG_GROUP:
            state["arn"] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{physical}"
        if args.typ == FUNCTION:
            state["arn"] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{physical}"
        if args.typ == QUEUE:
            state["url"] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{physical}"
        return f"{physical}-id", state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, []


def build(args: ScheduledWarmingArgs) -> tuple[Recording, dict[str, Any]]:
    mocks = Recording()
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(mocks, project="ecr-pull-through-cache", stack="test", preview=False)
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> pulumi.Output[Any]:
        component = ScheduledWarming("warm-schedule", args)
        outputs["shards"] = component.shards
        return pulumi.Output.all(
            component.function_arn, component.dead_letter_queue_url, component.schedule_arns
        ).apply(
            lambda values: outputs.update(
                function_arn=values[0], queue_url=values[1], schedule_arns=values[2]
            )
        )

    program()
    return mocks, outputs


ARGS = ScheduledWarmingArgs(
    schedule="rate(1 day)",
    images=[image(n, 100 * MiB) for n in range(3)],
    prefixes=["docker-hub", "quay"],
    partition="aws",
    region=REGION,
    account_id=ACCOUNT,
    placeholder_code=True,
    tags={"team": "platform"},
)


def of_type(mocks: Recording, type_: str) -> dict[str, dict[str, Any]]:
    return {name: inputs for (t, name), inputs in mocks.registered.items() if t == type_}


def test_the_component_registers_the_function_its_roles_queue_logs_and_a_schedule() -> None:
    mocks, outputs = build(ARGS)
    (function,) = of_type(mocks, FUNCTION).values()
    assert (function["runtime"], function["architectures"], function["handler"]) == (
        "python3.12",
        ["arm64"],
        "components.warm.lambda_handler.handler",
    )
    assert (function["memorySize"], function["timeout"]) == (1024, 900)
    assert function["loggingConfig"]["logGroup"] == "warm-schedule-logs-1234567"
    assets = function["code"].assets
    assert set(assets) == {CATALOGUE_FILE, PLACEHOLDER_FILE}, "the plan packages a placeholder, no wheels"
    packaged = PackagedCatalogue.model_validate_json(assets[CATALOGUE_FILE].text)
    assert packaged == shard_catalogue(ARGS.images)

    (queue,) = of_type(mocks, QUEUE).values()
    assert queue["sqsManagedSseEnabled"] is True and queue["messageRetentionSeconds"] == 1_209_600
    (logs,) = of_type(mocks, LOG_GROUP).values()
    assert logs["retentionInDays"] == 30 and logs["tags"] == {"team": "platform"}

    roles = of_type(mocks, ROLE)
    assert json.loads(roles["warm-schedule-function"]["assumeRolePolicy"]) == function_trust_policy()
    assert json.loads(roles["warm-schedule-scheduler"]["assumeRolePolicy"]) == scheduler_trust_policy(
        account_id=ACCOUNT
    )
    policies = of_type(mocks, ROLE_POLICY)
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:warm-schedule-dead-letters-1234567"
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:warm-schedule-function-1234567"
    assert json.loads(policies["warm-schedule-function"]["policy"]) == function_policy(
        partition="aws",
        region=REGION,
        account_id=ACCOUNT,
        prefixes=["docker-hub", "quay"],
        log_group_arn=f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:warm-schedule-logs-1234567",
        dead_letter_queue_arn=queue_arn,
    )
    assert json.loads(policies["warm-schedule-scheduler"]["policy"]) == scheduler_policy(
        function_arn=function_arn, dead_letter_queue_arn=queue_arn
    )

    (invoke,) = of_type(mocks, INVOKE_CONFIG).values()
    assert invoke["maximumRetryAttempts"] == 0
    assert invoke["destinationConfig"]["onFailure"]["destination"] == queue_arn

    (schedule,) = of_type(mocks, SCHEDULE).values()
    assert schedule["scheduleExpression"] == "rate(1 day)" and schedule["scheduleExpressionTimezone"] == "UTC"
    assert schedule["flexibleTimeWindow"] == {"mode": "FLEXIBLE", "maximumWindowInMinutes": 15}
    target = schedule["target"]
    assert (target["arn"], json.loads(target["input"])) == (function_arn, {"shard": 0, "of": 1})
    assert target["roleArn"].endswith("warm-schedule-scheduler-1234567")
    assert target["deadLetterConfig"] == {"arn": queue_arn}
    assert target["retryPolicy"] == {"maximumRetryAttempts": 3, "maximumEventAgeInSeconds": 3600}
    assert outputs["function_arn"] == function_arn and outputs["queue_url"].endswith(
        "warm-schedule-dead-letters-1234567"
    )


def test_one_schedule_per_shard_each_naming_its_shard() -> None:
    big = replace(ARGS, images=[image(n, 2 * GiB) for n in range(12)], schedule="cron(0 3 * * ? *)")
    mocks, outputs = build(big)
    schedules = of_type(mocks, SCHEDULE)
    assert outputs["shards"] == len(schedules) > 1 and len(outputs["schedule_arns"]) == len(schedules)
    events = sorted(json.loads(s["target"]["input"])["shard"] for s in schedules.values())
    assert events == list(range(len(schedules)))
    assert {json.loads(s["target"]["input"])["of"] for s in schedules.values()} == {len(schedules)}
    assert {s["scheduleExpression"] for s in schedules.values()} == {"cron(0 3 * * ? *)"}
    packaged = PackagedCatalogue.model_validate_json(
        next(iter(of_type(mocks, FUNCTION).values()))["code"].assets[CATALOGUE_FILE].text
    )
    assert len(packaged.shards) == len(schedules)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"log_retention_days": 31}, "CloudWatch Logs allows"),
        ({"memory_mb": 64}, "Lambda allows 128 to 10,240"),
        ({"flexible_window_minutes": 0}, "Scheduler allows 1 to 1,440"),
    ],
)
def test_values_aws_would_refuse_are_refused_before_registering(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(ARGS, **change)


def test_a_catalogue_written_by_the_package_loads_in_the_handler(tmp_path: Path) -> None:
    from components.warm.lambda_handler import render_catalogue

    catalogue = shard_catalogue([image(n) for n in range(3)])
    (tmp_path / CATALOGUE_FILE).write_text(render_catalogue(catalogue))
    assert load_catalogue(tmp_path / CATALOGUE_FILE) == catalogue


def test_a_stack_without_a_schedule_registers_none_of_it(run_program: RunProgram) -> None:
    run = run_program({"upstreams": {"quay.io": {}}, "endpoints": {"enabled": False}})
    assert not {type_ for type_, _ in run.raw_inputs} & NEW_TYPES


# --- the `warm.schedule` expression -----------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 day)",
        "rate(12 hours)",
        "rate(30 minutes)",
        "cron(0 3 * * ? *)",
        "cron(15 2 ? * MON-FRI *)",
        "cron(0/30 * * * ? *)",
        "at(2027-01-31T03:00:00)",
    ],
)
def test_documented_schedule_expressions_are_accepted(expression: str) -> None:
    assert schedule_expression_problem(expression) is None


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("rate(0 days)", "is not a schedule expression; for example rate(1 day)"),
        ("rate(1 week)", "is not a schedule expression"),
        ("daily", "is not a schedule expression"),
        ("cron(0 3 * * *)", "has six fields"),
        ("cron(0 3 1 * MON *)", "needs '?' in day-of-month or day-of-week"),
        ("at(2027-02-30T03:00:00)", "is not a date and time"),
        ("", "1 to 256 characters"),
        ("cron(" + "1," * 200 + "1 * * * ? *)", "1 to 256 characters"),
    ],
)
def test_schedule_expressions_scheduler_would_refuse_are_named(expression: str, message: str) -> None:
    problem = schedule_expression_problem(expression)
    assert problem is not None and message in problem


def test_a_schedule_more_often_than_daily_is_warned_about() -> None:
    assert schedule_expression_warning("rate(1 day)") is None
    assert schedule_expression_warning("cron(0 3 * * ? *)") is None
    warning = schedule_expression_warning("rate(6 hours)")
    assert warning is not None and "at most once per 24 hours" in warning


def test_retries_are_logged_as_json_lines_and_waiting_for_a_store_is_quiet() -> None:
    import io

    import stamina

    from components.warm.errors import BlobNotKept, TransportError
    from components.warm.lambda_handler import retry_logger

    out = io.StringIO()
    log = retry_logger(out)
    for error in (TransportError("GET https://registry/v2/: connection reset"), BlobNotKept("not yet")):
        log(stamina.instrumentation.RetryDetails("get", (), {}, 2, 0.44, 1.0, error))
    (line,) = out.getvalue().splitlines()
    assert json.loads(line) == {
        "retry": 2,
        "wait": 0.4,
        "reason": "GET https://registry/v2/: connection reset",
    }


def test_ecr_login_is_one_credential_source_per_region_and_none_off_ecr() -> None:
    from components.warm.lambda_handler import ecr_login

    docker_hub, quay = ecr_login(REGISTRY_URL), ecr_login(REGISTRY_URL.replace("docker-hub", "quay"))
    assert docker_hub is not None and docker_hub is quay
    assert ecr_login(REGISTRY_URL.replace("eu-west-1", "us-east-1")) is not docker_hub
    assert ecr_login("https://127.0.0.1:5000/docker-hub") is None


def test_the_catalogue_becomes_what_the_function_warms(tmp_path: Path) -> None:
    from components.model.ecr import EcrRegistry
    from components.program.warming import warm_specs
    from components.scheduled_warming import scheduled_images
    from tests.config.test_settings import settings_for

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


def test_schedule_time_zones_are_iana_names() -> None:
    from components.scheduled_warming_schedule import timezone_problem

    assert timezone_problem("UTC") is None and timezone_problem("Australia/Sydney") is None
    for bad in ("Mars/Olympus", "", "../../etc/passwd", "x" * 51):
        problem = timezone_problem(bad)
        assert problem is not None and "is not a time zone name" in problem
