"""The `images` output read back: which cache reference a workload's image means.

`images` maps each catalogue reference to its cache reference, pinned to the digest the cache
served when it was warmed (program/outputs.py). Both routes for pods on nodes nobody can
configure (EKS Auto Mode, Fargate) take it as their one input: `rewrite` (model/rewrite.py)
replaces matching images in rendered manifests, and `kustomize_images`
(policies/kustomize_images.py) tells kustomize to do the same. Whatever the catalogue holds
(pull-through prefixes today, copied images later), the map is what both read.

Matching uses the project's reference grammar (model/images.py), so `nginx:1.27` and
`index.docker.io/library/nginx:1.27` are one image. A workload pinned by digest matches only an
entry whose cache holds that digest: anything else would quietly run another image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from components.errors import ImageRefError, InputError, Problem
from components.model.images import ImageRef, parse_image

_HINT = "pass the JSON `pulumi stack output --json` prints for this stack"


@dataclass(frozen=True)
class CachedImage:
    """One `images` entry: the catalogue's reference and where the cache serves it."""

    catalogue: ImageRef
    cache: ImageRef

    @property
    def digest(self) -> str | None:
        """The digest the cache serves for the catalogue tag, when known (warmed, or pinned)."""
        return self.cache.digest or self.catalogue.digest

    def at_digest(self, digest: str) -> str:
        """The cache reference for a workload that names only a digest: `<cache repository>@<digest>`."""
        return str(ImageRef(self.cache.registry, self.cache.repository, None, digest))


@dataclass(frozen=True)
class Resolution:
    """What a workload image becomes: `reference` to write, or None and the `reason` it stays."""

    reference: str | None
    reason: str = ""
    cached: bool = False  # already a cache reference this map wrote: nothing to do, nothing to report


class ImageMap:
    """The `images` output, parsed, and looked up by normalized reference."""

    def __init__(self, entries: list[CachedImage]) -> None:
        self.entries = sorted(entries, key=lambda e: str(e.catalogue))
        self._by_tag = {(e.catalogue.name, e.catalogue.tag): e for e in self.entries}
        self._by_digest: dict[tuple[str, str], CachedImage] = {}
        for entry in self.entries:
            if entry.digest is not None:
                self._by_digest.setdefault((entry.catalogue.name, entry.digest), entry)
        self._written = {str(e.cache) for e in self.entries} | {
            e.at_digest(e.digest) for e in self.entries if e.digest is not None
        }

    def resolve(self, ref: ImageRef) -> Resolution:
        """The cache reference for `ref`, or why there is none."""
        if str(ref) in self._written:
            return Resolution(None, cached=True)
        if ref.tag is None and ref.digest is not None:
            pinned = self._by_digest.get((ref.name, ref.digest))
            if pinned is None:
                return Resolution(None, "pinned to a digest the cache holds for no catalogue tag")
            return Resolution(pinned.at_digest(ref.digest))
        entry = self._by_tag.get((ref.name, ref.tag))
        if entry is None:
            return Resolution(None, "not in the catalogue")
        if ref.digest is not None and entry.digest is None:
            return Resolution(
                None, f"pinned to {ref.digest}, but no digest is known for this tag (not warmed)"
            )
        if ref.digest is not None and ref.digest != entry.digest:
            return Resolution(
                None, f"pinned to {ref.digest}, but the cache holds {entry.digest} for this tag"
            )
        return Resolution(str(entry.cache))


def parse_image_map(images: object, *, source: str) -> ImageMap:
    """The `images` map of a stack's outputs; InputError naming `source` and each bad entry."""
    if not isinstance(images, Mapping):
        raise InputError(
            [Problem(source, "`images` is not a map of catalogue reference to cache reference", _HINT)]
        )
    entries: list[CachedImage] = []
    problems: list[Problem] = []
    for key, value in images.items():
        try:
            if not isinstance(value, str):
                raise ImageRefError("the cache reference is not a string")
            entries.append(CachedImage(parse_image(str(key)), parse_image(value)))
        except ImageRefError as error:
            problems.append(Problem(source, f"images[{key!r}]: {error}", _HINT))
    if problems:
        raise InputError(problems)
    return ImageMap(entries)
