"""`doctor` and the copies: missing from ECR, lagging their upstream, and the checks they share with the rules.

ECR's DescribeImages goes to botocore's Stubber (moto makes up a digest that is not the manifest's);
the copy's login secret to moto's Secrets Manager; the upstream is a registry served on loopback
(tests/warm/loopback.py) that wants a Basic login and answers `HEAD .../manifests/<tag>` with its
`Docker-Content-Digest`.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from components.config.settings import StackSettings
from components.program.doctor import check_secrets, check_templates, expected_for
from components.program.doctor_copies import UpstreamAccess, check_copies
from components.program.doctor_report import Report
from components.program.doctor_repositories import check_repositories
from tests.config.test_settings import settings_for
from tests.warm.loopback import Loopback, serving

REGION = "eu-west-1"
ACCOUNT = "123456789012"
USER, TOKEN = "$oauthtoken", "nvapi-NEVER-PRINT-4711"
HELD = "sha256:" + "1" * 64
MOVED = "sha256:" + "2" * 64
OLD = "sha256:" + "3" * 64
UPSTREAM_DIGESTS = {
    ("nvidia/cuda", "12.4.1-base"): HELD,
    ("nvidia/cuda", "12.3.0-base"): MOVED,
    ("nvidia/tritonserver", "24.08-py3"): HELD,
    ("nvidia/dcgm", "3.3.7"): HELD,
}
CATALOGUE = (
    "- quay.io/a/b:1\n"
    "- nvcr.io/nvidia/cuda:12.4.1-base\n"  # held at the upstream's digest
    "- nvcr.io/nvidia/cuda:12.3.0-base\n"  # held, but the upstream moved the tag
    "- nvcr.io/nvidia/tritonserver:24.08-py3\n"  # not in ECR
    "- nvcr.io/nvidia/dcgm:3.3.7\n"  # no repository in ECR
    "- nvcr.io/nvidia/gone:1.0\n"  # held; the upstream deleted it
)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def copies_stack(tmp_path: Path, catalogue: str = CATALOGUE, **nvcr: Any) -> StackSettings:
    values = {
        "upstreams": {"quay.io": {}, "nvcr.io": {"mode": "copy", "prefix": "nvcr", "username": USER, **nvcr}},
        "nvcr-token": TOKEN,
    }
    settings = settings_for(values, tmp_path, catalogue, secrets=("nvcr-token",))
    return StackSettings(**{**settings.__dict__, "stack": "prod"})


def login_secret(value: dict[str, str] | None = None) -> None:
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="ecr-pullthroughcache/nvcr",
        SecretString=json.dumps(value or {"username": USER, "accessToken": TOKEN}),
    )


def ecr_images(held: dict[str, str | None]) -> Any:
    """DescribeImages by tag for each copied tag, in the order the stack lists its tags (sorted):
    repository:tag -> digest, None for no image, `repository` for no repository."""
    client = boto3.client("ecr", region_name=REGION)
    stub = Stubber(client)
    for subject, digest in sorted(held.items(), key=lambda item: item[0].rpartition(":")[::2]):
        repository, _, tag = subject.rpartition(":")
        expected = {"registryId": ACCOUNT, "repositoryName": repository, "imageIds": [{"imageTag": tag}]}
        if digest == "repository":
            stub.add_client_error("describe_images", "RepositoryNotFoundException", expected_params=expected)
        elif digest is None:
            stub.add_client_error("describe_images", "ImageNotFoundException", expected_params=expected)
        else:
            answer = {
                "imageDetails": [{"imageDigest": digest, "imageTags": [tag], "repositoryName": repository}]
            }
            stub.add_response("describe_images", answer, expected)
    stub.activate()
    return client


def upstream(request: httpx.Request) -> httpx.Response:
    expected = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    if request.headers.get("authorization") != expected:
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="nvcr.example"'})
    repository, _, tag = request.url.path.removeprefix("/v2/").rpartition("/manifests/")
    if repository == "nvidia/forbidden":
        return httpx.Response(403, text="denied")
    digest = UPSTREAM_DIGESTS.get((repository, tag))
    if digest is None:
        return httpx.Response(404)
    headers = {"Docker-Content-Digest": digest, "Content-Type": "application/vnd.oci.image.index.v1+json"}
    return httpx.Response(200, headers=headers)


def doctor(settings: StackSettings, images: Any) -> tuple[Report, Loopback]:
    """check_copies against the loopback upstream, on a thread (it runs its own event loop)."""
    secrets = boto3.client("secretsmanager", region_name=REGION)

    async def go() -> tuple[Report, Loopback]:
        async with serving(upstream, ("nvcr.example",)) as loopback:
            access = UpstreamAccess({"nvcr.io": loopback.url("nvcr.example")}, plain_http=True)
            report = await asyncio.to_thread(check_copies, settings, images, secrets, ACCOUNT, access=access)
            return report, loopback

    return asyncio.run(go())


def by_subject(report: Report) -> dict[str, Any]:
    return {f.subject: f for f in report.findings} | {p.subject: p for p in report.passed}


@pytest.mark.usefixtures("aws")
def test_missing_and_lagging_copies_are_findings_with_what_to_do(tmp_path: Path) -> None:
    login_secret()
    images = ecr_images(
        {
            "nvcr/nvidia/cuda:12.4.1-base": HELD,
            "nvcr/nvidia/cuda:12.3.0-base": OLD,
            "nvcr/nvidia/tritonserver:24.08-py3": None,
            "nvcr/nvidia/dcgm:3.3.7": "repository",
            "nvcr/nvidia/gone:1.0": HELD,
        }
    )
    report, loopback = doctor(copies_stack(tmp_path), images)
    found = by_subject(report)
    assert [p.subject for p in report.passed] == ["nvcr/nvidia/cuda:12.4.1-base"]
    lag = found["nvcr/nvidia/cuda:12.3.0-base"]
    assert (
        lag.problem == f"lags its upstream: ECR holds {OLD}, nvcr.io now serves {MOVED} for tag 12.3.0-base"
    )
    assert lag.fix == "run `python -m components warm --stack prod`, which copies the tag again"
    for missing in ("nvcr/nvidia/tritonserver:24.08-py3", "nvcr/nvidia/dcgm:3.3.7"):
        assert "is catalogued, but ECR holds no copy of nvcr.io/nvidia/" in found[missing].problem
        assert (
            found[missing].fix
            == "run `python -m components warm --stack prod` (or `pulumi up`), which copies it"
        )
    gone = found["nvcr/nvidia/gone:1.0"]
    assert (
        gone.problem == f"nvcr.io no longer has nvcr.io/nvidia/gone:1.0; ECR keeps serving the copy ({HELD})"
    )
    assert not report.healthy
    assert TOKEN not in json.dumps(report.as_json())
    login = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    sent = loopback.authorization["nvcr.example"]
    assert login in sent and set(sent) == {None, login}, "the secret's login, after the challenge"
    assert len(sent) == 2 * 3, "one HEAD (and its challenge) per held copy: nothing for the missing ones"


@pytest.mark.usefixtures("aws")
def test_a_pinned_copy_that_lags_says_to_update_the_pin(tmp_path: Path) -> None:
    login_secret()
    settings = copies_stack(tmp_path, f"- nvcr.io/nvidia/cuda:12.3.0-base@{OLD}\n")
    report, _ = doctor(settings, ecr_images({"nvcr/nvidia/cuda:12.3.0-base": OLD}))
    (finding,) = report.findings
    assert finding.fix.startswith(
        f"update the pin of nvcr.io/nvidia/cuda:12.3.0-base in images.yaml (it pins {OLD})"
    )


@pytest.mark.usefixtures("aws")
def test_an_unreadable_login_or_a_refusing_upstream_is_named_not_guessed(tmp_path: Path) -> None:
    login_secret({"username": USER})  # no accessToken
    report, loopback = doctor(
        copies_stack(tmp_path, "- nvcr.io/nvidia/cuda:12.4.1-base\n"),
        ecr_images({"nvcr/nvidia/cuda:12.4.1-base": HELD}),
    )
    (finding,) = report.findings
    assert finding.problem == (
        "could not compare with nvcr.io: its login secret ecr-pullthroughcache/nvcr holds no username and accessToken"
    )
    assert "nvcr.example" not in loopback.authorization, "nothing is asked without the login"


@pytest.mark.usefixtures("aws")
def test_an_upstream_that_refuses_is_reported_for_that_image(tmp_path: Path) -> None:
    login_secret()
    settings = copies_stack(tmp_path, "- nvcr.io/nvidia/forbidden:1\n- nvcr.io/nvidia/cuda:12.4.1-base\n")
    report, _ = doctor(
        settings, ecr_images({"nvcr/nvidia/forbidden:1": HELD, "nvcr/nvidia/cuda:12.4.1-base": HELD})
    )
    (finding,) = report.findings
    assert finding.subject == "nvcr/nvidia/forbidden:1"
    assert finding.problem.startswith("could not ask nvcr.io which digest tag 1 has now:")
    assert [p.subject for p in report.passed] == ["nvcr/nvidia/cuda:12.4.1-base"]


def test_a_stack_without_copies_asks_nothing(tmp_path: Path) -> None:
    settings = settings_for({"upstreams": {"quay.io": {}}}, tmp_path)
    assert check_copies(settings, object(), object(), ACCOUNT) == Report()


def templates_client(templates: list[dict[str, Any]]) -> Any:
    client = boto3.client("ecr", region_name=REGION)
    stub = Stubber(client)
    stub.add_response(
        "describe_repository_creation_templates",
        {"repositoryCreationTemplates": templates},
        {"prefixes": ["quay", "nvcr"]},
    )
    stub.activate()
    return client


def test_a_copy_prefix_needs_a_create_on_push_template(tmp_path: Path) -> None:
    settings = copies_stack(tmp_path, "")
    healthy = check_templates(
        settings,
        templates_client(
            [
                {"prefix": "quay", "appliedFor": ["PULL_THROUGH_CACHE"]},
                {"prefix": "nvcr", "appliedFor": ["CREATE_ON_PUSH"]},
            ]
        ),
    )
    assert healthy.findings == [] and [p.subject for p in healthy.passed] == ["quay", "nvcr"]
    wrong = check_templates(
        settings,
        templates_client(
            [
                {"prefix": "quay", "appliedFor": ["PULL_THROUGH_CACHE"]},
                {"prefix": "nvcr", "appliedFor": ["PULL_THROUGH_CACHE"]},
            ]
        ),
    )
    (finding,) = wrong.findings
    assert finding.problem == (
        "its template is not for CREATE_ON_PUSH: a copy's first push cannot create its repository"
    )
    missing = check_templates(
        settings, templates_client([{"prefix": "quay", "appliedFor": ["PULL_THROUGH_CACHE"]}])
    )
    (finding,) = missing.findings
    assert (
        finding.problem == "no repository creation template: a copy's first push cannot create its repository"
    )
    assert finding.fix == "run `pulumi up`"


@pytest.mark.usefixtures("aws")
def test_a_copy_login_secret_is_checked_like_a_rules(tmp_path: Path) -> None:
    settings = copies_stack(tmp_path, "", rotateAfterDays=30)
    secrets = boto3.client("secretsmanager", region_name=REGION)
    (finding,) = check_secrets(settings, secrets, datetime.now(UTC)).findings
    assert (finding.subject, finding.problem) == (
        "ecr-pullthroughcache/nvcr",
        "the credential secret does not exist",
    )
    login_secret()
    assert check_secrets(settings, secrets, datetime.now(UTC)).healthy
    (finding,) = check_secrets(settings, secrets, datetime.now(UTC) + timedelta(days=40)).findings
    assert "rotateAfterDays is 30" in finding.problem
    assert "pulumi config set --secret ecr-pull-through-cache:nvcr-token" in finding.fix
    assert TOKEN not in json.dumps([finding.__dict__])


@pytest.mark.usefixtures("aws")
def test_copy_repositories_get_the_templates_policies_checked_and_fixed(tmp_path: Path) -> None:
    settings = copies_stack(tmp_path, "")
    ecr = boto3.client("ecr", region_name=REGION)
    ecr.create_repository(repositoryName="nvcr/nvidia/cuda")
    ecr.create_repository(repositoryName="elsewhere/tool")
    expected = expected_for(settings, partition="aws", account_id=ACCOUNT)
    report = check_repositories(settings, ecr, expected, fix=True)
    assert {f.subject for f in report.findings} == {"nvcr/nvidia/cuda"}
    assert all(f.fixed for f in report.findings)
    policy = ecr.get_lifecycle_policy(repositoryName="nvcr/nvidia/cuda")["lifecyclePolicyText"]
    assert json.loads(policy) == json.loads(expected.lifecycle_policy)
