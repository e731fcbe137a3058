"""Tag selectors: which upstream tags an `images.yaml` entry follows, chosen deterministically.

regsync's keys (`semver`, `allow`, `deny`) over SemVer 2.0 versions with the `semver` package; how
ranges, prereleases and `latest` work, and why not PEP 440: docs/tag-selectors.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cmp_to_key

import semver

_COMPARATOR = re.compile(r"(>=|<=|>|<|=|\^|~)?v?(\d+(?:\.\d+){0,2}(?:-[0-9A-Za-z.-]+)?)")


class SelectorError(ValueError):
    """A selector that cannot be used: a bad range, a bad expression or a bad count."""


def parse_version(tag: str) -> semver.Version | None:
    """The SemVer version a tag names, or None for a tag that is not a full version."""
    text = tag[1:] if tag.startswith("v") else tag
    try:
        return semver.Version.parse(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class _Comparator:
    operator: str
    version: semver.Version

    def check(self, version: semver.Version) -> bool:
        order = version.compare(self.version)
        return {
            "=": order == 0,
            ">": order > 0,
            ">=": order >= 0,
            "<": order < 0,
            "<=": order <= 0,
        }[self.operator]


@dataclass(frozen=True)
class SemverRange:
    """One range: comparators that must all hold, as written (`>=1.2 <2`)."""

    text: str
    comparators: tuple[_Comparator, ...]

    def check(self, version: semver.Version) -> bool:
        return all(comparator.check(version) for comparator in self.comparators)


def parse_range(text: str) -> SemverRange:
    """Parse `>=1.2.0 <2`, `^1.4`, `~0.9.1` or `1.2.3`; raise SelectorError with the bad part."""
    parts = text.split()
    if not parts:
        raise SelectorError("an empty semver range")
    comparators: list[_Comparator] = []
    for part in parts:
        match = _COMPARATOR.fullmatch(part)
        if match is None:
            raise SelectorError(
                f"{part!r} in semver range {text!r} is not a comparison: write one of "
                "=, >, >=, <, <=, ^ or ~ followed by a version such as 1.2.3"
            )
        operator, version_text = match.group(1) or "=", match.group(2)
        try:
            version = semver.Version.parse(version_text, optional_minor_and_patch=True)
        except ValueError:
            raise SelectorError(f"{part!r} in semver range {text!r} has no valid version") from None
        if operator == "^":
            upper = (
                version.bump_major()
                if version.major
                else version.bump_minor()
                if version.minor
                else version.bump_patch()
            )
            comparators += [_Comparator(">=", version), _Comparator("<", upper)]
        elif operator == "~":
            comparators += [_Comparator(">=", version), _Comparator("<", version.bump_minor())]
        else:
            comparators.append(_Comparator(operator, version))
    return SemverRange(" ".join(parts), tuple(comparators))


def compile_expression(pattern: str) -> re.Pattern[str]:
    """Compile an allow/deny expression; it must match a whole tag (see the module docstring)."""
    try:
        return re.compile(pattern)
    except re.error as error:
        raise SelectorError(f"regular expression {pattern!r} is invalid: {error}") from None


@dataclass(frozen=True)
class TagSelector:
    """The selector keys of one catalogue entry; build it with `TagSelector.build`."""

    semver_ranges: tuple[SemverRange, ...] = ()
    allow: tuple[re.Pattern[str], ...] = ()
    deny: tuple[re.Pattern[str], ...] = ()
    latest: int | None = None
    prereleases: bool = False

    @classmethod
    def build(
        cls,
        *,
        semver_ranges: Sequence[str] = (),
        allow: Sequence[str] = (),
        deny: Sequence[str] = (),
        latest: int | None = None,
        prereleases: bool = False,
    ) -> TagSelector:
        if latest is not None and latest < 1:
            raise SelectorError(f"latest: {latest} selects nothing; write latest: 1 or more")
        if not (semver_ranges or allow or latest):
            raise SelectorError("a selector needs 'semver', 'allow' or 'latest'; 'deny' only narrows")
        return cls(
            tuple(parse_range(text) for text in semver_ranges),
            tuple(compile_expression(p) for p in allow),
            tuple(compile_expression(p) for p in deny),
            latest,
            prereleases,
        )

    @property
    def uses_versions(self) -> bool:
        """Whether tags are read as versions (then non-versions and unasked prereleases drop out)."""
        return bool(self.semver_ranges) or self.latest is not None

    def describe(self) -> str:
        """One canonical line for this selector; the lock records it to notice a changed selector."""
        parts = [f"semver '{r.text}'" for r in self.semver_ranges]
        parts += [f"allow '{p.pattern}'" for p in self.allow]
        parts += [f"deny '{p.pattern}'" for p in self.deny]
        if self.latest is not None:
            parts.append(f"latest {self.latest}")
        if self.prereleases:
            parts.append("prereleases")
        return "; ".join(parts)

    def chosen_by(self, tag: str) -> str | None:
        """The first part of the selector that admits `tag` (before `latest`), or None."""
        if any(p.fullmatch(tag) for p in self.deny):
            return None
        version = parse_version(tag)
        if self.uses_versions and (version is None or (version.prerelease and not self.prereleases)):
            return None
        reason = f"latest {self.latest}" if self.latest is not None else None
        if self.semver_ranges:
            if version is None:
                return None
            reason = next((f"semver '{r.text}'" for r in self.semver_ranges if r.check(version)), None)
            if reason is None:
                return None
        if self.allow:
            allowed = next((f"allow '{p.pattern}'" for p in self.allow if p.fullmatch(tag)), None)
            if allowed is None:
                return None
            reason = reason or allowed
        return reason

    def select(self, tags: Iterable[str]) -> list[tuple[str, str]]:
        """`(tag, chosen_by)` for every tag selected, highest version first; deterministic."""
        chosen = {tag: reason for tag in set(tags) if (reason := self.chosen_by(tag)) is not None}
        ordered = sorted(chosen, key=cmp_to_key(_order))
        if self.latest is not None:
            ordered = ordered[: self.latest]
        return [(tag, chosen[tag]) for tag in ordered]


def _order(left: str, right: str) -> int:
    """Versions first, highest first; equal versions and non-versions by text."""
    left_version, right_version = parse_version(left), parse_version(right)
    if left_version is not None and right_version is not None:
        by_version = right_version.compare(left_version)
        if by_version:
            return by_version
    elif left_version is not None or right_version is not None:
        return -1 if left_version is not None else 1
    return (left > right) - (left < right)
