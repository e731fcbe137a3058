"""Configuration self-managed nodes need to pull through the cache: kubelet and containerd.

kubelet's `CredentialProviderConfig` (https://kubernetes.io/docs/tasks/administer-cluster/kubelet-credential-provider/)
and containerd's `hosts.toml` per mirrored upstream, cache and copy upstreams alike. Why
`override_path`, `AWS_REGION`, no mirror for ECR hosts, and no fallback from a copy to its
upstream: docs/node-config.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from types import MappingProxyType

import yaml

from components.model.ecr import CachePrefix, is_ecr_host

MIN_CREDENTIAL_PROVIDER_VERSION = "1.29"
CREDENTIAL_CACHE_DURATION = "12h"  # ECR authorization tokens last 12 hours
_ECR_IMAGE_PATTERNS = ("*.dkr.ecr.*.amazonaws.com",)  # no China regions: settings refuse them
_ECR_PUBLIC = "public.ecr.aws"
NO_COPIES: Mapping[str, str] = MappingProxyType({})


def mirrorable(upstream: str) -> bool:
    """Whether nodes can pull `<upstream>/...` through the cache under its own name (see module doc)."""
    return upstream != _ECR_PUBLIC and not is_ecr_host(upstream)


def credential_provider_match_images(
    registry_host: str, upstreams: Iterable[str], also: Iterable[str] = ()
) -> list[str]:
    """The cache's host, ECR's host patterns, `also`, and every mirrorable upstream; each once, in order."""
    mirrored = sorted(upstream for upstream in set(upstreams) if mirrorable(upstream))
    return list(dict.fromkeys([registry_host, *_ECR_IMAGE_PATTERNS, *also, *mirrored]))


def kubelet_credential_provider_config(
    *, registry_host: str, region: str, upstreams: Iterable[str] = (), also_match: Iterable[str] = ()
) -> str:
    """YAML for kubelet's `--image-credential-provider-config`.

    Mirrored upstreams (cache and copy upstreams) are matched too, so images pulled by their
    original names through a containerd mirror get ECR credentials (needs the provider >= 1.29).
    `also_match` keeps patterns a node's own config matched (see node_userdata).
    """
    document = {
        "apiVersion": "kubelet.config.k8s.io/v1",
        "kind": "CredentialProviderConfig",
        "providers": [
            {
                "name": "ecr-credential-provider",
                "matchImages": credential_provider_match_images(registry_host, upstreams, also_match),
                "defaultCacheDuration": CREDENTIAL_CACHE_DURATION,
                "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
                "env": [{"name": "AWS_REGION", "value": region}],
            }
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


def _toml_string(value: str) -> str:
    """A TOML basic string; JSON's escaping is a valid subset of TOML's."""
    return json.dumps(value)


def mirror_endpoint(cache_prefix_url: str) -> str:
    """`https://<registry>/v2/<prefix>`: the URL a mirror sends `<repository>/manifests/...` under."""
    return CachePrefix.from_url(cache_prefix_url).v2_url


def _about(upstream_registry: str, *, copy: bool) -> list[str]:
    """The comment heading a `hosts.toml`: where the images come from, and what authenticates them."""
    authenticated = [
        f"# ecr-credential-provider >= {MIN_CREDENTIAL_PROVIDER_VERSION}, matching {upstream_registry} images."
    ]
    if not copy:
        return [
            f"# {upstream_registry} through the ECR pull-through cache. kubelet authenticates with",
            *authenticated,
        ]
    return [
        f"# {upstream_registry} from its copy in ECR, which holds only the catalogue's images: an image the",
        f"# copy lacks fails here. {upstream_registry} is not `server`, because containerd would send it the",
        "# ECR login kubelet passes for these images. kubelet authenticates with",
        *authenticated,
    ]


def containerd_hosts_toml(*, upstream_registry: str, cache_prefix_url: str, copy: bool = False) -> str:
    """`/etc/containerd/certs.d/<upstream>/hosts.toml` that pulls `<upstream>/...` from ECR only.

    `cache_prefix_url` (`<registry>/<prefix>`) is the cache, or for a `copy` upstream the copy. Either
    way it is `server` as well as the one `[host]`, so containerd has nowhere else to go.
    """
    endpoint = _toml_string(mirror_endpoint(cache_prefix_url))
    pull_only = ['capabilities = ["pull", "resolve"]', "override_path = true"]
    return "\n".join(
        [
            *_about(upstream_registry, copy=copy),
            f"server = {endpoint}",
            *pull_only,
            "",
            f"[host.{endpoint}]",
            *(f"  {line}" for line in pull_only),
            "",
        ]
    )


def containerd_hosts(
    *, cache_prefixes: Mapping[str, str], copy_prefixes: Mapping[str, str] = NO_COPIES
) -> dict[str, str]:
    """Mirrorable upstream registry -> hosts.toml text; the key is the directory name under certs.d.

    Both maps go from an upstream registry to `<registry>/<prefix>`: the pull-through cache's
    prefixes, and the prefixes copies are pushed under. An upstream is one or the other.
    """
    both = sorted(set(cache_prefixes) & set(copy_prefixes))
    if both:
        raise ValueError(f"{', '.join(both)}: an upstream is pulled through the cache or copied, not both")
    sources = {
        **{upstream: (url, False) for upstream, url in cache_prefixes.items()},
        **{upstream: (url, True) for upstream, url in copy_prefixes.items()},
    }
    return {
        upstream: containerd_hosts_toml(upstream_registry=upstream, cache_prefix_url=url, copy=copy)
        for upstream, (url, copy) in sorted(sources.items())
        if mirrorable(upstream)
    }
