"""Tag selectors against a table of tag sets: what is selected, in which order, and why."""

from __future__ import annotations

import pytest

from components.model.tag_selectors import SelectorError, TagSelector, parse_range, parse_version

# A repository's tags as registries list them: versions with and without `v`, floating tags,
# prereleases, variant suffixes, cosign artifacts and digest tags.
TAGS = [
    "latest",
    "stable",
    "1",
    "1.27",
    "1.26.0",
    "1.26.2",
    "1.27.0",
    "1.27.3",
    "v1.27.3",
    "1.27.3-alpine",
    "1.28.0-rc.1",
    "1.28.0-rc.10",
    "1.28.0-rc.2",
    "1.28.0",
    "2.0.0-beta.1",
    "2.0.0",
    "0.9.1",
    "0.10.0",
    "sha256-" + "ab" * 32 + ".sig",
    "sha256-" + "ab" * 32 + ".att",
    "1.27.3_build.7",
    "01.2.3",
]


def pick(**keys: object) -> list[str]:
    return [tag for tag, _ in TagSelector.build(**keys).select(TAGS)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        # one range: space means AND; floating tags (1, 1.27) and prereleases are left out
        ({"semver_ranges": [">=1.27 <1.28"]}, ["1.27.3", "v1.27.3", "1.27.0"]),
        # ranges are OR'd
        ({"semver_ranges": ["~1.26.0", ">=2"]}, ["2.0.0", "1.26.2", "1.26.0"]),
        # caret ranges below 1.0 stop at the next minor
        ({"semver_ranges": ["^0.9.0"]}, ["0.9.1"]),
        ({"semver_ranges": ["^1.26.1"]}, ["1.28.0", "1.27.3", "v1.27.3", "1.27.0", "1.26.2"]),
        # prereleases only when asked; numeric prerelease parts compare as numbers
        (
            {"semver_ranges": [">=1.28.0-0 <1.29"], "prereleases": True},
            ["1.28.0", "1.28.0-rc.10", "1.28.0-rc.2", "1.28.0-rc.1"],
        ),
        # a variant suffix is a prerelease in SemVer: it takes prereleases and an allow to follow it
        (
            {"semver_ranges": [">=1.27.0-0 <1.28"], "allow": [r".*-alpine"], "prereleases": True},
            ["1.27.3-alpine"],
        ),
        # the N highest versions, prereleases left out, `v1.27.3` equal to `1.27.3` and after it by text
        ({"latest": 3}, ["2.0.0", "1.28.0", "1.27.3"]),
        ({"latest": 4}, ["2.0.0", "1.28.0", "1.27.3", "v1.27.3"]),
        ({"semver_ranges": ["<2"], "deny": [r"v.*"], "latest": 2}, ["1.28.0", "1.27.3"]),
        # allow alone: a whole-tag match, non-versions included, versions first then by text
        ({"allow": ["latest|stable"]}, ["latest", "stable"]),
        ({"allow": [r"1\.27"]}, ["1.27"]),
        ({"allow": [r"sha256-[0-9a-f]{64}\.sig"]}, ["sha256-" + "ab" * 32 + ".sig"]),
        # deny wins over allow
        ({"allow": [r"v?1\.27\.\d+"], "deny": [r"v.*"]}, ["1.27.3", "1.27.0"]),
        # tags that are not SemVer never match a range: leading zeros, `_` suffixes
        ({"semver_ranges": ["=1.2.3"]}, []),
        ({"semver_ranges": ["1.27.3"]}, ["1.27.3", "v1.27.3"]),
    ],
)
def test_selection_table(keys: dict[str, object], expected: list[str]) -> None:
    assert pick(**keys) == expected


def test_selection_does_not_depend_on_listing_order_or_duplicates() -> None:
    selector = TagSelector.build(semver_ranges=[">=1"], latest=5)
    assert selector.select(TAGS) == selector.select(reversed(TAGS + TAGS))


def test_each_tag_records_the_part_of_the_selector_that_chose_it() -> None:
    selector = TagSelector.build(semver_ranges=["~1.26.0", ">=2"])
    assert selector.select(TAGS) == [
        ("2.0.0", "semver '>=2'"),
        ("1.26.2", "semver '~1.26.0'"),
        ("1.26.0", "semver '~1.26.0'"),
    ]
    assert TagSelector.build(allow=["latest"]).select(TAGS) == [("latest", "allow 'latest'")]
    assert TagSelector.build(latest=1).select(TAGS) == [("2.0.0", "latest 1")]


def test_describe_is_canonical() -> None:
    selector = TagSelector.build(
        semver_ranges=[">=1.2   <2"], allow=["1.*"], deny=[".*-rc"], latest=2, prereleases=True
    )
    assert selector.describe() == "semver '>=1.2 <2'; allow '1.*'; deny '.*-rc'; latest 2; prereleases"


def test_versions_take_a_v_prefix_and_need_three_numbers() -> None:
    assert str(parse_version("v1.2.3")) == "1.2.3"
    assert parse_version("1.2.3-rc.1") is not None
    assert parse_version("1.27") is None
    assert parse_version("latest") is None
    assert parse_version("sha256-" + "ab" * 32 + ".sig") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        (">=1.x", "not a comparison"),
        ("=>1.0", "not a comparison"),
        ("1.2.3.4", "not a comparison"),
        (">=01.2", "no valid version"),
    ],
)
def test_bad_ranges_say_which_part(text: str, message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        parse_range(text)


def test_bad_selectors_are_refused() -> None:
    with pytest.raises(SelectorError, match="invalid"):
        TagSelector.build(allow=["(unclosed"])
    with pytest.raises(SelectorError, match="latest: 1 or more"):
        TagSelector.build(semver_ranges=[">=1"], latest=0)
    with pytest.raises(SelectorError, match="needs 'semver', 'allow' or 'latest'"):
        TagSelector.build(deny=["x"])
