"""Signature and attestation discovery against loopback registries: cosign tags, referrers, the tag schema."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from components.model.images import ImageRef
from components.warm.client import RegistryClient, RetryPolicy
from components.warm.errors import MalformedManifest, RegistryError
from components.warm.listing import MAX_REFERRER_PAGES
from components.warm.media_types import OCI_INDEX, OCI_MANIFEST
from components.warm.signatures import (
    REFERRER,
    REFERRERS_TAG,
    Artifact,
    artifact_targets,
    cosign_tags,
    digest_tag,
    find_artifacts,
    warm_signatures,
)
from components.warm.targets import WarmResult, WarmTarget
from tests.warm.loopback import Handler, serving

FAST = RetryPolicy(attempts=2, wait_initial=0.01, wait_max=0.02, timeout=5)
SUBJECT = "sha256:" + "5" * 64
STEM = "sha256-" + "5" * 64
REFERRER_A, REFERRER_B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def find(handler: Handler) -> tuple[list[Artifact], list[str]]:
    requests: list[str] = []

    def recording(request: httpx.Request) -> httpx.Response:
        requests.append(f"{request.method} {request.url.path}")
        answer = handler(request)
        assert isinstance(answer, httpx.Response)
        return answer

    async def go() -> list[Artifact]:
        async with (
            serving(recording) as loopback,
            RegistryClient(loopback.url("registry.example"), plain_http=True, retry=FAST) as client,
        ):
            return await find_artifacts(client, "team/app", SUBJECT)

    return asyncio.run(go()), requests


def registry(tags: set[str], referrers: list[str] | None) -> Handler:
    """Tags that exist (HEAD 200 with a digest); the referrers API, or a 404 when `referrers` is None."""

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/v2/team/app/referrers/"):
            if referrers is None:
                return httpx.Response(404)
            index = {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [{"mediaType": OCI_MANIFEST, "digest": d, "size": 10} for d in referrers],
            }
            return httpx.Response(
                200, content=json.dumps(index).encode(), headers={"Content-Type": OCI_INDEX}
            )
        if path.rpartition("/")[2] in tags:
            return httpx.Response(200, headers={"Docker-Content-Digest": "sha256:" + "e" * 64})
        return httpx.Response(404)

    return handler


def paged_referrers(pages: list[list[str]], next_of: dict[int, str] | None = None) -> Handler:
    """The referrers API in pages (`?page=N`), each with a `Link` to the next unless `next_of` says
    where page N points instead."""
    links = {n: f'</v2/team/app/referrers/{SUBJECT}?page={n + 1}>; rel="next"' for n in range(len(pages) - 1)}
    links.update({n: f'<{target}>; rel="next"' for n, target in (next_of or {}).items()})

    def handler(request: httpx.Request) -> httpx.Response:
        if not request.url.path.startswith("/v2/team/app/referrers/"):
            return httpx.Response(404)
        n = int(request.url.params.get("page", "0"))
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": d, "size": 10} for d in pages[n % len(pages)]
            ],
        }
        headers = {"Content-Type": OCI_INDEX, **({"Link": links[n]} if n in links else {})}
        return httpx.Response(200, content=json.dumps(index).encode(), headers=headers)

    return handler


def test_every_page_of_the_referrers_api_is_read() -> None:
    artifacts, requests = find(paged_referrers([[REFERRER_A], [REFERRER_B], [REFERRER_A]]))
    assert artifacts == [Artifact(REFERRER, REFERRER_A, SUBJECT), Artifact(REFERRER, REFERRER_B, SUBJECT)]
    assert [r for r in requests if "/referrers/" in r] == [f"GET /v2/team/app/referrers/{SUBJECT}"] * 3


@pytest.mark.parametrize(
    ("next_of", "pages", "message"),
    [
        ({0: "https://elsewhere.example/v2/team/app/referrers/x"}, 2, "points its next page at"),
        ({0: "/v2/team/other/referrers/x"}, 2, "points its next page at"),
        ({1: f"/v2/team/app/referrers/{SUBJECT}?page=1"}, 2, "repeats an earlier one"),
        ({}, MAX_REFERRER_PAGES + 1, f"runs past {MAX_REFERRER_PAGES} pages"),
    ],
    ids=["another origin", "another repository", "a loop", "too many pages"],
)
def test_a_referrers_page_link_is_followed_only_within_the_listing(
    next_of: dict[int, str], pages: int, message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        find(paged_referrers([[REFERRER_A]] * pages, next_of))


def test_cosign_tag_names() -> None:
    assert digest_tag(SUBJECT) == STEM
    assert cosign_tags(SUBJECT) == {
        f"{STEM}.sig": "cosign signature",
        f"{STEM}.att": "cosign attestation",
        f"{STEM}.sbom": "cosign SBOM",
    }
    with pytest.raises(MalformedManifest):
        digest_tag("sha256:../../x")


def test_existing_cosign_tags_and_the_referrers_api() -> None:
    artifacts, requests = find(
        registry({f"{STEM}.sig", f"{STEM}.sbom"}, [REFERRER_A, REFERRER_B, REFERRER_A])
    )
    assert artifacts == [
        Artifact("cosign signature", f"{STEM}.sig", SUBJECT),
        Artifact("cosign SBOM", f"{STEM}.sbom", SUBJECT),
        Artifact(REFERRER, REFERRER_A, SUBJECT),
        Artifact(REFERRER, REFERRER_B, SUBJECT),
    ]
    assert f"GET /v2/team/app/referrers/{SUBJECT}" in requests
    assert f"HEAD /v2/team/app/manifests/{STEM}" not in requests  # the API answered: no fallback


def test_without_the_referrers_api_the_tag_schema_is_used() -> None:
    artifacts, requests = find(registry({STEM}, None))
    assert artifacts == [Artifact(REFERRERS_TAG, STEM, SUBJECT)]
    assert requests[-1] == f"HEAD /v2/team/app/manifests/{STEM}"
    assert find(registry(set(), None))[0] == []


def test_a_registry_error_fails_the_signatures_named() -> None:
    with pytest.raises(RegistryError, match="answered 403"):
        find(lambda request: httpx.Response(403))


def test_artifact_targets_stay_in_the_image_repository() -> None:
    image = WarmTarget(
        ImageRef("docker.io", "team/app", "1.0"), "docker-hub/team/app", "1.0", ("linux/amd64",)
    )
    targets = artifact_targets(
        image, [Artifact("cosign signature", f"{STEM}.sig", SUBJECT), Artifact(REFERRER, REFERRER_A, SUBJECT)]
    )
    assert targets == [
        WarmTarget(ImageRef("docker.io", "team/app", f"{STEM}.sig"), "docker-hub/team/app", f"{STEM}.sig"),
        WarmTarget(ImageRef("docker.io", "team/app", None, REFERRER_A), "docker-hub/team/app", REFERRER_A),
    ]


def test_an_image_whose_artifacts_cannot_be_listed_fails_alone_and_named() -> None:
    image = WarmTarget(ImageRef("registry.example", "team/app", "1.0"), "team/app", "1.0")
    reported: list[WarmResult] = []

    async def go() -> list[WarmResult]:
        async with (
            serving(lambda request: httpx.Response(403)) as loopback,
            RegistryClient(loopback.url("registry.example"), plain_http=True, retry=FAST) as client,
        ):
            images = [WarmResult(image, digest=SUBJECT), WarmResult(image, error="not warmed")]
            return await warm_signatures(client, images, reported.append)

    results = asyncio.run(go())
    assert [(r.target, r.error) for r in results] == [
        (
            image,
            "its signatures and attestations: manifest team/app:" + f"{STEM}.sig: the registry answered 403",
        )
    ]
    assert reported == results
