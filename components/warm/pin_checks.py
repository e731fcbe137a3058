"""After a warm: is each locked digest what the cache serves, and does the cache hold every digest
a workload pins? Pure functions over the warm's results; `warm` prints what they find.

Both matter because a pull-through cache fills by tag only: a node pulling `repo@sha256:…` gets
the image only if the cache already holds that digest
(https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-working-pulling.html),
and ECR re-checks a cached tag against its upstream at most once every 24 hours, so after the
upstream moved a tag the cache may go on serving the old image for a day.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from components.errors import ImageRefError
from components.model.discovery import FoundImage
from components.model.image_lock import WarmTag
from components.model.images import parse_image
from components.warm.targets import WarmResult


@dataclass(frozen=True, order=True)
class PinFinding:
    """One image whose digest the cache does not serve as expected, and what to do about it."""

    image: str
    message: str
    places: tuple[str, ...] = ()  # `file:line Kind/name` of each workload that uses it

    def __str__(self) -> str:
        used = f" (used at {', '.join(self.places)})" if self.places else ""
        return f"{self.image}: {self.message}{used}"


def served_digests(results: Sequence[WarmResult]) -> dict[str, str]:
    """`registry/repository:tag` → the digest the cache served for it, for each image warmed."""
    return {str(r.target.source): r.digest for r in results if r.ok and r.digest is not None}


def held_digests(results: Sequence[WarmResult]) -> dict[str, set[str]]:
    """`registry/repository` → every manifest digest the cache served for it (indexes and platforms)."""
    held: dict[str, set[str]] = {}
    for result in results:
        if result.ok and result.digest is not None:
            digests = held.setdefault(result.target.source.name, set())
            digests.add(result.digest)
            digests.update(manifest.digest for manifest in result.manifests)
    return held


def locked_digest_findings(
    locked: Sequence[WarmTag], served: Mapping[str, str], *, lock_command: str
) -> list[PinFinding]:
    """Each tag the lock pinned (`image_lock.tags_to_warm`) whose digest the cache does not serve.

    A tag the warm could not fetch is not reported here: the warm already names its failure.
    """
    findings = []
    for tag in locked:
        reference = str(tag.entry.ref)
        cache = served.get(reference)
        if tag.digest is None or cache is None or cache == tag.digest:
            continue
        findings.append(
            PinFinding(
                reference,
                f"the lock says {tag.digest}, the cache serves {cache}: the upstream moved the tag since "
                f"`{lock_command}` (run it again and commit the lock), or the cache still serves the "
                "image it cached before the lock (ECR re-checks a tag at most once every 24 hours)",
            )
        )
    return sorted(findings)


def uncached_pin_findings(
    found: Sequence[FoundImage], held: Mapping[str, Collection[str]]
) -> list[PinFinding]:
    """Each digest a workload pins (`repo@sha256:…` or `repo:tag@sha256:…`, from `discovery.find_images`)
    that the cache did not serve during this warm: pods pinned to it will fail to pull."""
    places: dict[str, list[str]] = {}
    fixes: dict[str, str] = {}
    for image in found:
        try:
            ref = parse_image(image.text)
        except ImageRefError:
            continue  # `discover` reports references that are not valid
        if ref.digest is None or ref.digest in held.get(ref.name, ()):
            continue
        fixes[str(ref)] = (
            f"warm {ref.with_tag(ref.tag)} while it still points at this digest, or update the pin"
            if ref.tag is not None
            else "add the tag this digest came from to images.yaml, and warm it"
        )
        places.setdefault(str(ref), []).append(f"{image.where} {image.workload}")
    return [
        PinFinding(
            image,
            f"the cache does not hold this digest, and a pull-through cache cannot fill from one: {fixes[image]}",
            tuple(places[image]),
        )
        for image in sorted(places)
    ]
