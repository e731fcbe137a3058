"""Signatures and attestations of an image, as more targets to warm (`signatures: true`).

A policy engine that verifies signatures (Kyverno, sigstore's policy-controller, Ratify) asks the
registry the node pulls from, so the cache must hold them too, or verification fails as soon as
the upstream is gone. Two conventions carry them:
- cosign's tags: `sha256-<hex>.sig`, `.att` and `.sbom` beside the image, `<hex>` the signed
  digest (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md);
- OCI referrers: `GET /v2/<name>/referrers/<digest>` lists the manifests whose `subject` is the
  image; a registry without the API answers 404, and then the referrers live in an index under
  the tag `sha256-<hex>` (the referrers tag schema,
  https://github.com/opencontainers/distribution-spec/blob/main/spec.md#referrers-tag-schema).

Everything is asked of the client given: through the cache, that fills the cache by tag, as a
pull-through cache must be filled (it cannot fill from an uncached digest). A copied image's
artifacts are found on its upstream and copied beside it (`copy_signatures`). A referrer named only
by digest is warmed by digest: distribution's proxy fetches it from its upstream, and ECR syncs
referrers when its referrers API is asked. Every page of referrers is read, each capped like a
manifest, at most `listing.MAX_REFERRER_PAGES` of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from components.model.images import ImageRef
from components.warm.client import RegistryClient
from components.warm.copier import Copier
from components.warm.digests import check_digest
from components.warm.errors import RegistryError
from components.warm.targets import WarmResult, WarmTarget
from components.warm.warmer import Warmer, warm_all

COSIGN_SUFFIXES = {".sig": "cosign signature", ".att": "cosign attestation", ".sbom": "cosign SBOM"}
REFERRERS_TAG = "referrers tag"
REFERRER = "referrer"


def digest_tag(digest: str) -> str:
    """`sha256:<hex>` → `sha256-<hex>`: the referrers tag schema's tag, and cosign's tag stem."""
    algorithm, _, encoded = check_digest(digest, "the image digest").partition(":")
    return f"{algorithm}-{encoded}"


def cosign_tags(digest: str) -> dict[str, str]:
    """cosign's tag for each of its artifacts of `digest`, with what it holds."""
    stem = digest_tag(digest)
    return {f"{stem}{suffix}": kind for suffix, kind in COSIGN_SUFFIXES.items()}


@dataclass(frozen=True)
class Artifact:
    """A signature or attestation of `subject`: `reference` is a tag, or a digest for a referrer."""

    kind: str
    reference: str
    subject: str


async def find_artifacts(client: RegistryClient, repository: str, subject: str) -> list[Artifact]:
    """The cosign tags that exist, and the referrers (the API, or the tag schema when it answers 404).

    Raises RegistryError when the registry fails otherwise: the image's signatures then fail, named.
    """
    found: list[Artifact] = []
    for tag, kind in cosign_tags(subject).items():
        digest, _ = await client.manifest_digest(repository, tag)
        if digest is not None:
            found.append(Artifact(kind, tag, subject))
    referrers = await client.list_referrers(repository, subject)
    if referrers is None:
        tag = digest_tag(subject)
        digest, _ = await client.manifest_digest(repository, tag)
        if digest is not None:
            # The index under the tag lists the referrers; warming the tag warms them with it.
            found.append(Artifact(REFERRERS_TAG, tag, subject))
        return found
    return found + [Artifact(REFERRER, digest, subject) for digest in dict.fromkeys(referrers)]


def artifact_targets(image: WarmTarget, artifacts: Sequence[Artifact]) -> list[WarmTarget]:
    """The warm targets for `image`'s artifacts: in the same repository, every platform (they have none)."""
    targets = []
    for artifact in artifacts:
        tag, digest = (None, artifact.reference) if artifact.kind == REFERRER else (artifact.reference, None)
        source = ImageRef(image.source.registry, image.source.repository, tag, digest)
        targets.append(WarmTarget(source=source, repository=image.repository, tag=artifact.reference))
    return targets


async def _artifacts_of(
    client: RegistryClient,
    images: Sequence[WarmResult],
    repository: Callable[[WarmResult], str],
    report: Callable[[WarmResult], None],
) -> tuple[list[WarmTarget], list[WarmResult]]:
    """The targets of every artifact of each image done (listed on `client`, in the image's
    `repository` there), and a failed result for each image whose artifacts cannot be listed,
    named `<image> signatures` and reported; the others go on."""
    targets: list[WarmTarget] = []
    failed: list[WarmResult] = []
    for image in images:
        if not image.ok or image.digest is None:
            continue
        try:
            artifacts = await find_artifacts(client, repository(image), image.digest)
        except RegistryError as error:
            failure = WarmResult(
                image.target, copied=image.copied, error=f"its signatures and attestations: {error}"
            )
            report(failure)
            failed.append(failure)
            continue
        targets += artifact_targets(image.target, artifacts)
    return targets, failed


async def warm_signatures(
    client: RegistryClient,
    images: Sequence[WarmResult],
    report: Callable[[WarmResult], None] = lambda _: None,
) -> list[WarmResult]:
    """Find and warm the artifacts of each image warmed (`images`: those with `signatures: true`),
    through the cache. Artifacts are warmed with attestations followed, since a referrers index
    lists manifests without a platform."""
    targets, failed = await _artifacts_of(client, images, lambda image: image.target.repository, report)
    return failed + await warm_all(Warmer(client, attestations=True), targets, report)


async def copy_signatures(
    copier: Copier,
    source: RegistryClient,
    images: Sequence[WarmResult],
    report: Callable[[WarmResult], None] = lambda _: None,
) -> list[WarmResult]:
    """Find each copied image's artifacts on its upstream (`source`), and copy them beside it:
    cosign's tags as tags, referrers by their digest."""
    targets, failed = await _artifacts_of(
        source, images, lambda image: image.target.source.repository, report
    )

    async def one(target: WarmTarget) -> WarmResult:
        result = await copier.copy(source, target)
        report(result)
        return result

    return failed + list(await asyncio.gather(*(one(target) for target in targets)))
