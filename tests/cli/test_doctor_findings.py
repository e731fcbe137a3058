"""`doctor`'s diagnoses that must name the real cause: a deleted rule, a secret pending deletion,
an archived catalogued image, an endpoint out of reach, no credentials at all."""

from __future__ import annotations

import argparse
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from components.cli import doctor as doctor_cli
from components.program import doctor
from components.program.doctor_report import could_not
from tests.cli.test_doctor import ACCOUNT, REGION, Account, healthy_account, run_doctor


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws
    from moto.ecr.models import ECRBackend

    monkeypatch.setattr(ECRBackend, "_validate_registry_policy_action", lambda self, text: None)
    with mock_aws():
        yield


def test_a_deleted_rule_without_credentials_is_a_finding(aws: None, tmp_path: Path) -> None:
    account, settings = healthy_account(tmp_path)
    report = run_doctor(account, settings, rules=("docker-hub", "chainguard"))
    (finding,) = report.findings
    assert (finding.check, finding.subject) == ("rule", "quay")
    assert finding.problem == "the pull-through cache rule does not exist" and "pulumi up" in finding.fix
    assert not report.healthy


def test_a_deleted_rule_makes_the_cli_exit_one(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    account, settings = healthy_account(tmp_path)
    monkeypatch.setattr("components.config.load.load_stack_settings", lambda *a, **k: settings)
    args = argparse.Namespace(stack="test", images=None, json=False, fix=False, upstream=[])
    rules = account.rules_stub(chainguard_valid=True, rules=("docker-hub", "chainguard"))
    assert doctor_cli.run(args, account.clients(rules)) == 1
    assert "rule quay: the pull-through cache rule does not exist" in capsys.readouterr().out


def test_a_rule_pointing_elsewhere_is_a_finding(tmp_path: Path) -> None:
    from botocore.stub import Stubber

    from tests.cli.test_doctor import stack

    settings = stack(tmp_path, "vpc-0a1b2c3d4e5f60718")
    rules = boto3.client("ecr", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y")
    described = [
        {"ecrRepositoryPrefix": "docker-hub", "upstreamRegistryUrl": "registry-1.docker.io"},
        {"ecrRepositoryPrefix": "chainguard", "upstreamRegistryUrl": "cgr.dev"},
        {"ecrRepositoryPrefix": "quay", "upstreamRegistryUrl": "ghcr.io"},
    ]
    with Stubber(rules) as stub:
        stub.add_response("describe_pull_through_cache_rules", {"pullThroughCacheRules": described})
        for prefix in ("docker-hub", "chainguard"):
            stub.add_response(
                "validate_pull_through_cache_rule", {"isValid": True, "ecrRepositoryPrefix": prefix}
            )
        report = doctor.check_rules(settings, rules, ACCOUNT)
    (finding,) = report.findings
    assert finding.subject == "quay" and "caches ghcr.io, but the stack says quay.io" in finding.problem


def test_a_secret_scheduled_for_deletion_is_named_as_such(aws: None, tmp_path: Path) -> None:
    account, settings = healthy_account(tmp_path)
    account.secrets.delete_secret(SecretId="ecr-pullthroughcache/docker-hub", RecoveryWindowInDays=7)
    report = doctor.check_secrets(settings, account.secrets, datetime.now(UTC))
    (finding,) = report.findings
    assert finding.subject == "ecr-pullthroughcache/docker-hub"
    assert finding.problem.startswith("the credential secret is scheduled for deletion on 20")
    assert "aws secretsmanager restore-secret --secret-id ecr-pullthroughcache/docker-hub" in finding.fix
    assert "pulumi up" in finding.fix and "credentials" not in finding.fix


def test_an_archived_catalogued_image_is_a_finding(aws: None, tmp_path: Path) -> None:
    account, settings = healthy_account(tmp_path)
    images = account.images_stub({"quay/a/b": {"1": "ARCHIVED"}})
    report = run_doctor(account, settings, images=images)
    (finding,) = report.findings
    assert (finding.check, finding.subject) == ("image", "quay/a/b:1")
    assert "is archived: pulls of it fail with 404" in finding.problem
    assert "--fix" in finding.fix and "20 minutes" in finding.fix and not finding.fixed


def test_fix_restores_an_archived_catalogued_image(aws: None, tmp_path: Path) -> None:
    account, settings = healthy_account(tmp_path)
    images = account.images_stub({"quay/a/b": {"1": "ARCHIVED"}})
    account.images.add_response(
        "update_image_storage_class",
        {"imageStatus": "ACTIVATING", "repositoryName": "quay/a/b"},
        {
            "registryId": ACCOUNT,
            "repositoryName": "quay/a/b",
            "imageId": {"imageDigest": f"sha256:{1:064x}"},
            "targetStorageClass": "STANDARD",
        },
    )
    report = run_doctor(account, settings, fix=True, images=images)
    (finding,) = report.findings
    assert finding.fixed and report.healthy
    assert "restore requested; it takes up to 20 minutes" in finding.problem


def test_an_image_being_restored_is_still_a_finding(aws: None, tmp_path: Path) -> None:
    account, settings = healthy_account(tmp_path)
    images = account.images_stub({"quay/a/b": {"1": "ACTIVATING"}})
    (finding,) = run_doctor(account, settings, images=images).findings
    assert "is being restored" in finding.problem and not finding.fixed


def _closed_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return int(listener.getsockname()[1])


def test_an_unreachable_endpoint_is_named_unreachable_in_a_check() -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    ec2 = boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2),
    )
    try:
        ec2.describe_vpc_endpoints()
    except Exception as error:
        finding = could_not("endpoint", "com.amazonaws.eu-west-1.s3", error)
    assert f"could not reach AWS at {endpoint}" in finding.problem
    assert "network" in finding.fix and "credentials" not in finding.fix


@pytest.fixture
def offline_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """No credentials from anywhere: no variables, no files, no instance metadata."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


def _run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    from tests.cli.test_doctor import stack

    settings = stack(tmp_path, "vpc-0a1b2c3d4e5f60718")
    monkeypatch.setattr("components.config.load.load_stack_settings", lambda *a, **k: settings)
    return doctor_cli.run(argparse.Namespace(stack="test", images=None, json=False, fix=False, upstream=[]))


def test_without_credentials_doctor_says_so(
    offline_aws: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run_cli(tmp_path, offline_aws) == 2
    err = capsys.readouterr().err
    assert "no AWS credentials found" in err and "unreachable" not in err


def test_an_unreachable_aws_is_not_blamed_on_credentials(
    offline_aws: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    offline_aws.setenv("AWS_ACCESS_KEY_ID", "testing-access-key-id")
    offline_aws.setenv("AWS_SECRET_ACCESS_KEY", "never-printed-secret-key-0000000000000000")
    offline_aws.setenv("AWS_ENDPOINT_URL", endpoint)
    assert _run_cli(tmp_path, offline_aws) == 2
    err = capsys.readouterr().err
    assert f"cannot reach AWS at {endpoint}" in err and "unreachable" in err
    assert "set AWS credentials" not in err and "never-printed" not in err


def test_the_report_as_json_keeps_its_shape(aws: None, tmp_path: Path) -> None:
    account, settings = healthy_account(tmp_path)
    images = account.images_stub({"quay/a/b": {"1": "ARCHIVED"}})
    report = run_doctor(account, settings, images=images)
    (finding,) = json.loads(json.dumps(report.as_json()))["findings"]
    assert set(finding) == {"check", "subject", "problem", "fix", "fixed"}


def test_a_healthy_account_reads_every_catalogued_repository(aws: None, tmp_path: Path) -> None:
    account: Account
    account, settings = healthy_account(tmp_path)
    assert run_doctor(account, settings).findings == []
