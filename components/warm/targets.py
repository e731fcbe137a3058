"""What the warm is asked to do and what it reports: one target per tag, one result per target.

Plain values, shared by the warmer, the engine, the CLI, the provider's operations and the
scheduled re-warming function; and the two checks a target's answers must pass before its blobs
are fetched: the platforms it asks for, and the digest its catalogue entry pins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from components.model.images import ImageRef, moved_pin
from components.warm.errors import MalformedManifest, PinMoved
from components.warm.manifests import Descriptor, Manifest, Platform, parse_platform

ATTESTATION_PLATFORM = "unknown/unknown"


@dataclass(frozen=True)
class WarmTarget:
    """One tag to warm: `source` as the catalogue names it (`name:tag@digest` when it pins one),
    `repository` as the cache serves it; `state_digest`, what the last warm recorded for it
    (`--state`), lets an unchanged tag be skipped."""

    source: ImageRef
    repository: str
    tag: str
    platforms: tuple[str, ...] | None = None
    state_digest: str | None = None


@dataclass
class WarmResult:
    """What warming (or copying) one target did. `moved_from`: the digest the tag had before
    (recorded in the state, or held by a copy's target), when it now serves another one;
    `copied`: the target was copied, not warmed; `uploaded`: the blobs a copy pushed."""

    target: WarmTarget
    digest: str | None = None
    media_type: str | None = None
    platforms: list[str] = field(default_factory=list)
    bytes_moved: int = 0
    blobs: int = 0
    refetched: int = 0
    copied: bool = False
    uploaded: int = 0
    unchanged: bool = False
    moved_from: str | None = None
    error: str | None = None
    manifests: list[Manifest] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None


def platform_of(platform: Platform | None) -> str:
    if platform is None:
        return ATTESTATION_PLATFORM
    text = f"{platform.os}/{platform.architecture}"
    return f"{text}/{platform.variant}" if platform.variant else text


def config_platform(body: bytes, where: str) -> str:
    """The platform an image config names (its `os`, `architecture` and `variant`)."""
    try:
        return platform_of(parse_platform(body))
    except ValueError:
        raise MalformedManifest(f"the image config of {where} names no valid os and architecture") from None


def is_selected(platform: str, wanted: tuple[str, ...] | None, attestations: bool) -> bool:
    """Whether an index's manifest for `platform` is warmed (attestations only when asked)."""
    if platform == ATTESTATION_PLATFORM:
        return attestations
    if wanted is None:
        return True
    return any(platform == w or platform.startswith(f"{w}/") for w in wanted)


def blobs_of_all(manifests: Iterable[Manifest]) -> list[Descriptor]:
    """Every blob the manifests name, once per digest, in digest order, with its declared size."""
    unique = {blob.digest: blob for manifest in manifests for blob in manifest.blobs}
    return [unique[digest] for digest in sorted(unique)]


def check_pin(target: WarmTarget, served: str) -> None:
    """A catalogue entry pinned as `name:tag@digest` fails when its tag serves another digest.

    Warmed by its tag all the same, since ECR cannot pull an uncached image by digest
    (https://github.com/aws/containers-roadmap/issues/2837); nodes pinned to the old digest need
    the pin updated."""
    source = target.source
    if source.tag is not None and source.digest is not None and served != source.digest:
        raise PinMoved(moved_pin(source, served))
