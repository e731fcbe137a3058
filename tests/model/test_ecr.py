"""The one ECR host grammar, and the one place a cache repository, reference and URL are composed."""

from __future__ import annotations

import pytest

from components.errors import UnsupportedUpstreamError
from components.model.ecr import ROOT_PREFIX, CachePrefix, EcrRegistry, in_layer_bucket, layer_bucket
from components.model.images import parse_image
from components.model.upstreams import resolve_upstream
from components.policies.node_config import mirrorable

HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
FIPS = "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com"


def test_a_registry_host_round_trips() -> None:
    registry = EcrRegistry.parse(HOST)
    assert registry == EcrRegistry("123456789012", "eu-west-1")
    assert registry is not None and registry.host == HOST


def test_the_fips_host_is_an_ecr_host() -> None:
    registry = EcrRegistry.parse(FIPS)
    assert registry is not None and registry.fips and registry.host == FIPS
    assert not mirrorable(FIPS), "nodes pull another ECR registry by its own name, never through a mirror"


@pytest.mark.parametrize(
    "host",
    [
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",  # China is refused (issue 9)
        "12345678901.dkr.ecr.eu-west-1.amazonaws.com",  # 11 digits
        "123456789012.dkr.ecr.eu-west.amazonaws.com",  # not a region
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example",
        "123456789012.dkr.ecr-gov.eu-west-1.amazonaws.com",
    ],
)
def test_other_hosts_are_not_ecr_hosts(host: str) -> None:
    assert EcrRegistry.parse(host) is None


def test_a_rule_upstream_names_the_standard_host_not_the_fips_one() -> None:
    with pytest.raises(
        UnsupportedUpstreamError, match=r"use '123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com'"
    ):
        resolve_upstream(FIPS)
    assert resolve_upstream(HOST).ecr_account_id == "123456789012"


def test_a_location_under_root_carries_the_upstream_names() -> None:
    location = CachePrefix(HOST, ROOT_PREFIX).location(parse_image("nginx:1"))
    assert location.repository == "library/nginx"
    assert location.reference() == f"{HOST}/library/nginx:1"
    assert CachePrefix(HOST, ROOT_PREFIX).url == HOST
    assert CachePrefix(HOST, ROOT_PREFIX).v2_url == f"https://{HOST}/v2"


def test_a_location_drops_the_upstream_prefix_and_keeps_the_pin() -> None:
    pin = "sha256:" + "a" * 64
    prefix = CachePrefix(HOST, "team", upstream_prefix="org")
    location = prefix.location(parse_image(f"quay.io/org/app:1@{pin}"))
    assert location.repository == "team/app"
    assert location.reference() == f"{HOST}/team/app:1@{pin}"
    served = "sha256:" + "b" * 64
    assert location.reference(served) == f"{HOST}/team/app:1@{served}"
    assert prefix.registry_url == f"https://{HOST}/team"
    assert prefix.v2_url == f"https://{HOST}/v2/team"


def test_an_image_outside_the_upstream_prefix_is_refused() -> None:
    with pytest.raises(UnsupportedUpstreamError, match="outside the rule's upstreamRepositoryPrefix"):
        CachePrefix(HOST, "team", upstream_prefix="org").location(parse_image("quay.io/other/app:1"))


def test_a_prefix_url_parses_back() -> None:
    assert CachePrefix.from_url(f"{HOST}/team/k8s") == CachePrefix(HOST, "team/k8s")
    assert CachePrefix.from_url(HOST) == CachePrefix(HOST, ROOT_PREFIX)


@pytest.mark.parametrize(
    ("url", "prefix", "repository"),
    [
        (f"https://{HOST}/quay", CachePrefix(HOST, "quay"), "quay/a/b"),
        (f"https://{HOST}", CachePrefix(HOST, ROOT_PREFIX), "a/b"),
        ("http://127.0.0.1:5000/team/hub/", CachePrefix("127.0.0.1:5000", "team/hub"), "team/hub/a/b"),
    ],
)
def test_a_registry_url_names_its_prefix_and_the_repositories_below_it(
    url: str, prefix: CachePrefix, repository: str
) -> None:
    parsed = CachePrefix.from_registry_url(url)
    assert parsed == prefix and parsed.repository("a/b") == repository
    assert CachePrefix.from_registry_url(parsed.registry_url) == parsed


@pytest.mark.parametrize(
    ("url", "ours"),
    [
        ("https://prod-eu-west-1-starport-layer-bucket.s3.eu-west-1.amazonaws.com/a?X-Amz-Signature=s", True),
        ("https://prod-eu-west-1-starport-layer-bucket.s3.amazonaws.com/a", True),
        ("https://prod-eu-west-1-starport-layer-bucket.s3.dualstack.eu-west-1.amazonaws.com/a", True),
        ("https://s3.eu-west-1.amazonaws.com/prod-eu-west-1-starport-layer-bucket/a", True),
        ("https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/a", False),
        ("https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/a", False),
        ("https://prod-eu-west-1-starport-layer-bucket.s3.eu-west-1.amazonaws.com.evil.example/a", False),
        ("http://prod-eu-west-1-starport-layer-bucket.s3.eu-west-1.amazonaws.com/a", False),
        ("https://s3.eu-west-1.amazonaws.com/other-bucket/prod-eu-west-1-starport-layer-bucket", False),
    ],
)
def test_only_the_regions_layer_bucket_is_ecrs_own_storage(url: str, ours: bool) -> None:
    """A layer redirect to the upstream's CDN (aws/containers-roadmap#2304) is not ECR's storage."""
    assert in_layer_bucket(url, "eu-west-1") is ours


def test_the_layer_bucket_is_named_once() -> None:
    assert layer_bucket("eu-west-1") == "prod-eu-west-1-starport-layer-bucket"
