"""Self-managed node configuration parses, and points at this registry."""

from __future__ import annotations

import tomllib

import pytest
import yaml

from components.policies.node_config import containerd_hosts, kubelet_credential_provider_config, mirrorable

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
ECR_UPSTREAM = "333333333333.dkr.ecr.us-east-1.amazonaws.com"


def test_kubelet_credential_provider_config() -> None:
    document = yaml.safe_load(
        kubelet_credential_provider_config(
            registry_host=REGISTRY,
            region="eu-west-1",
            upstreams=("quay.io", "docker.io", "public.ecr.aws", ECR_UPSTREAM),
        )
    )
    assert document["apiVersion"] == "kubelet.config.k8s.io/v1"
    assert document["kind"] == "CredentialProviderConfig"
    (provider,) = document["providers"]
    assert provider["name"] == "ecr-credential-provider"
    assert provider["apiVersion"] == "credentialprovider.kubelet.k8s.io/v1"
    assert provider["defaultCacheDuration"] == "12h"
    assert provider["matchImages"] == [
        REGISTRY,
        "*.dkr.ecr.*.amazonaws.com",
        "docker.io",
        "quay.io",
    ]
    assert provider["env"] == [{"name": "AWS_REGION", "value": "eu-west-1"}], (
        "images from non-ECR hosts get a token for the SDK's default region"
    )


def test_upstreams_the_credential_provider_answers_with_other_tokens_are_not_mirrored() -> None:
    assert mirrorable("docker.io") and mirrorable("registry.k8s.io") and mirrorable("acme.azurecr.io")
    assert not mirrorable("public.ecr.aws"), "the provider answers it with an ECR Public token"
    assert not mirrorable(ECR_UPSTREAM), "the provider answers it with a token for that host's region"
    hosts = containerd_hosts(
        cache_prefixes={"public.ecr.aws": f"{REGISTRY}/ecr-public", ECR_UPSTREAM: f"{REGISTRY}/shared"}
    )
    assert hosts == {}


def test_containerd_hosts_mirror_each_upstream_through_the_cache() -> None:
    hosts = containerd_hosts(
        cache_prefixes={
            "docker.io": f"{REGISTRY}/docker-hub",
            "quay.io": f"{REGISTRY}/quay",
            "ghcr.io": REGISTRY,
        }
    )
    assert set(hosts) == {"docker.io", "quay.io", "ghcr.io"}
    docker = tomllib.loads(hosts["docker.io"])
    endpoint = f"https://{REGISTRY}/v2/docker-hub"
    pull_only = {"capabilities": ["pull", "resolve"], "override_path": True}
    assert docker == {"server": endpoint, **pull_only, "host": {endpoint: pull_only}}, (
        "without a top-level override_path containerd appends /v2 to the server's path"
    )
    assert "1.29" in hosts["docker.io"]
    quay = tomllib.loads(hosts["quay.io"])
    assert list(quay["host"]) == [f"https://{REGISTRY}/v2/quay"]
    root = tomllib.loads(hosts["ghcr.io"])
    assert list(root["host"]) == [f"https://{REGISTRY}/v2"], "a ROOT prefix has no path of its own"
    assert root["server"] == f"https://{REGISTRY}/v2"


def test_a_copy_upstream_is_pulled_from_its_copy_and_never_falls_back_to_the_upstream() -> None:
    """The copy is `server` as well as the `[host]`: a fallback to nvcr.io would carry kubelet's ECR
    login there (docs/node-config.md; tests/nodes/test_containerd_copies.py shows it)."""
    hosts = containerd_hosts(
        cache_prefixes={"docker.io": f"{REGISTRY}/docker-hub"},
        copy_prefixes={"nvcr.io": f"{REGISTRY}/nvcr", "mcr.microsoft.com": f"{REGISTRY}/mcr"},
    )
    assert set(hosts) == {"docker.io", "nvcr.io", "mcr.microsoft.com"}
    nvcr = tomllib.loads(hosts["nvcr.io"])
    copy = f"https://{REGISTRY}/v2/nvcr"
    pull_only = {"capabilities": ["pull", "resolve"], "override_path": True}
    assert nvcr == {"server": copy, **pull_only, "host": {copy: pull_only}}
    assert "from its copy in ECR" in hosts["nvcr.io"] and "nvcr.io is not `server`" in hosts["nvcr.io"]
    assert "pull-through cache" in hosts["docker.io"] and "copy" not in hosts["docker.io"]
    assert (
        hosts["docker.io"]
        == containerd_hosts(cache_prefixes={"docker.io": f"{REGISTRY}/docker-hub"})["docker.io"]
    ), "a cache upstream's file does not change"


def test_an_upstream_cannot_be_both_cached_and_copied() -> None:
    with pytest.raises(ValueError, match=r"nvcr\.io: an upstream is pulled through the cache or copied"):
        containerd_hosts(
            cache_prefixes={"nvcr.io": f"{REGISTRY}/nvcr"}, copy_prefixes={"nvcr.io": f"{REGISTRY}/nvcr-copy"}
        )


def test_the_credential_provider_matches_copy_upstreams_as_mirrored_ones() -> None:
    (provider,) = yaml.safe_load(
        kubelet_credential_provider_config(
            registry_host=REGISTRY, region="eu-west-1", upstreams=["docker.io", "nvcr.io"]
        )
    )["providers"]
    assert provider["matchImages"] == [REGISTRY, "*.dkr.ecr.*.amazonaws.com", "docker.io", "nvcr.io"]
