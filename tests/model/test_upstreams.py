"""The upstream catalogue and the mapping of an image to its place in the cache."""

from __future__ import annotations

import pytest

from components.errors import UnsupportedUpstreamError
from components.model.ecr import CachePrefix, EcrRegistry, check_prefix
from components.model.images import parse_image
from components.model.upstreams import Credential, resolve_upstream, short_region

REGISTRY = EcrRegistry("123456789012", "eu-west-1").host


@pytest.mark.parametrize(
    ("image", "upstream_url", "prefix", "credential", "cache_ref"),
    [
        (
            "nginx:1.27",
            "registry-1.docker.io",
            "docker-hub",
            Credential.SECRET,
            f"{REGISTRY}/docker-hub/library/nginx:1.27",
        ),
        (
            "registry-1.docker.io/grafana/grafana:11.4.0",
            "registry-1.docker.io",
            "docker-hub",
            Credential.SECRET,
            f"{REGISTRY}/docker-hub/grafana/grafana:11.4.0",
        ),
        (
            "public.ecr.aws/docker/library/redis:7",
            "public.ecr.aws",
            "ecr-public",
            Credential.NONE,
            f"{REGISTRY}/ecr-public/docker/library/redis:7",
        ),
        (
            "registry.k8s.io/pause:3.10",
            "registry.k8s.io",
            "k8s",
            Credential.NONE,
            f"{REGISTRY}/k8s/pause:3.10",
        ),
        (
            "quay.io/argoproj/argocd:v2.7.3",
            "quay.io",
            "quay",
            Credential.NONE,
            f"{REGISTRY}/quay/argoproj/argocd:v2.7.3",
        ),
        (
            "ghcr.io/dexidp/dex:v2.41.1",
            "ghcr.io",
            "ghcr",
            Credential.SECRET,
            f"{REGISTRY}/ghcr/dexidp/dex:v2.41.1",
        ),
        (
            "registry.gitlab.com/group/project/app:1",
            "registry.gitlab.com",
            "gitlab",
            Credential.SECRET,
            f"{REGISTRY}/gitlab/group/project/app:1",
        ),
        (
            "acmeregistry.azurecr.io/team/app:2",
            "acmeregistry.azurecr.io",
            "azure-acmeregistry",
            Credential.SECRET,
            f"{REGISTRY}/azure-acmeregistry/team/app:2",
        ),
        (
            "cgr.dev/chainguard/static:latest",
            "cgr.dev",
            "chainguard",
            Credential.SECRET,
            f"{REGISTRY}/chainguard/chainguard/static:latest",
        ),
        (
            "333333333333.dkr.ecr.ap-southeast-2.amazonaws.com/golden/base:1",
            "333333333333.dkr.ecr.ap-southeast-2.amazonaws.com",
            "ecr-333333333333-apse2",
            Credential.ROLE,
            f"{REGISTRY}/ecr-333333333333-apse2/golden/base:1",
        ),
    ],
)
def test_every_supported_upstream(
    image: str, upstream_url: str, prefix: str, credential: Credential, cache_ref: str
) -> None:
    ref = parse_image(image)
    upstream = resolve_upstream(ref.registry)
    assert upstream.upstream_registry_url == upstream_url
    assert upstream.default_prefix == prefix
    assert check_prefix(prefix) is None, "default prefixes must be valid ECR prefixes"
    assert upstream.credential is credential
    assert CachePrefix(REGISTRY, upstream.default_prefix).location(ref).reference() == cache_ref


def test_docker_hub_official_images_keep_library_in_the_cache_path() -> None:
    ref = parse_image("docker.io/nginx:1")
    assert (
        CachePrefix(REGISTRY, "docker-hub").location(ref).reference().endswith("/docker-hub/library/nginx:1")
    )


def test_digest_is_kept_after_the_tag() -> None:
    digest = "sha256:" + "a" * 64
    ref = parse_image(f"quay.io/a/b:1@{digest}")
    assert CachePrefix(REGISTRY, "quay").location(ref).reference() == f"{REGISTRY}/quay/a/b:1@{digest}"


@pytest.mark.parametrize(
    "registry", ["gcr.io", "mcr.microsoft.com", "127.0.0.1:5000", "registry.example.com"]
)
def test_unsupported_registries_list_the_supported_ones(registry: str) -> None:
    with pytest.raises(UnsupportedUpstreamError, match=r"supported: docker\.io, public\.ecr\.aws"):
        resolve_upstream(registry)


def test_ecr_private_carries_account_and_region() -> None:
    upstream = resolve_upstream("333333333333.dkr.ecr.us-west-2.amazonaws.com")
    assert (upstream.ecr_account_id, upstream.ecr_region) == ("333333333333", "us-west-2")


@pytest.mark.parametrize(
    ("region", "short"),
    [
        ("us-east-1", "use1"),
        ("ap-southeast-2", "apse2"),
        ("eu-central-1", "euc1"),
        ("ap-northeast-2", "apne2"),
    ],
)
def test_short_region(region: str, short: str) -> None:
    assert short_region(region) == short
