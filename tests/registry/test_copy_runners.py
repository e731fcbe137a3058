"""The copy through its other two runners (issue 21): `pulumi up`'s dynamic provider (a `CopiedImage`'s
props, serialized and run in a fresh interpreter as Pulumi runs it) and the scheduled re-warming
function; and an upstream login kept in Secrets Manager (moto), read by the runner that copies.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws
from pulumi.dynamic.dynamic import serialize_provider

from components.warm import operations
from components.warm.lambda_handler import PackagedCatalogue, PackagedImage, run
from components.warm.provider import CacheWarmProvider
from standins.registries import RunningRegistry, start_registry
from standins.seed import SeededImage, seed_sample_images
from standins.token_registry import PASSWORD, USERNAME, TokenRegistry, token_registry
from tests.registry.conftest import ROOT, Seeded
from tests.registry.test_warm_provider import FRESH_INTERPRETER

UPSTREAM = "nvcr.io"
SECRET = "ecr-pullthroughcache/nvcr"


@pytest.fixture
def target(tmp_path: Path) -> Iterator[RunningRegistry]:
    registry = start_registry("copies", tmp_path / "target")
    try:
        yield registry
    finally:
        registry.stop()


def copy_props(
    image: SeededImage, upstream_url: str, target: RunningRegistry, secret: str | None
) -> dict[str, Any]:
    return {
        "source": f"{UPSTREAM}/{image.repository}:{image.tag}",
        "upstream_url": upstream_url,
        "credential_secret": secret,
        "registry_url": target.url,
        "repository": image.repository,
        "tag": image.tag,
        "cache_reference": f"{target.address}/{image.repository}:{image.tag}",
        "platforms": None,
        "prune": False,
    }


def served(target: RunningRegistry, image: SeededImage) -> str | None:
    answer = httpx.head(
        f"{target.url}/v2/{image.repository}/manifests/{image.tag}", headers={"Accept": image.media_type}
    )
    digest: str | None = answer.headers.get("docker-content-digest")
    return digest


def test_the_serialized_provider_copies_from_a_fresh_interpreter(
    seeded: Seeded, target: RunningRegistry, tmp_path: Path
) -> None:
    image = next(i for i in seeded.images if i.repository == "demo/multi-arch")
    props = copy_props(image, seeded.pair.upstream.url, target, None)
    result = subprocess.run(
        [sys.executable, "-I", "-c", FRESH_INTERPRETER],
        input=f"{serialize_provider(CacheWarmProvider(str(ROOT)))}\n{json.dumps(props)}\n",
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["outs"]["digest"] == image.digest
    assert created["outs"]["platforms_warmed"] == ["linux/amd64", "linux/arm64"]
    assert served(target, image) == image.digest


@pytest.fixture
def secret_in_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        boto3.client("secretsmanager").create_secret(
            Name=SECRET, SecretString=json.dumps({"username": USERNAME, "accessToken": PASSWORD})
        )
        yield


# The upstream's token service on its own origin, or on another that the copy trusts (tokenRealm:
# a self-hosted GitLab's), which the login reaches only through the runner's wiring.
REALMS = pytest.mark.parametrize("realm_host", ["127.0.0.1", "localhost"])


def trusted_realm(realm_host: str, upstream: TokenRegistry) -> str | None:
    return f"http://localhost:{upstream.port}/token" if realm_host == "localhost" else None


@REALMS
def test_the_provider_reads_the_upstreams_login_from_its_secret(
    secret_in_aws: None, target: RunningRegistry, tmp_path: Path, realm_host: str
) -> None:
    seeded: list[SeededImage] = []
    seed = lambda url: seeded.extend(seed_sample_images(url))  # noqa: E731
    with token_registry(tmp_path / "token", seed, realm_host=realm_host) as upstream:
        image = seeded[0]
        realm = trusted_realm(realm_host, upstream)
        trusting = {"token_realm": realm} if realm else {}
        created = operations.create(copy_props(image, upstream.url, target, SECRET) | trusting)
        assert created.outs is not None and created.outs["digest"] == image.digest
        with pytest.raises(
            RuntimeError,
            match=r"the upstream's login secret ecr-pullthroughcache/other could not be read: AWS answered ResourceNotFoundException",
        ):
            operations.create(
                copy_props(seeded[1], upstream.url, target, "ecr-pullthroughcache/other")
                | {"source": f"other.example/{seeded[1].repository}:{seeded[1].tag}"}
                | trusting
            )
    basic = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    assert {auth for _, auth in upstream.authorizations if auth.startswith("Basic ")} == {basic}
    assert served(target, image) == image.digest


@REALMS
def test_the_rewarming_function_copies_with_the_login_its_package_names(
    secret_in_aws: None, target: RunningRegistry, tmp_path: Path, realm_host: str
) -> None:
    seeded: list[SeededImage] = []
    seed = lambda url: seeded.extend(seed_sample_images(url))  # noqa: E731
    with token_registry(tmp_path / "token", seed, realm_host=realm_host) as upstream:
        packaged = tuple(
            PackagedImage(
                source=f"{UPSTREAM}/{image.repository}:{image.tag}",
                registry_url=target.url,
                repository=image.repository,
                tag=image.tag,
                upstream_url=upstream.url,
                credential_secret=SECRET,
                token_realm=trusted_realm(realm_host, upstream),
            )
            for image in seeded
        )
        out = io.StringIO()
        summary = run(
            {"shard": 0, "of": 1},
            PackagedCatalogue(shards=(packaged,)),
            credentials_for=lambda _: None,
            out=out,
        )
    assert summary["failed"] == [] and summary["warmed"] == len(seeded)
    lines = [json.loads(line) for line in out.getvalue().splitlines() if '"image"' in line]
    assert all(line["uploaded"] > 0 for line in lines)
    assert PASSWORD not in out.getvalue()
    for image in seeded:
        assert served(target, image) == image.digest
