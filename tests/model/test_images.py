"""The reference grammar, Docker Hub normalization and its errors."""

from __future__ import annotations

import pytest

from components.errors import ImageRefError
from components.model.images import ImageRef, parse_image

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nginx", ImageRef("docker.io", "library/nginx", "latest")),
        ("nginx:1.27", ImageRef("docker.io", "library/nginx", "1.27")),
        ("docker.io/nginx", ImageRef("docker.io", "library/nginx", "latest")),
        ("index.docker.io/library/nginx:1", ImageRef("docker.io", "library/nginx", "1")),
        ("registry-1.docker.io/nginx:1", ImageRef("docker.io", "library/nginx", "1")),
        (
            "registry-1.docker.io/bitnami/metrics-server:0.6.3-debian-11-r21",
            ImageRef("docker.io", "bitnami/metrics-server", "0.6.3-debian-11-r21"),
        ),
        ("bitnami/redis", ImageRef("docker.io", "bitnami/redis", "latest")),
        ("quay.io/argoproj/argocd:v2.7.3", ImageRef("quay.io", "argoproj/argocd", "v2.7.3")),
        ("localhost/app", ImageRef("localhost", "app", "latest")),
        ("localhost:5000/team/app:v1", ImageRef("localhost:5000", "team/app", "v1")),
        ("127.0.0.1:5001/app:v1", ImageRef("127.0.0.1:5001", "app", "v1")),
        ("[::1]:5000/app:v1", ImageRef("[::1]:5000", "app", "v1")),
        ("[2001:db8::1]/app", ImageRef("[2001:db8::1]", "app", "latest")),
        (f"nginx@{DIGEST}", ImageRef("docker.io", "library/nginx", None, DIGEST)),
        (f"ghcr.io/a/b:v1@{DIGEST}", ImageRef("ghcr.io", "a/b", "v1", DIGEST)),
        ("a/b__c/d-e.f_g:W_1.x-Y", ImageRef("docker.io", "a/b__c/d-e.f_g", "W_1.x-Y")),
        ("foo.bar/a---b", ImageRef("foo.bar", "a---b", "latest")),
        ("MyRegistry/app", ImageRef("MyRegistry", "app", "latest")),
        ("nginx:" + "a" * 128, ImageRef("docker.io", "library/nginx", "a" * 128)),
    ],
)
def test_parses_and_normalizes(text: str, expected: ImageRef) -> None:
    assert parse_image(text) == expected


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("registry-1.docker.io/grafana/grafana:11.4.0", "docker.io/grafana/grafana:11.4.0"),
        (f"nginx@{DIGEST}", f"docker.io/library/nginx@{DIGEST}"),
        (f"quay.io/a/b:1@{DIGEST}", f"quay.io/a/b:1@{DIGEST}"),
    ],
)
def test_canonical_form(text: str, canonical: str) -> None:
    assert str(parse_image(text)) == canonical
    assert parse_image(canonical) == parse_image(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "non-empty"),
        (" nginx", "whitespace"),
        ("nginx:", "invalid tag"),
        ("nginx:-1", "invalid tag"),
        ("nginx:.1", "invalid tag"),
        ("nginx:" + "a" * 129, "invalid tag"),
        ("nginx:\u00e9", "invalid tag"),
        ("nginx:v\u0661", "invalid tag"),
        ("quay.io/Argo/cd", "must be lowercase"),
        ("nginx@sha256:abc", "invalid digest"),
        ("nginx@md5:" + "0" * 32, "invalid digest"),
        ("a//b", "invalid repository"),
        ("a/b/", "invalid repository"),
        ("_a/b", "invalid repository"),
        ("a-.io/b", "invalid registry host"),
        ("quay.io/", "no repository"),
        ("quay.io:port/a", "invalid registry host"),
        ("docker.io/" + "a" * 250, "too long"),
    ],
)
def test_rejects_invalid_references(text: str, message: str) -> None:
    with pytest.raises(ImageRefError, match=message):
        parse_image(text)


def test_error_is_a_value_error() -> None:
    assert issubclass(ImageRefError, ValueError)


def test_name_limit_is_255_characters() -> None:
    repository = "a" * (255 - len("quay.io/"))
    assert parse_image(f"quay.io/{repository}").repository == repository
    with pytest.raises(ImageRefError, match="too long"):
        parse_image(f"quay.io/{repository}a")


def test_name_limit_applies_to_the_normalized_name() -> None:
    """As distribution's ParseNormalizedNamed measures it: `docker.io/library/` counts."""
    fits = "b" * (255 - len("docker.io/library/"))
    assert parse_image(fits).repository == f"library/{fits}"
    with pytest.raises(ImageRefError, match="is 256 characters, at most 255"):
        parse_image(fits + "b")
