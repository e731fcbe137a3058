"""What `pulumi up` warms and copies: a `WarmSpec` per catalogue tag, and the provider every
`WarmedImage` and `CopiedImage` shares.

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
from components.model.upstreams import api_url
from components.resources.copies import CopySource
from components.resources.warming import CacheWarmingArgs, WarmSpec
from components.warm.provider import CacheWarmProvider


def warm_specs(
    entries: Sequence[CatalogueEntry],
    prefixes: Mapping[str, str],
    registry: str,
    upstream_prefixes: Mapping[str, str | None] | None = None,
    copies: Mapping[str, tuple[str, CopySource]] | None = None,
) -> list[WarmSpec]:
    """A spec per catalogue tag: warmed through `prefixes`' rules, or copied (`copies`: copied
    upstream registry -> its prefix and where it is read)."""
    upstream_prefixes = upstream_prefixes or {}
    copies = copies or {}
    specs: list[WarmSpec] = []
    for entry in entries:
        upstream = entry.ref.registry
        if upstream in copies:
            prefix, source = copies[upstream]
            specs.append(WarmSpec(entry, registry, prefix, copy=source))
        else:
            specs.append(WarmSpec(entry, registry, prefixes[upstream], upstream_prefixes.get(upstream)))
    return specs


def copy_sources(settings: StackSettings) -> dict[str, tuple[str, CopySource]]:
    """Each copied upstream: its prefix, its API's URL, and its login's secret (name or ARN) and
    token realm, if any."""
    return {
        copy.registry: (
            copy.prefix,
            CopySource(
                upstream_url=api_url(copy.registry),
                credential_secret=copy.credential.secret_name if copy.credential is not None else None,
                token_realm=copy.token_realm,
            ),
        )
        for copy in settings.copies
    }


def stack_specs(settings: StackSettings, registry: str) -> list[WarmSpec]:
    """Every tag the stack warms or copies (selectors' from the lock), in `registry`."""
    entries = [tag.entry for tag in settings.warm_tags()]
    return warm_specs(
        entries, settings.cache_prefixes(), registry, settings.upstream_prefixes(), copy_sources(settings)
    )


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
        # Copies always go through the provider: the other backends pull, and cannot push byte for byte.
        provider=serialized_warm_provider()
        if warm.backend == "provider" or any(spec.copy is not None for spec in specs)
        else None,
    )
