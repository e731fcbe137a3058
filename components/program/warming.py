"""What `pulumi up` warms: a `WarmSpec` per catalogue tag, and the provider every `WarmedImage` shares.

Every name comes from model/ecr.py's `CachePrefix` and `CacheLocation`, through `WarmSpec`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

# `serialize_provider` is what `pulumi.dynamic.Resource` pickles its provider with; there is no
# public way to pickle it once for many resources (see `serialized_warm_provider`).
from pulumi.dynamic.dynamic import serialize_provider

from components.config.settings import StackSettings
from components.config.source import PROJECT_ROOT
from components.model.catalogue import CatalogueEntry
from components.resources.warming import CacheWarmingArgs, WarmSpec
from components.warm.provider import CacheWarmProvider


def warm_specs(
    entries: Sequence[CatalogueEntry],
    prefixes: Mapping[str, str],
    registry: str,
    upstream_prefixes: Mapping[str, str | None] | None = None,
) -> list[WarmSpec]:
    upstream_prefixes = upstream_prefixes or {}
    return [
        WarmSpec(entry, registry, prefixes[entry.ref.registry], upstream_prefixes.get(entry.ref.registry))
        for entry in entries
    ]


def existing_repositories(specs: Sequence[WarmSpec]) -> list[str]:
    """The cache repositories the catalogue implies, named as ECR names them (`<prefix>/<repository>`)."""
    return sorted({spec.repository for spec in specs})


@functools.cache
def serialized_warm_provider() -> str:
    """The provider, pickled once with Pulumi's own `serialize_provider` and shared by every image.

    `pulumi.dynamic.Resource` pickles its provider again for each resource: about 9 ms each here,
    and every call nests one more sorting shim around pickle's `_batch_setitems` that Pulumi never
    removes (pulumi/dynamic/dynamic.py), so a thousand images overflow the stack. One pickle avoids both.
    """
    serialized: str = serialize_provider(CacheWarmProvider(str(PROJECT_ROOT)))
    return serialized


def warming_args(settings: StackSettings, specs: Sequence[WarmSpec], registry: str) -> CacheWarmingArgs:
    warm = settings.warm
    return CacheWarmingArgs(
        specs=specs,
        registry=registry,
        backend=warm.backend,
        prune=warm.prune,
        pull_command=warm.pull_command,
        provider=serialized_warm_provider() if warm.backend == "provider" else None,
    )
