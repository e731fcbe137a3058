"""Cache names built from the parsed reference: ECR upstream prefixes, digest pins, one place each."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from components.errors import DigestMismatchError, InputError
from components.warm.operations import warm_image
from tests.conftest import WARMED_DIGEST, RunProgram

RULE = "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
WARMED = "pulumi-python:dynamic/ecr:WarmedImage"
REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
ROLE = "arn:aws:iam::123456789012:role/ecr-upstream"
HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
UPSTREAM = "333333333333.dkr.ecr.eu-west-1.amazonaws.com"
NO_ENDPOINTS: dict[str, Any] = {"endpoints": {"enabled": False}}
ECR_UPSTREAM: dict[str, Any] = {
    "upstreams": {
        UPSTREAM: {"prefix": "shared-services", "upstreamRepositoryPrefix": "golden", "roleArn": ROLE}
    },
    "access": {"accountIds": ["111111111111"], "applyToExistingRepositories": True},
    **NO_ENDPOINTS,
}
PIN = "sha256:" + "a" * 64


def test_an_ecr_upstream_prefix_is_replaced_by_the_cache_prefix(run_program: RunProgram) -> None:
    """ECR maps cache `shared-services/<rest>` to upstream `golden/<rest>`: the cache name has no `golden`."""
    run = run_program(ECR_UPSTREAM, images=f"- {UPSTREAM}/golden/base:1.0\n")
    (warmed,) = [inputs for _, inputs in run.of_type(WARMED)]
    assert warmed["cache_reference"] == f"{HOST}/shared-services/base:1.0"
    assert warmed["repository"] == "base"
    assert warmed["registry_url"] == f"https://{HOST}/shared-services"
    (policy,) = [inputs for _, inputs in run.of_type(REPOSITORY_POLICY)]
    assert policy["repository"] == "shared-services/base"
    images = run.plan.outputs["images"]
    assert images == {f"{UPSTREAM}/golden/base:1.0": f"{HOST}/shared-services/base:1.0@{WARMED_DIGEST}"}


def test_images_outside_the_upstream_prefix_are_refused_with_file_and_line(run_program: RunProgram) -> None:
    images = f"- {UPSTREAM}/golden/base:1.0\n- {UPSTREAM}/other/tool:2\n"
    with pytest.raises(InputError) as caught:
        run_program(ECR_UPSTREAM, images=images)
    message = str(caught.value)
    assert "images.yaml:2:" in message
    assert "outside the rule's upstreamRepositoryPrefix 'golden'" in message


def test_an_ecr_upstream_without_an_upstream_prefix_sets_root_explicitly(run_program: RunProgram) -> None:
    run = run_program({"upstreams": {UPSTREAM: {"prefix": "team", "roleArn": ROLE}}, **NO_ENDPOINTS})
    (rule,) = [inputs for _, inputs in run.of_type(RULE)]
    assert rule["upstreamRepositoryPrefix"] == "ROOT"
    root = run_program({"upstreams": {UPSTREAM: {"prefix": "ROOT", "roleArn": ROLE}}, **NO_ENDPOINTS})
    (rule,) = [inputs for _, inputs in root.of_type(RULE)]
    assert "upstreamRepositoryPrefix" not in rule, "ECR refuses an upstream prefix under the ROOT prefix"


def test_a_digest_pin_warms_the_tag_and_names_repositories_without_the_digest(
    run_program: RunProgram,
) -> None:
    run = run_program(
        {
            "upstreams": {"quay.io": {}},
            "access": {"accountIds": ["111111111111"], "applyToExistingRepositories": True},
            **NO_ENDPOINTS,
        },
        images=f"- quay.io/a/b:1@{PIN}\n",
    )
    (warmed,) = [inputs for _, inputs in run.of_type(WARMED)]
    assert warmed["cache_reference"] == f"{HOST}/quay/a/b:1", (
        "warmed by tag: ECR cannot pull an uncached digest"
    )
    assert warmed["tag"] == "1" and warmed["pinned_digest"] == PIN
    (policy,) = [inputs for _, inputs in run.of_type(REPOSITORY_POLICY)]
    assert policy["repository"] == "quay/a/b"
    assert run.plan.outputs["images"] == {f"quay.io/a/b:1@{PIN}": f"{HOST}/quay/a/b:1@{WARMED_DIGEST}"}


def test_without_warming_the_output_carries_the_pin_once(run_program: RunProgram) -> None:
    run = run_program(
        {"upstreams": {"quay.io": {}}, "warm": {"enabled": False}, **NO_ENDPOINTS},
        images=f"- quay.io/a/b:1@{PIN}\n",
    )
    assert run.plan.outputs["images"] == {f"quay.io/a/b:1@{PIN}": f"{HOST}/quay/a/b:1@{PIN}"}


def test_the_provider_fails_an_image_whose_served_digest_differs_from_its_pin(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The warmer checks the pin (as it does for the CLI); the provider fails the resource with it."""
    from components.warm import operations as warm_operations
    from components.warm.manifests import Manifest
    from components.warm.targets import WarmResult, WarmTarget
    from components.warm.warmer import Warmer

    class ServesWarmedDigest:
        """What `Warmer.resolve` asks of a client, serving the tag as WARMED_DIGEST."""

        async def get_manifest(self, repository: str, reference: str) -> Manifest:
            return Manifest(WARMED_DIGEST, "application/vnd.oci.image.manifest.v1+json", b"{}")

    class ResolvingWarmer:
        def __init__(self, client: object) -> None:
            self.warmer = Warmer(ServesWarmedDigest())  # type: ignore[arg-type]

        async def warm(self, target: WarmTarget) -> WarmResult:
            return await self.warmer.resolve(target)

    monkeypatch.setattr(warm_operations, "Warmer", ResolvingWarmer)
    props = {
        "source": f"quay.io/a/b:1@{PIN}",
        "cache_reference": f"{HOST}/quay/a/b:1",
        "registry_url": "http://127.0.0.1:1/quay",
        "repository": "a/b",
        "tag": "1",
        "platforms": None,
        "pinned_digest": PIN,
    }
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            f"quay.io/a/b:1@{PIN} through {HOST}/quay/a/b:1 failed: the cache serves {WARMED_DIGEST} "
        ),
    ):
        warm_image(props)
    matching = f"quay.io/a/b:1@{WARMED_DIGEST}"
    assert warm_image({**props, "source": matching, "pinned_digest": WARMED_DIGEST}).digest == WARMED_DIGEST
    assert json.dumps(props)  # plain values only: the props are what the provider stores


def test_other_backends_check_the_pin_when_the_output_is_built() -> None:
    from components.model.catalogue import CatalogueEntry
    from components.model.images import parse_image
    from components.resources.warming import WarmSpec, check_pin

    entry = CatalogueEntry(
        ref=parse_image(f"quay.io/a/b:1@{PIN}"), platforms=None, source="images.yaml", line=3
    )
    spec = WarmSpec(entry, HOST, "quay")
    assert check_pin(spec, PIN) == PIN
    with pytest.raises(DigestMismatchError, match=re.escape("images.yaml:3: quay.io/a/b:1@sha256:a")):
        check_pin(spec, WARMED_DIGEST)
