"""images.yaml: both entry forms, and every error with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.errors import InputError
from components.model.catalogue import load_catalogue, parse_catalogue

ROOT = Path(__file__).resolve().parents[2]


def test_plain_list_as_people_write_it() -> None:
    entries = parse_catalogue(
        "- registry-1.docker.io/bitnami/metrics-server:0.6.3-debian-11-r21\n- quay.io/argoproj/argocd:v2.7.3\n",
        source="images.yaml",
    )
    assert [str(e.ref) for e in entries] == [
        "docker.io/bitnami/metrics-server:0.6.3-debian-11-r21",
        "quay.io/argoproj/argocd:v2.7.3",
    ]
    assert [e.line for e in entries] == [1, 2]
    assert all(e.platforms is None for e in entries)


def test_detailed_entries_expand_tags_and_keep_platforms() -> None:
    entries = parse_catalogue(
        "- image: public.ecr.aws/karpenter/controller\n"
        "  tags: [1.1.1, 1.2.0]\n"
        "  platforms: [linux/arm64, linux/amd64]\n",
        source="images.yaml",
    )
    assert [e.ref.tag for e in entries] == ["1.1.1", "1.2.0"]
    assert {e.platforms for e in entries} == {("linux/amd64", "linux/arm64")}


def test_the_shipped_catalogue_parses_and_pins_every_tag() -> None:
    entries = load_catalogue(ROOT / "images.yaml")
    assert entries
    assert all(e.ref.tag not in (None, "latest") for e in entries), "the default catalogue pins tags"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("- nginx\n- [unclosed\n", 3, "YAML syntax error"),
        ("images: [nginx]\n", 1, "must be a YAML list"),
        ("- nginx:1\n- Quay.io/Bad Ref\n", 2, "whitespace"),
        ("- quay.io/a/B:1\n", 1, "must be lowercase"),
        ("- nginx:1\n- docker.io/library/nginx:1\n", 2, "listed twice .also at line 1."),
        ("- nginx@sha256:" + "a" * 64 + "\n", 1, "names a digest but no tag"),
        ("- image: quay.io/a/b\n  tags: []\n", 1, "'tags' must be a non-empty list"),
        ("- image: quay.io/a/b:1\n  tags: [2]\n", 1, "both a tag in 'image' and a 'tags' list"),
        ("- image: quay.io/a/b\n  platform: [linux/amd64]\n", 1, "unknown key"),
        ("- image: quay.io/a/b\n  platforms: [amd64]\n", 2, "os/arch"),
        ("- tags: [1]\n", 1, "needs 'image"),
    ],
)
def test_errors_name_file_line_and_fix(text: str, line: int, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        parse_catalogue(text, source="images.yaml")
    problem = next(p for p in caught.value.problems if p.line == line)
    assert problem.source == "images.yaml"
    assert str(caught.value).startswith("images.yaml:")
    assert problem.hint


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InputError) as caught:
        parse_catalogue("- Bad:ref x\n- nginx@sha256:" + "b" * 64 + "\n", source="images.yaml")
    assert [p.line for p in caught.value.problems] == [1, 2]


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the image catalogue"):
        load_catalogue(tmp_path / "nope.yaml")
