"""`doctor` asks a real distribution registry (Debian's `docker-registry` on 127.0.0.1) which digest each
copied tag has, with the project's registry client, and compares it with what ECR holds (Stubber).

The upstream is seeded with an OCI index (two platforms and an attestation) and a Docker schema 2
image; a tag the upstream moved after the copy is the lagging case.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from components.config.settings import StackSettings
from components.program.doctor_copies import UpstreamAccess, check_copies
from standins.registries import RunningRegistry, start_registry
from standins.seed import Pusher, SeededImage, layer
from standins.token_registry import PASSWORD as TOKEN_PASSWORD
from standins.token_registry import USERNAME as TOKEN_USERNAME
from standins.token_registry import token_registry
from tests.config.test_settings import settings_for

REGION = "eu-west-1"
ACCOUNT = "123456789012"


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[RunningRegistry]:
    registry = start_registry("nvcr", tmp_path / "registries")
    try:
        yield registry
    finally:
        registry.stop()


def stack(tmp_path: Path) -> StackSettings:
    values = {"upstreams": {"nvcr.io": {"mode": "copy", "prefix": "nvcr"}}}  # read anonymously
    catalogue = "- nvcr.io/nvidia/cuda:12.4.1-base\n- nvcr.io/nvidia/dcgm:3.3.7\n"
    settings = settings_for(values, tmp_path, catalogue)
    return StackSettings(**{**settings.__dict__, "stack": "dev"})


def ecr_holding(digests: dict[str, str]) -> tuple[Any, Stubber]:
    client = boto3.client("ecr", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    for repository, digest in sorted(digests.items()):
        tag = "12.4.1-base" if repository.endswith("cuda") else "3.3.7"
        stub.add_response(
            "describe_images",
            {"imageDetails": [{"imageDigest": digest, "imageTags": [tag]}]},
            {"registryId": ACCOUNT, "repositoryName": repository, "imageIds": [{"imageTag": tag}]},
        )
    stub.activate()
    return client, stub


def test_doctor_reads_the_upstreams_digests_and_finds_the_lagging_copy(
    tmp_path: Path, upstream: RunningRegistry
) -> None:
    pusher = Pusher(upstream.url)
    try:
        cuda = pusher.index("nvidia/cuda", "12.4.1-base", ["linux/amd64", "linux/arm64"])
        copied_dcgm = pusher.single("nvidia/dcgm", "3.3.7", "linux/amd64", [layer("dcgm-1")], docker=True)
        moved_dcgm = pusher.single("nvidia/dcgm", "3.3.7", "linux/amd64", [layer("dcgm-2")], docker=True)
    finally:
        pusher.close()
    assert copied_dcgm.digest != moved_dcgm.digest
    images, stub = ecr_holding({"nvcr/nvidia/cuda": cuda.digest, "nvcr/nvidia/dcgm": copied_dcgm.digest})
    access = UpstreamAccess({"nvcr.io": upstream.url}, plain_http=True)
    report = check_copies(stack(tmp_path), images, object(), ACCOUNT, access=access)
    stub.assert_no_pending_responses()
    assert [p.subject for p in report.passed] == ["nvcr/nvidia/cuda:12.4.1-base"], (
        "the index's digest matches"
    )
    (finding,) = report.findings
    assert finding.subject == "nvcr/nvidia/dcgm:3.3.7"
    assert finding.problem == (
        f"lags its upstream: ECR holds {copied_dcgm.digest}, nvcr.io now serves {moved_dcgm.digest} for tag 3.3.7"
    )
    assert finding.fix == "run `python -m components warm --stack dev`, which copies the tag again"


class SecretHolding:
    """Secrets Manager's `get_secret_value`, holding the one login the token upstream wants."""

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        assert SecretId == "ecr-pullthroughcache/nvcr"
        return {"SecretString": json.dumps({"username": TOKEN_USERNAME, "accessToken": TOKEN_PASSWORD})}


@pytest.mark.parametrize("trusted", [True, False])
def test_doctor_logs_in_to_a_token_service_on_another_origin_only_when_trusted(
    tmp_path: Path, trusted: bool
) -> None:
    """A copy's `tokenRealm` reaches doctor's client too: without it the login is kept from the
    realm on another origin, and the finding says why."""
    seeded: list[SeededImage] = []

    def seed(url: str) -> None:
        pusher = Pusher(url)
        try:
            seeded.append(pusher.single("nvidia/cuda", "12.4.1-base", "linux/amd64", [layer("c")]))
        finally:
            pusher.close()

    with token_registry(tmp_path / "token", seed, realm_host="localhost") as upstream:
        values = {
            "upstreams": {"nvcr.io": {"mode": "copy", "prefix": "nvcr", "username": "u"}},
            "nvcr-token": "t",
        }
        settings = settings_for(
            values, tmp_path, "- nvcr.io/nvidia/cuda:12.4.1-base\n", secrets=("nvcr-token",)
        )
        realm = f"http://localhost:{upstream.port}/token" if trusted else None
        copies = tuple(dataclasses.replace(copy, token_realm=realm) for copy in settings.copies)
        settings = StackSettings(**{**settings.__dict__, "stack": "dev", "copies": copies})
        (cuda,) = seeded
        images, stub = ecr_holding({"nvcr/nvidia/cuda": cuda.digest})
        access = UpstreamAccess({"nvcr.io": upstream.url}, plain_http=True)
        report = check_copies(settings, images, SecretHolding(), ACCOUNT, access=access)
        stub.assert_no_pending_responses()
    if trusted:
        assert [p.subject for p in report.passed] == ["nvcr/nvidia/cuda:12.4.1-base"], report.findings
    else:
        (finding,) = report.findings
        assert (
            f"the login was not sent to the token service at http://localhost:{upstream.port}"
            in finding.problem
        )
        assert not any(auth.startswith("Basic ") for _, auth in upstream.authorizations)
