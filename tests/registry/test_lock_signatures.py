"""Signatures through a real pull-through cache: cosign's `.sig` tag and the referrers tag schema.

distribution 2.8 has no referrers API (it answers 404), so the referrers are found under the
`sha256-<hex>` tag, as the OCI spec's fallback says. After the warm, the upstream is stopped and
the cache must still serve the signature and the referrers, as a policy engine would ask for them.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import httpx

from components.model.images import ImageRef
from components.warm.client import RegistryClient
from components.warm.signatures import REFERRERS_TAG, Artifact, digest_tag, find_artifacts, warm_signatures
from components.warm.targets import WarmTarget
from components.warm.warmer import Warmer, warm_all
from standins.registries import upstream_and_cache
from standins.seed import OCI_INDEX, OCI_MANIFEST, Pusher, digest_of
from tests.registry.test_lock import Upstream

EMPTY = "application/vnd.oci.empty.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"


def push_cosign_signature(pusher: Pusher, repository: str, subject: str) -> str:
    """A signature shaped as cosign pushes one: a simple-signing payload layer, its signature annotated."""
    payload = json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": repository},
                "image": {"docker-manifest-digest": subject},
                "type": "cosign container image signature",
            },
            "optional": None,
        }
    ).encode()
    config = json.dumps(
        {
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [digest_of(payload)]},
        }
    ).encode()
    document: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": pusher.blob(repository, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": SIMPLE_SIGNING,
                "digest": pusher.blob(repository, payload),
                "size": len(payload),
                "annotations": {"dev.cosignproject.cosign/signature": base64.b64encode(b"sig").decode()},
            }
        ],
    }
    return pusher.manifest(repository, digest_tag(subject) + ".sig", OCI_MANIFEST, document)[0]


def push_referrers_tag(pusher: Pusher, repository: str, subject: str, subject_size: int) -> tuple[str, str]:
    """An attestation whose `subject` is the image, and the referrers tag index that lists it."""
    statement = json.dumps(
        {"_type": "https://in-toto.io/Statement/v1", "subject": [{"digest": subject}]}
    ).encode()
    attestation: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.in-toto+json",
        "config": {"mediaType": EMPTY, "digest": pusher.blob(repository, b"{}"), "size": 2},
        "layers": [
            {
                "mediaType": "application/vnd.in-toto+json",
                "digest": pusher.blob(repository, statement),
                "size": len(statement),
            }
        ],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_size},
    }
    attestation_digest, attestation_size = pusher.manifest(repository, None, OCI_MANIFEST, attestation)
    index: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "artifactType": "application/vnd.in-toto+json",
                "digest": attestation_digest,
                "size": attestation_size,
            }
        ],
    }
    return pusher.manifest(repository, digest_tag(subject), OCI_INDEX, index)[0], attestation_digest


def test_signatures_and_referrers_are_warmed_and_served_once_the_upstream_is_gone(tmp_path: Path) -> None:
    with upstream_and_cache(tmp_path / "registries") as pair:
        upstream = Upstream(pair.upstream)
        subject = upstream.push("team/signed", "1.0")
        size = len(
            httpx.get(
                f"{pair.upstream.url}/v2/team/signed/manifests/1.0", headers={"Accept": OCI_MANIFEST}
            ).content
        )
        signature = push_cosign_signature(upstream.pusher, "team/signed", subject)
        index, attestation = push_referrers_tag(upstream.pusher, "team/signed", subject, size)
        upstream.pusher.close()
        image = WarmTarget(ImageRef(pair.upstream.address, "team/signed", "1.0"), "team/signed", "1.0")

        async def warm() -> tuple[list[Artifact], list[str | None]]:
            async with RegistryClient(pair.cache.url, plain_http=True) as cache:
                artifacts = await find_artifacts(cache, "team/signed", subject)
                warmed = await warm_all(Warmer(cache), [image])
                results = warmed + await warm_signatures(cache, warmed)
                return artifacts, [result.error for result in results]

        artifacts, errors = asyncio.run(warm())
        stem = digest_tag(subject)
        assert artifacts == [
            Artifact("cosign signature", f"{stem}.sig", subject),
            Artifact(REFERRERS_TAG, stem, subject),
        ]
        assert errors == [None, None, None]

        pair.upstream.stop()
        cache = pair.cache.url
        accept = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}
        for reference, digest in ((f"{stem}.sig", signature), (stem, index), (attestation, attestation)):
            answer = httpx.get(f"{cache}/v2/team/signed/manifests/{reference}", headers=accept, timeout=10)
            assert answer.status_code == 200, reference
            assert answer.headers["docker-content-digest"] == digest
