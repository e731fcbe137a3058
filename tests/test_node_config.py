"""Self-managed node configuration parses, and points at this registry."""

from __future__ import annotations

import tomllib

import yaml

from components.node_config import containerd_hosts, kubelet_credential_provider_config

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def test_kubelet_credential_provider_config() -> None:
    document = yaml.safe_load(
        kubelet_credential_provider_config(registry_host=REGISTRY, upstreams=("quay.io",))
    )
    assert document["apiVersion"] == "kubelet.config.k8s.io/v1"
    assert document["kind"] == "CredentialProviderConfig"
    (provider,) = document["providers"]
    assert provider["name"] == "ecr-credential-provider"
    assert provider["apiVersion"] == "credentialprovider.kubelet.k8s.io/v1"
    assert provider["defaultCacheDuration"] == "12h"
    assert provider["matchImages"][0] == REGISTRY
    assert "*.dkr.ecr.*.amazonaws.com" in provider["matchImages"]
    assert "quay.io" in provider["matchImages"]


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
    assert docker["server"] == endpoint
    assert docker["host"] == {endpoint: {"capabilities": ["pull", "resolve"], "override_path": True}}
    assert "1.29" in hosts["docker.io"]
    quay = tomllib.loads(hosts["quay.io"])
    assert list(quay["host"]) == [f"https://{REGISTRY}/v2/quay"]
    root = tomllib.loads(hosts["ghcr.io"])
    assert list(root["host"]) == [f"https://{REGISTRY}/v2"], "a ROOT prefix has no path of its own"
