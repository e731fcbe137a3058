"""The `kustomize_images` output, entry by entry (the real `kubectl kustomize` runs in tests/program/test_kustomize.py)."""

from __future__ import annotations

import pytest

from components.errors import InputError
from components.policies.kustomize_images import kustomize_images, name_pattern

R = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
D = "sha256:" + "d" * 64


def test_each_docker_hub_spelling_of_an_official_image_gets_an_entry_with_tag_and_digest() -> None:
    entries = kustomize_images({"docker.io/library/nginx:1.27": f"{R}/docker-hub/library/nginx:1.27@{D}"})
    by_tag = [e for e in entries if "@" not in e["name"]]
    assert [e["name"] for e in by_tag] == [
        r"docker\.io/library/nginx:1\.27",
        r"docker\.io/nginx:1\.27",
        r"index\.docker\.io/library/nginx:1\.27",
        r"index\.docker\.io/nginx:1\.27",
        r"registry-1\.docker\.io/library/nginx:1\.27",
        r"registry-1\.docker\.io/nginx:1\.27",
        r"library/nginx:1\.27",
        r"nginx:1\.27",
    ]
    assert all(
        {k: v for k, v in e.items() if k != "name"}
        == {"newName": f"{R}/docker-hub/library/nginx", "newTag": "1.27", "digest": D}
        for e in by_tag
    )
    by_digest = [e for e in entries if "@" in e["name"]]
    assert len(by_digest) == 8 and by_digest[-1] == {
        "name": rf"nginx@sha256:{'d' * 64}",
        "newName": f"{R}/docker-hub/library/nginx",
        "digest": D,
    }


def test_without_a_known_digest_the_entry_moves_the_name_only() -> None:
    """Warming off: the workload keeps its tag, and a digest it pins, but pulls from the cache."""
    assert kustomize_images({"quay.io/argoproj/argocd:v2.13.3": f"{R}/quay/argoproj/argocd:v2.13.3"}) == [
        {"name": r"quay\.io/argoproj/argocd:v2\.13\.3", "newName": f"{R}/quay/argoproj/argocd"}
    ]


def test_two_tags_with_one_digest_share_the_digest_entries_and_keep_their_own_tags() -> None:
    entries = kustomize_images(
        {
            "ghcr.io/dexidp/dex:v2.41": f"{R}/ghcr/dexidp/dex:v2.41@{D}",
            "ghcr.io/dexidp/dex:v2.41.1": f"{R}/ghcr/dexidp/dex:v2.41.1@{D}",
        }
    )
    assert [(e["name"], e.get("newTag")) for e in entries] == [
        (r"ghcr\.io/dexidp/dex:v2\.41", "v2.41"),
        (r"ghcr\.io/dexidp/dex:v2\.41\.1", "v2.41.1"),
        (rf"ghcr\.io/dexidp/dex@sha256:{'d' * 64}", None),
    ]


def test_a_name_pattern_escapes_the_dots_kustomize_would_read_as_any_character() -> None:
    assert name_pattern("docker.io/library/nginx:1.27") == r"docker\.io/library/nginx:1\.27"


def test_an_images_map_that_is_not_one_is_refused() -> None:
    with pytest.raises(InputError, match="images"):
        kustomize_images({"nginx:1.27": "Not A Reference"})
