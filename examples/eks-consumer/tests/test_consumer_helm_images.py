"""The function users copy: Helm values rewritten to pull through the cache."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from helm_images import rewrite_helm_values, rewrite_image, split_image

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
PREFIXES = {
    "docker.io": f"{REGISTRY}/docker-hub",
    "quay.io": f"{REGISTRY}/quay",
    "registry.k8s.io": f"{REGISTRY}/k8s",
    "public.ecr.aws": f"{REGISTRY}/ecr-public",
    "ghcr.io": REGISTRY,
}
DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("nginx", f"{REGISTRY}/docker-hub/library/nginx"),
        ("nginx:1.27", f"{REGISTRY}/docker-hub/library/nginx:1.27"),
        ("docker.io/nginx:1.27", f"{REGISTRY}/docker-hub/library/nginx:1.27"),
        ("index.docker.io/library/nginx:1.27", f"{REGISTRY}/docker-hub/library/nginx:1.27"),
        ("registry-1.docker.io/bitnami/redis:7", f"{REGISTRY}/docker-hub/bitnami/redis:7"),
        ("grafana/grafana:11.4.0", f"{REGISTRY}/docker-hub/grafana/grafana:11.4.0"),
        ("quay.io/argoproj/argocd:v2.7.3", f"{REGISTRY}/quay/argoproj/argocd:v2.7.3"),
        (f"quay.io/argoproj/argocd:v2.7.3@{DIGEST}", f"{REGISTRY}/quay/argoproj/argocd:v2.7.3@{DIGEST}"),
        (f"registry.k8s.io/pause@{DIGEST}", f"{REGISTRY}/k8s/pause@{DIGEST}"),
        ("ghcr.io/dexidp/dex:v2.41.1", f"{REGISTRY}/dexidp/dex:v2.41.1"),
        ("localhost:5000/team/app:v1", "localhost:5000/team/app:v1"),
        ("gcr.io/distroless/static:nonroot", "gcr.io/distroless/static:nonroot"),
    ],
)
def test_rewrite_image(image: str, expected: str) -> None:
    assert rewrite_image(image, PREFIXES) == expected


def test_split_image_keeps_ports_apart_from_tags() -> None:
    assert split_image("localhost:5000/team/app") == ("localhost:5000", "team/app", "")
    assert split_image("localhost:5000/team/app:v1") == ("localhost:5000", "team/app", ":v1")


VALUES: dict[str, Any] = {
    "image": {"repository": "registry.k8s.io/metrics-server/metrics-server", "tag": "v0.7.2"},
    "redis": {"image": {"registry": "public.ecr.aws", "repository": "docker/library/redis", "tag": "7.0.15"}},
    "hub": {"image": {"registry": "docker.io", "repository": "nginx", "digest": DIGEST}},
    "dex": {"image": "ghcr.io/dexidp/dex:v2.41.1"},
    "sidecars": [{"name": "x", "image": "busybox:1.36"}, {"name": "y", "image": "gcr.io/a/b:1"}],
    "other": {"imagePullPolicy": "IfNotPresent", "replicas": 2, "tag": "not-an-image"},
    "untouched": {"image": {"registry": "gcr.io", "repository": "a/b", "tag": "1"}},
}


def test_rewrite_helm_values() -> None:
    rewritten = rewrite_helm_values(VALUES, PREFIXES)
    assert rewritten["image"] == {
        "registry": REGISTRY,
        "repository": "k8s/metrics-server/metrics-server",
        "tag": "v0.7.2",
    }
    assert rewritten["redis"]["image"] == {
        "registry": REGISTRY,
        "repository": "ecr-public/docker/library/redis",
        "tag": "7.0.15",
    }
    assert rewritten["hub"]["image"] == {
        "registry": REGISTRY,
        "repository": "docker-hub/library/nginx",
        "digest": DIGEST,
    }
    assert rewritten["dex"]["image"] == f"{REGISTRY}/dexidp/dex:v2.41.1"
    assert rewritten["sidecars"][0]["image"] == f"{REGISTRY}/docker-hub/library/busybox:1.36"
    assert rewritten["sidecars"][1]["image"] == "gcr.io/a/b:1"
    assert rewritten["other"] == VALUES["other"]
    assert rewritten["untouched"] == VALUES["untouched"]


def test_input_is_not_mutated() -> None:
    before = copy.deepcopy(VALUES)
    rewrite_helm_values(VALUES, PREFIXES)
    assert before == VALUES


def test_split_image_reads_an_uppercase_or_bracketed_first_component_as_a_registry() -> None:
    """Repositories are lowercase, so `Registry/app` names a host, as the project's own parser says."""
    assert split_image("MyRegistry/team/app:v1") == ("MyRegistry", "team/app", ":v1")
    assert split_image("[::1]:5000/team/app") == ("[::1]:5000", "team/app", "")
    assert split_image("team/app") == ("docker.io", "team/app", "")
