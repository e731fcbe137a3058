"""images.yaml entries with tag selectors: what they parse to, and every error with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.errors import InputError
from components.model.catalogue import parse_catalogue


def test_selector_entry_names_the_repository_and_keeps_plain_tags_beside_it() -> None:
    entries = parse_catalogue(
        "- image: nginx\n"
        "  tags: [1.25.5]\n"
        "  semver: ['>=1.26 <1.28', '^2']\n"
        "  deny: '.*-perl'\n"
        "  latest: 3\n"
        "  platforms: [linux/amd64]\n",
        source="images.yaml",
    )
    selector_entry, plain = entries
    assert selector_entry.selector is not None
    assert (str(selector_entry.ref), selector_entry.line) == ("docker.io/library/nginx", 1)
    assert (
        selector_entry.selector.describe() == "semver '>=1.26 <1.28'; semver '^2'; deny '.*-perl'; latest 3"
    )
    assert selector_entry.platforms == ("linux/amd64",)
    assert (str(plain.ref), plain.selector, plain.line) == ("docker.io/library/nginx:1.25.5", None, 2)


def test_selector_alone_and_prereleases() -> None:
    (entry,) = parse_catalogue(
        "- image: quay.io/argoproj/argocd\n  allow: 'v2\\.1[0-9]\\.[0-9]+(-rc[0-9]+)?'\n  prereleases: true\n",
        source="images.yaml",
    )
    assert entry.selector is not None and entry.selector.prereleases
    assert entry.ref.tag is None


@pytest.mark.parametrize(
    ("text", "line", "message", "hint"),
    [
        ("- image: nginx\n  allow: '(unclosed'\n", 2, "invalid", "regular expression"),
        ("- image: nginx\n  semver:\n    - '>=1'\n    - '>=1.x'\n", 4, "not a comparison", "'^1.4'"),
        ("- image: nginx\n  semver: []\n", 2, "non-empty list", "semver:"),
        ("- image: nginx\n  semver: '>=1'\n  latest: 0\n", 3, "1 or more", "latest: 3"),
        ("- image: nginx\n  semver: '>=1'\n  latest: '3'\n", 3, "whole number", "latest: 3"),
        ("- image: nginx\n  semver: '>=1'\n  latest: 1.5\n", 3, "whole number", "latest: 3"),
        ("- image: nginx\n  semver: '>=1'\n  prereleases: maybe\n", 3, "true or false", "prereleases: true"),
        ("- image: nginx\n  deny: '.*'\n", 1, "needs 'semver', 'allow' or 'latest'", "allow"),
        ("- image: nginx:1.27\n  latest: 2\n", 1, "both a tag in 'image'", "leave it off"),
        ("- image: nginx\n  semvr: '>=1'\n", 1, "unknown key(s) semvr", "'semver'"),
    ],
)
def test_selector_errors_name_the_line_and_the_fix(text: str, line: int, message: str, hint: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_catalogue(text, source="images.yaml")
    problem = caught.value.problems[0]
    assert (problem.source, problem.line) == ("images.yaml", line)
    assert message in problem.message
    assert problem.hint is not None and hint in problem.hint


def test_every_selector_problem_is_reported_at_once() -> None:
    with pytest.raises(InputError) as caught:
        parse_catalogue("- image: nginx\n  semver: '>=x'\n  allow: '['\n  latest: -1\n", source="images.yaml")
    assert [p.line for p in caught.value.problems] == [2, 3, 4]


def test_the_readme_selector_example_is_a_valid_catalogue() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Choosing tags: selectors", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    entries = parse_catalogue(example, source="README.md")
    assert [(str(e.ref), e.selector is not None) for e in entries] == [
        ("registry.k8s.io/pause:3.10", False),
        ("docker.io/library/nginx", True),
        ("docker.io/library/nginx:1.25.5", False),
        ("quay.io/argoproj/argocd", True),
    ]


def test_a_repository_has_one_selector_entry() -> None:
    with pytest.raises(InputError) as caught:
        parse_catalogue(
            "- image: nginx\n  latest: 1\n- image: docker.io/library/nginx\n  semver: '^1'\n",
            source="images.yaml",
        )
    (problem,) = caught.value.problems
    assert problem.line == 3
    assert problem.message.startswith("docker.io/library/nginx has a second selector entry (also at line 1)")
    assert problem.hint == "merge the two entries"
