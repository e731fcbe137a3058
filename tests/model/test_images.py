"""The reference grammar, Docker Hub normalization and its errors."""

from __future__ import annotations

import pytest

from components.errors import ImageRefError
from components.model.images import ImageRef, name_spellings, parse_image

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


@pytest.mark.parametrize(
    ("image", "spellings"),
    [
        (
            "nginx:1.27",
            [
                "docker.io/library/nginx",
                "docker.io/nginx",
                "index.docker.io/library/nginx",
                "index.docker.io/nginx",
                "registry-1.docker.io/library/nginx",
                "registry-1.docker.io/nginx",
                "library/nginx",
                "nginx",
            ],
        ),
        (
            "grafana/grafana",
            [
                "docker.io/grafana/grafana",
                "index.docker.io/grafana/grafana",
                "registry-1.docker.io/grafana/grafana",
                "grafana/grafana",
            ],
        ),
        (
            "docker.io/library/a/b",
            [
                "docker.io/library/a/b",
                "index.docker.io/library/a/b",
                "registry-1.docker.io/library/a/b",
                "library/a/b",
            ],
        ),
        ("quay.io/argoproj/argocd:v1", ["quay.io/argoproj/argocd"]),
        ("localhost:5000/team/app", ["localhost:5000/team/app"]),
    ],
)
def test_name_spellings_are_every_form_that_normalizes_back(image: str, spellings: list[str]) -> None:
    ref = parse_image(image)
    assert list(name_spellings(ref)) == spellings
    assert all(parse_image(s).name == ref.name for s in spellings)


def test_a_spelling_that_would_name_another_registry_is_left_out() -> None:
    """Docker Hub's `foo.bar/baz`, written without a host, is the registry `foo.bar`."""
    assert name_spellings(parse_image("docker.io/foo.bar/baz:1")) == (
        "docker.io/foo.bar/baz",
        "index.docker.io/foo.bar/baz",
        "registry-1.docker.io/foo.bar/baz",
    )
