"""Configuration self-managed nodes need to pull through the cache: kubelet and containerd.

- kubelet: a `CredentialProviderConfig` for `ecr-credential-provider`
  (https://kubernetes.io/docs/tasks/administer-cluster/kubelet-credential-provider/).
- containerd: a `hosts.toml` per upstream that sends `docker.io/...` pulls to the cache
  without rewriting image names. ECR serves the cache under a path, so the host URL
  carries `/v2/<prefix>` and `override_path = true` (containerd docs/hosts.md;
  containerd/containerd#6634). `server` is the cache too: a fallback to the upstream
  would send the ECR token there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import yaml

MIN_CREDENTIAL_PROVIDER_VERSION = "1.29"
CREDENTIAL_CACHE_DURATION = "12h"  # ECR authorization tokens last 12 hours
_ECR_IMAGE_PATTERNS = ("*.dkr.ecr.*.amazonaws.com", "*.dkr.ecr.*.amazonaws.com.cn")


def kubelet_credential_provider_config(*, registry_host: str, upstreams: tuple[str, ...] = ()) -> str:
    """YAML for kubelet's `--image-credential-provider-config`.

    Upstream registries are matched too, so images pulled by their original names
    through a containerd mirror get ECR credentials (needs the provider >= 1.29).
    """
    document = {
        "apiVersion": "kubelet.config.k8s.io/v1",
        "kind": "CredentialProviderConfig",
        "providers": [
            {
                "name": "ecr-credential-provider",
                "matchImages": [registry_host, *_ECR_IMAGE_PATTERNS, *sorted(upstreams)],
                "defaultCacheDuration": CREDENTIAL_CACHE_DURATION,
                "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
            }
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


def _toml_string(value: str) -> str:
    """A TOML basic string; JSON's escaping is a valid subset of TOML's."""
    return json.dumps(value)


def containerd_hosts_toml(*, upstream_registry: str, cache_prefix_url: str) -> str:
    """`/etc/containerd/certs.d/<upstream>/hosts.toml` that pulls `<upstream>/...` through the cache."""
    registry_host, _, prefix = cache_prefix_url.partition("/")
    if not registry_host:
        raise ValueError(f"{cache_prefix_url!r} is not '<registry host>[/<prefix>]'")
    endpoint = f"https://{registry_host}/v2/{prefix}".rstrip("/")
    return "\n".join(
        [
            f"# {upstream_registry} through the ECR pull-through cache. kubelet authenticates with",
            f"# ecr-credential-provider >= {MIN_CREDENTIAL_PROVIDER_VERSION}, matching {upstream_registry} images.",
            f"server = {_toml_string(endpoint)}",
            "",
            f"[host.{_toml_string(endpoint)}]",
            '  capabilities = ["pull", "resolve"]',
            "  override_path = true",
            "",
        ]
    )


def containerd_hosts(*, cache_prefixes: Mapping[str, str]) -> dict[str, str]:
    """Upstream registry -> hosts.toml text; the key is the directory name under certs.d."""
    return {
        upstream: containerd_hosts_toml(upstream_registry=upstream, cache_prefix_url=prefix_url)
        for upstream, prefix_url in sorted(cache_prefixes.items())
    }
