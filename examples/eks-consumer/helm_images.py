"""Point the images of a Helm values structure at an ECR pull-through cache.

Copy this file into your project; it depends on nothing but the standard library.
`cache_prefixes` is the cache stack's `cache_prefixes` output: upstream registry ->
`<account>.dkr.ecr.<region>.amazonaws.com/<prefix>`.

Normalization follows the distribution reference rules: the first path component
is a registry when it contains '.' or ':', is 'localhost', has an uppercase letter
(repositories cannot) or is an IPv6 address in brackets; otherwise the image is on
Docker Hub. `docker.io`, `index.docker.io` and `registry-1.docker.io` all mean
Docker Hub, and its single-name images live under `library/`. Tags and digests are
kept as they are. Images from registries the cache does not front are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DOCKER_HUB = "docker.io"
_DOCKER_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}


def split_image(image: str) -> tuple[str, str, str]:
    """`(registry, repository, suffix)`, where suffix is `:tag`, `@digest`, both, or empty."""
    name, at, digest = image.partition("@")
    suffix = f"@{digest}" if at else ""
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name, suffix = name[:colon], name[colon:] + suffix
    first, _, rest = name.partition("/")
    looks_like_host = "." in first or ":" in first or first == "localhost" or first.lower() != first
    if rest and (looks_like_host or first.startswith("[")):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
    if registry in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    return registry, repository, suffix


def rewrite_image(image: str, cache_prefixes: Mapping[str, str]) -> str:
    registry, repository, suffix = split_image(image)
    prefix = cache_prefixes.get(registry)
    return f"{prefix}/{repository}{suffix}" if prefix else image


def _rewrite_block(block: Mapping[str, Any], cache_prefixes: Mapping[str, str]) -> dict[str, Any]:
    """The `{registry, repository, tag|digest}` form many charts use."""
    registry = block.get("registry")
    repository = str(block["repository"])
    full = f"{registry}/{repository}" if registry else repository
    upstream, normalized, _ = split_image(full)
    prefix = cache_prefixes.get(upstream)
    if prefix is None:
        return dict(block)
    cache_registry, _, cache_path = prefix.partition("/")
    rewritten = dict(block)
    rewritten["registry"] = cache_registry
    rewritten["repository"] = f"{cache_path}/{normalized}" if cache_path else normalized
    return rewritten


def rewrite_helm_values(values: Mapping[str, Any], cache_prefixes: Mapping[str, str]) -> dict[str, Any]:
    """A copy of `values` with every `image` pointed at the cache; the input is not changed."""

    def walk(node: Any, key: str | None) -> Any:
        if key == "image" and isinstance(node, str):
            return rewrite_image(node, cache_prefixes)
        if key == "image" and isinstance(node, Mapping) and "repository" in node:
            return {k: walk(v, k) for k, v in _rewrite_block(node, cache_prefixes).items()}
        if isinstance(node, Mapping):
            return {k: walk(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(item, None) for item in node]
        return node

    result: dict[str, Any] = walk(values, None)
    return result
