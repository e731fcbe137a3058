"""`doctor`: each check against moto, and botocore's Stubber for the ECR calls moto lacks.

moto 5.2.5 has no DescribePullThroughCacheRules, ValidatePullThroughCacheRule or
DescribeRepositoryCreationTemplates, ignores DescribeImages' `imageStatus` filter and does not
implement UpdateImageStorageClass: those go to clients wrapped in a Stubber, with the request
each must receive.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from components.cli import doctor as doctor_cli
from components.cli.main import main
from components.config.settings import StackSettings
from components.program import doctor
from components.program.doctor import diagnose, expected_for
from components.program.doctor_report import AwsClients, Report
from tests.config.test_settings import settings_for

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's account
TOKEN = "tok-NEVER-PRINT-4711"
BROKEN_VALUE = "half-a-secret-NEVER-PRINT-0815"
CONSUMER = "222222222222"
UPSTREAMS = {"docker-hub": "registry-1.docker.io", "chainguard": "cgr.dev", "quay": "quay.io"}
CATALOGUED_REPOSITORIES = ("quay/a/b",)  # settings_for's catalogue: quay.io/a/b:1


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto, except its registry-policy action allow-list (CreateRepository, ReplicateImage only).

    AWS also accepts ecr:BatchImportUpstreamImage there, which pull-through cache needs
    (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-iam.html).
    """
    from moto.ecr.models import ECRBackend

    monkeypatch.setattr(ECRBackend, "_validate_registry_policy_action", lambda self, text: None)
    with mock_aws():
        yield


def stack(tmp_path: Path, vpc_id: str, **upstream_options: Any) -> StackSettings:
    values: dict[str, Any] = {
        "upstreams": {
            "docker.io": {"username": "bot", **upstream_options},
            "cgr.dev": {"credentialSecret": "ecr-pullthroughcache/cg"},
            "quay.io": {},
        },
        "docker-hub-token": TOKEN,
        "access": {"accountIds": [CONSUMER]},
        "endpoints": {
            "vpcId": vpc_id,
            "vpcCidrs": ["10.0.0.0/16"],
            "subnetIds": ["subnet-0a1b2c3d4e5f60001"],
            "routeTableIds": ["rtb-0a1b2c3d4e5f60001"],
        },
    }
    return settings_for(values, tmp_path, secrets=("docker-hub-token",))  # type: ignore[no-any-return]


class Account:
    """A moto account with the stack's pieces, some missing or wrong."""

    def __init__(self) -> None:
        self.ecr = boto3.client("ecr", region_name=REGION)
        self.secrets = boto3.client("secretsmanager", region_name=REGION)
        self.ec2 = boto3.client("ec2", region_name=REGION)
        self.vpc_id = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]

    def endpoints(self, *services: str) -> None:
        for service in services:
            self.ec2.create_vpc_endpoint(
                VpcId=self.vpc_id,
                ServiceName=f"com.amazonaws.{REGION}.{service}",
                VpcEndpointType="Gateway" if service == "s3" else "Interface",
            )

    def secret(self, name: str, value: dict[str, str]) -> None:
        self.secrets.create_secret(Name=name, SecretString=json.dumps(value))

    def rules_stub(
        self,
        *,
        chainguard_valid: bool,
        templates: tuple[str, ...] = ("docker-hub", "chainguard", "quay"),
        rules: tuple[str, ...] = ("docker-hub", "chainguard", "quay"),
    ) -> Any:
        """The ECR client for the rules (described, then validated) and the creation templates."""
        client = boto3.client("ecr", region_name=REGION)
        stub = Stubber(client)
        stub.add_response(
            "describe_pull_through_cache_rules",
            {
                "pullThroughCacheRules": [
                    {"ecrRepositoryPrefix": prefix, "upstreamRegistryUrl": UPSTREAMS[prefix]}
                    for prefix in rules
                ]
            },
            {"registryId": ACCOUNT},
        )
        if "docker-hub" in rules:
            stub.add_response(
                "validate_pull_through_cache_rule",
                {"isValid": True, "ecrRepositoryPrefix": "docker-hub"},
                {"ecrRepositoryPrefix": "docker-hub", "registryId": ACCOUNT},
            )
        answer: dict[str, Any] = {"isValid": chainguard_valid, "ecrRepositoryPrefix": "chainguard"}
        if not chainguard_valid:
            answer["failure"] = "Invalid username or access token for the upstream registry."
        stub.add_response(
            "validate_pull_through_cache_rule",
            answer,
            {"ecrRepositoryPrefix": "chainguard", "registryId": ACCOUNT},
        )
        stub.add_response(
            "describe_repository_creation_templates",
            {
                "repositoryCreationTemplates": [
                    {"prefix": prefix, "appliedFor": ["PULL_THROUGH_CACHE"]} for prefix in templates
                ]
            },
            {"prefixes": ANY},
        )
        stub.activate()
        self.stub = stub
        return client

    def images_stub(self, statuses: dict[str, dict[str, str]] | None = None) -> Any:
        """The ECR client for DescribeImages of every status: each catalogued repository's images.

        `statuses`: repository -> tag -> imageStatus; every repository also holds an ACTIVE `old` tag.
        """
        client = boto3.client("ecr", region_name=REGION)
        self.images = Stubber(client)
        for repository in CATALOGUED_REPOSITORIES:
            held = {"old": "ACTIVE", **(statuses or {}).get(repository, {"1": "ACTIVE"})}
            details = [
                {"imageDigest": f"sha256:{index:064x}", "imageTags": [tag], "imageStatus": status}
                for index, (tag, status) in enumerate(held.items())
            ]
            self.images.add_response(
                "describe_images",
                {"imageDetails": details},
                {"repositoryName": repository, "registryId": ACCOUNT, "filter": {"imageStatus": "ANY"}},
            )
        self.images.activate()
        return client

    def clients(self, rules: Any, images: Any = None) -> AwsClients:
        return AwsClients(
            ecr=self.ecr,
            secretsmanager=self.secrets,
            ec2=self.ec2,
            rules=rules,
            images=images if images is not None else self.images_stub(),
        )


def healthy_account(tmp_path: Path) -> tuple[Account, StackSettings]:
    account = Account()
    settings = stack(tmp_path, account.vpc_id)
    expected = expected_for(settings, partition="aws", account_id=ACCOUNT)
    account.secret("ecr-pullthroughcache/docker-hub", {"username": "bot", "accessToken": TOKEN})
    account.secret("ecr-pullthroughcache/cg", {"username": "cg-bot", "accessToken": TOKEN})
    account.endpoints("ecr.api", "ecr.dkr", "s3")
    assert expected.registry_policy is not None and expected.repository_policy is not None
    account.ecr.put_registry_policy(policyText=expected.registry_policy)
    account.ecr.create_repository(repositoryName="quay/prometheus/prometheus")
    account.ecr.put_lifecycle_policy(
        repositoryName="quay/prometheus/prometheus", lifecyclePolicyText=expected.lifecycle_policy
    )
    account.ecr.set_repository_policy(
        repositoryName="quay/prometheus/prometheus", policyText=expected.repository_policy
    )
    account.ecr.create_repository(repositoryName="team-app/api")  # not the cache's: never listed
    return account, settings


def run_doctor(
    account: Account, settings: StackSettings, *, fix: bool = False, images: Any = None, **stub: Any
) -> Report:
    expected = expected_for(settings, partition="aws", account_id=ACCOUNT)
    rules = account.rules_stub(**{"chainguard_valid": True, **stub})
    clients = account.clients(rules, images)
    report = diagnose(settings, clients, expected, fix=fix, now=datetime.now(UTC))
    account.stub.assert_no_pending_responses()
    account.images.assert_no_pending_responses()
    return report


def test_a_healthy_stack_has_no_findings(aws: None, tmp_path: Path) -> None:
    account, settings = healthy_account(tmp_path)
    report = run_doctor(account, settings)
    assert report.findings == [] and report.healthy
    passed = {(p.check, p.subject) for p in report.passed}
    assert ("repository", "quay/prometheus/prometheus") in passed
    assert ("endpoint", f"com.amazonaws.{REGION}.s3") in passed
    assert ("rule", "docker-hub") in passed and ("rule", "chainguard") in passed
    assert not any("team-app" in p.subject for p in report.passed)


def test_each_problem_is_a_finding_with_what_to_do(aws: None, tmp_path: Path) -> None:
    account = Account()
    settings = stack(tmp_path, account.vpc_id)
    account.secret("ecr-pullthroughcache/docker-hub", {"username": "bot", "accessToken": TOKEN})
    account.secret("ecr-pullthroughcache/cg", {"username": BROKEN_VALUE})
    account.endpoints("ecr.api", "ecr.dkr")
    account.ecr.create_repository(repositoryName="docker-hub/library/nginx")
    report = run_doctor(account, settings, chainguard_valid=False, templates=("docker-hub", "quay"))
    found = {(f.check, f.subject): f for f in report.findings}
    assert set(found) == {
        ("rule", "chainguard"),
        ("secret", "ecr-pullthroughcache/cg"),
        ("template", "chainguard"),
        ("repository", "docker-hub/library/nginx"),
        ("registry-policy", ACCOUNT),
        ("endpoint", f"com.amazonaws.{REGION}.s3"),
    }
    assert "Invalid username or access token" in found[("rule", "chainguard")].problem
    assert "missing or empty: accessToken" in found[("secret", "ecr-pullthroughcache/cg")].problem
    assert all(f.fix for f in report.findings) and not report.healthy
    repository = [f for f in report.findings if f.check == "repository"]
    assert {f.problem for f in repository} == {"has no lifecycle policy", "has no repository policy"}


def test_fix_applies_the_templates_policies_to_old_repositories(aws: None, tmp_path: Path) -> None:
    account, settings = healthy_account(tmp_path)
    account.ecr.create_repository(repositoryName="docker-hub/library/nginx")
    report = run_doctor(account, settings, fix=True)
    assert [f.fixed for f in report.findings] == [True, True] and report.healthy
    expected = expected_for(settings, partition="aws", account_id=ACCOUNT)
    lifecycle = account.ecr.get_lifecycle_policy(repositoryName="docker-hub/library/nginx")
    assert json.loads(lifecycle["lifecyclePolicyText"]) == json.loads(expected.lifecycle_policy)
    policy = account.ecr.get_repository_policy(repositoryName="docker-hub/library/nginx")
    assert json.loads(policy["policyText"]) == json.loads(expected.repository_policy or "")
    assert run_doctor(account, settings).findings == []


def test_a_token_older_than_rotate_after_days_is_due(aws: None, tmp_path: Path) -> None:
    account, _ = healthy_account(tmp_path)
    settings = stack(tmp_path, account.vpc_id, rotateAfterDays=30)
    report = doctor.check_secrets(settings, account.secrets, datetime.now(UTC) + timedelta(days=31))
    (finding,) = report.findings
    assert finding.subject == "ecr-pullthroughcache/docker-hub"
    assert "rotateAfterDays is 30" in finding.problem
    assert "pulumi config set --secret ecr-pull-through-cache:docker-hub-token" in finding.fix
    fresh = doctor.check_secrets(settings, account.secrets, datetime.now(UTC) + timedelta(days=29))
    assert fresh.findings == []


def test_missing_rule_and_secret(aws: None, tmp_path: Path) -> None:
    account = Account()
    settings = stack(tmp_path, account.vpc_id)
    rules = boto3.client("ecr", region_name=REGION)
    with Stubber(rules) as stub:
        described = [
            {"ecrRepositoryPrefix": p, "upstreamRegistryUrl": UPSTREAMS[p]} for p in ("chainguard", "quay")
        ]
        stub.add_response(
            "describe_pull_through_cache_rules", {"pullThroughCacheRules": described}, {"registryId": ACCOUNT}
        )
        stub.add_client_error("validate_pull_through_cache_rule", service_error_code="AccessDeniedException")
        report = doctor.check_rules(settings, rules, ACCOUNT)
    assert [(f.subject, f.problem) for f in report.findings] == [
        ("docker-hub", "the pull-through cache rule does not exist"),
        ("chainguard", "could not check: AWS answered AccessDeniedException"),
    ]
    assert [p.subject for p in report.passed] == ["quay"], "a rule without credentials is checked to exist"
    secrets = doctor.check_secrets(settings, account.secrets, datetime.now(UTC))
    assert {f.subject for f in secrets.findings} == {
        "ecr-pullthroughcache/docker-hub",
        "ecr-pullthroughcache/cg",
    }
    assert all("does not exist" in f.problem for f in secrets.findings)


def test_cli_exit_codes_and_no_secret_in_any_output(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    account, settings = healthy_account(tmp_path)
    account.secrets.put_secret_value(
        SecretId="ecr-pullthroughcache/cg", SecretString=json.dumps({"accessToken": BROKEN_VALUE})
    )
    monkeypatch.setattr("components.config.load.load_stack_settings", lambda *a, **k: settings)
    for as_json in (False, True):
        args = argparse.Namespace(stack="test", images=None, json=as_json, fix=False, upstream=[])
        assert doctor_cli.run(args, account.clients(account.rules_stub(chainguard_valid=True))) == 1
        out, err = capsys.readouterr()
        assert TOKEN not in out + err and BROKEN_VALUE not in out + err
        assert "missing or empty: username" in out
    assert json.loads(out)["healthy"] is False


def test_cli_healthy_exits_zero(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    account, settings = healthy_account(tmp_path)
    monkeypatch.setattr("components.config.load.load_stack_settings", lambda *a, **k: settings)
    args = argparse.Namespace(stack="test", images=None, json=False, fix=False, upstream=[])
    assert doctor_cli.run(args, account.clients(account.rules_stub(chainguard_valid=True))) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("healthy") and TOKEN not in out


def test_cli_bad_stack_exits_two(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--stack", "no-such-stack"]) == 2
    assert "no-such-stack" in capsys.readouterr().err


def test_cli_upstream_says_where_copied_upstreams_are_asked(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`doctor --upstream nvcr.io=URL` reaches the copies' check, as `warm --upstream` reaches the
    copy; a URL off loopback over plain HTTP is bad input, before any AWS call."""
    account, settings = healthy_account(tmp_path)
    monkeypatch.setattr("components.config.load.load_stack_settings", lambda *a, **k: settings)
    asked: list[Any] = []

    def diagnosing(*args: Any, upstreams: Any, **kwargs: Any) -> Report:
        asked.append(upstreams)
        return Report()

    monkeypatch.setattr(doctor_cli, "diagnose", diagnosing)
    mirror = "http://127.0.0.1:5000"
    args = argparse.Namespace(
        stack="test", images=None, json=False, fix=False, upstream=[f"nvcr.io={mirror}"]
    )
    assert doctor_cli.run(args, account.clients(account.rules_stub(chainguard_valid=True))) == 0
    (access,) = asked
    assert access.url("nvcr.io") == mirror and access.url("mcr.microsoft.com") == "https://mcr.microsoft.com"
    assert main(["doctor", "--stack", "test", "--upstream", "nvcr.io=http://10.1.2.3:5000"]) == 2
    assert "not a loopback address" in capsys.readouterr().err
