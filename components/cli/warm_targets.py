"""What `warm` does, from the catalogue and where to do it: the tags to warm through each cache
(`--mirror`, or the stack's cache prefixes), and the tags to copy along each route (`--copy`, or the
stack's copy upstreams), each target checked before any request; and how each result is reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.cli.mirrors import Mirror
from components.errors import InputError, Problem
from components.model.catalogue import CatalogueEntry
from components.model.images import DEFAULT_TAG
from components.model.upstreams import api_host
from components.warm.engine import CopyRoute
from components.warm.targets import WarmResult, WarmTarget


@dataclass(frozen=True)
class WarmWork:
    """Targets to warm, by cache URL, and targets to copy, by route."""

    warm: dict[str, list[WarmTarget]]
    copy: dict[CopyRoute, list[WarmTarget]]


def _problem(
    entry: CatalogueEntry, mirrors: Mapping[str, Mirror], copies: Mapping[str, Mirror]
) -> Problem | None:
    registry = entry.ref.registry
    if registry in mirrors and registry in copies:
        return Problem(
            entry.source,
            f"{entry.ref}: registry {registry!r} has both a --mirror and a --copy",
            "a registry is either pulled through a cache (--mirror) or copied (--copy): keep one",
            entry.line,
        )
    if registry not in mirrors and registry not in copies:
        return Problem(
            entry.source,
            f"{entry.ref}: no --mirror or --copy for registry {registry!r}",
            f"add --mirror {registry}=<cache URL> (or --copy {registry}=<copy URL>), or --stack",
            entry.line,
        )
    if registry in copies and entry.platforms:
        return Problem(
            entry.source,
            f"{entry.ref}: 'platforms' on an image that is copied",
            "remove 'platforms': a copy is pushed byte for byte, and an index only with every manifest it lists",
            entry.line,
        )
    return None


def plan_work(
    entries: Sequence[CatalogueEntry],
    *,
    mirrors: Mapping[str, Mirror],
    copies: Mapping[str, Mirror],
    upstreams: Mapping[str, str],
    platforms: tuple[str, ...] | None,
    state: Mapping[str, Any],
) -> WarmWork:
    """Every entry's target, through its registry's mirror or copy; InputError for any that has neither.

    `upstreams` says where a copied registry's API answers when not on its own name (`--upstream`).
    `platforms` (`--platform`) narrows the warms only: a copy takes every platform.
    """
    problems = [problem for entry in entries if (problem := _problem(entry, mirrors, copies)) is not None]
    if problems:
        raise InputError(problems)
    work = WarmWork({}, {})
    for entry in entries:
        registry = entry.ref.registry
        copy = copies.get(registry)
        route = mirrors.get(registry) or copy
        assert route is not None  # checked above
        target = WarmTarget(
            source=entry.ref,
            repository=route.path_below(entry.ref),
            tag=entry.ref.tag or DEFAULT_TAG,
            platforms=None if copy else platforms or entry.platforms,
            state_digest=(state.get(str(entry.ref)) or {}).get("digest"),
        )
        if copy is None:
            work.warm.setdefault(route.url, []).append(target)
        else:
            upstream_url = upstreams.get(registry) or f"https://{api_host(registry)}"
            work.copy.setdefault(CopyRoute(registry, upstream_url, copy.url), []).append(target)
    return work


def describe(result: WarmResult) -> str:
    """The image's line, and a `moved` line when its tag now serves another digest than it did."""
    source, copied = str(result.target.source), result.copied
    if not result.ok:
        return f"FAILED  {source}: {result.error}"
    if result.unchanged:
        why = "the copy is up to date" if copied else "unchanged since the state"
        return f"ok      {source} {result.digest} ({why})"
    platforms = ",".join(result.platforms) or "-"
    if copied:
        moved = f"copied: {result.blobs} blobs, {result.uploaded} uploaded, {result.bytes_moved} bytes"
    else:
        extra = f", {result.refetched} re-fetched" if result.refetched else ""
        moved = f"{result.blobs} blobs, {result.bytes_moved} bytes{extra}"
    line = f"ok      {source} {result.digest} {result.media_type} [{platforms}] {moved}"
    if result.moved_from is not None:
        line += f"\nmoved   {source} {result.moved_from} -> {result.digest}"
    return line
