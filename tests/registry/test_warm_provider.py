"""The dynamic provider survives Pulumi's serialization and warms, refreshes and prunes for real."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import dill
import httpx
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.warm import operations as warm_operations
from components.warm.provider import CacheWarmProvider
from tests.registry.conftest import ROOT, Seeded

FRESH_INTERPRETER = """
import base64, dill, json, sys
provider = dill.loads(base64.b64decode(sys.stdin.readline()))
props = json.loads(sys.stdin.readline())
result = provider.create(props)
print(json.dumps({"id": result.id, "outs": result.outs}))
"""


def props_for(seeded: Seeded, repository: str, platforms: list[str] | None = None) -> dict[str, Any]:
    image = next(i for i in seeded.images if i.repository == repository)
    return {
        "source": image.reference(seeded.pair.upstream.address),
        "cache_reference": image.reference(seeded.pair.cache.address),
        "registry_url": seeded.pair.cache.url,
        "repository": image.repository,
        "tag": image.tag,
        "platforms": platforms,
        "prune": False,
    }


def test_serialized_provider_warms_from_a_fresh_interpreter_elsewhere(seeded: Seeded, tmp_path: Path) -> None:
    serialized = serialize_provider(CacheWarmProvider(str(ROOT)))
    props = props_for(seeded, "demo/multi-arch")
    result = subprocess.run(
        [sys.executable, "-I", "-c", FRESH_INTERPRETER],
        input=f"{serialized}\n{json.dumps(props)}\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    multi = next(i for i in seeded.images if i.repository == "demo/multi-arch")
    assert created["outs"]["digest"] == multi.digest
    assert created["id"] == f"{props['cache_reference']}@{multi.digest}"
    assert created["outs"]["platforms_warmed"] == ["linux/amd64", "linux/arm64"]
    seeded.pair.upstream.stop()
    for manifest in multi.manifests[:2]:
        response = httpx.head(
            f"{seeded.pair.cache.url}/v2/demo/multi-arch/manifests/{manifest}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert response.status_code == 200


def test_serialized_provider_holds_only_the_project_path(monkeypatch: Any) -> None:
    """Pulumi stores the pickle in the state: no token, no config, nothing but where the code is."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "RECOGNIZABLE-AWS-SECRET")
    serialized = serialize_provider(CacheWarmProvider(str(ROOT)))
    provider = dill.loads(base64.b64decode(serialized))
    assert vars(provider) == {"project_root": str(ROOT)}
    assert b"RECOGNIZABLE" not in base64.b64decode(serialized)
    assert not CacheWarmProvider.serialize_as_secret_always, "nothing in it needs hiding"


def test_read_notices_an_expired_image_and_delete_prunes_only_when_asked(seeded: Seeded) -> None:
    """Against the plain registry: distribution's proxy mode refuses DELETE (405); ECR prunes via the API."""
    props = {**props_for(seeded, "demo/oci-app"), "registry_url": seeded.pair.upstream.url}
    created = warm_operations.create(props)
    state = created.outs
    assert state is not None
    assert warm_operations.read(created.id, state).id == created.id

    warm_operations.delete({**state, "prune": False})
    assert warm_operations.read(created.id, state).id == created.id, "kept: prune is off by default"

    warm_operations.delete({**state, "prune": True})
    refreshed = warm_operations.read(created.id, state)
    assert refreshed.id is None, "refresh drops the expired image, so the next up warms it again"


def test_diff_replaces_on_what_is_warmed(seeded: Seeded) -> None:
    props = props_for(seeded, "demo/oci-app")
    assert not warm_operations.diff(props, dict(props)).changes
    moved = warm_operations.diff(props, {**props, "platforms": ["linux/arm64"]})
    assert moved.changes and moved.replaces == ["platforms"]
    renamed = warm_operations.diff(props, {**props, "cache_reference": "x", "source": "y"})
    assert set(renamed.replaces or []) == {"source", "cache_reference"}
    pruning = warm_operations.diff(props, {**props, "prune": True})
    assert pruning.changes and not pruning.replaces
    elsewhere = warm_operations.diff(
        props, {**props, "registry_url": "https://210987654321.dkr.ecr.eu-west-1.amazonaws.com/quay"}
    )
    assert elsewhere.replaces == ["registry_url"], "another cache holds none of it"


def test_update_keeps_what_was_warmed(seeded: Seeded) -> None:
    """Only `prune` updates in place; the warmed digest and platforms stay in the state."""
    olds = {
        **props_for(seeded, "demo/oci-app"),
        "digest": "sha256:" + "a" * 64,
        "platforms_warmed": ["linux/amd64"],
        "media_type": "x",
    }
    news = {**props_for(seeded, "demo/oci-app"), "prune": True}
    updated = warm_operations.update(olds, news)
    assert updated["prune"] is True
    assert (updated["digest"], updated["platforms_warmed"], updated["media_type"]) == (
        olds["digest"],
        ["linux/amd64"],
        "x",
    )


def test_providers_pickled_before_the_move_still_find_their_operations() -> None:
    """Deployed stacks' pickles import `components.warm_operations` by name."""
    import importlib

    old = importlib.import_module("components.warm_operations")
    assert (old.create, old.read, old.delete) == (
        warm_operations.create,
        warm_operations.read,
        warm_operations.delete,
    )


def test_pruning_an_ecr_image_deletes_it_from_the_prefixed_repository(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    calls: list[tuple[str, dict[str, object]]] = []

    class FakeEcr:
        def batch_delete_image(self, **kwargs: object) -> None:
            calls.append(("delete", kwargs))

    def client(service: str, region_name: str) -> FakeEcr:
        calls.append((service, {"region": region_name}))
        return FakeEcr()

    monkeypatch.setattr(boto3, "client", client)
    props = {
        "registry_url": "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/quay",
        "repository": "a/b",
        "digest": "sha256:" + "a" * 64,
        "prune": True,
    }
    warm_operations.delete(props)
    assert calls == [
        ("ecr", {"region": "eu-west-1"}),
        ("delete", {"repositoryName": "quay/a/b", "imageIds": [{"imageDigest": props["digest"]}]}),
    ]
