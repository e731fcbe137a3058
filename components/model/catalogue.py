"""The image catalogue, `images.yaml`: which tags the cache must hold.

Entries are either plain references, as people already write them, or mappings
with `image`, `tags`, `platforms`, `signatures` and the tag selector keys (`semver`,
`allow`, `deny`, `latest`, `prereleases`; see components/model/tag_selectors.py). Every problem
is reported with the file, the line and the entry, before anything talks to AWS
or a registry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from components.errors import ImageRefError, InputError, Problem, raise_if_any
from components.model.images import ImageRef, parse_image, tag_given
from components.model.tag_selectors import SelectorError, TagSelector, compile_expression, parse_range
from components.safe_yaml import MAX_CATALOGUE_BYTES, compose_yaml, describe_kind, node_line, read_yaml

_PLATFORM = re.compile(r"[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?")
_COUNT = re.compile(r"[0-9]+")
_SELECTOR_KEYS = frozenset({"semver", "allow", "deny", "latest", "prereleases"})
_ENTRY_KEYS = frozenset({"image", "tags", "platforms", "signatures"}) | _SELECTOR_KEYS
_SYNTAX_HINT = "fix the YAML syntax; entries are '- registry/repository:tag' lines"
_PRERELEASES_HINT = "write prereleases: true to select versions such as 1.2.3-rc.1"
_SIGNATURES_HINT = "write signatures: true to warm the image's cosign signatures and OCI referrers too"


@dataclass(frozen=True)
class CatalogueEntry:
    """One tag to warm, or one selector. `platforms` is None for every platform the image has.

    A selector entry (`selector` set) names a repository, with no tag: it is not warmable by
    itself, and components/model/image_lock.py turns it into tags through the lock.
    `signatures`: also warm the image's cosign signatures, attestations and OCI referrers.
    """

    ref: ImageRef
    platforms: tuple[str, ...] | None
    source: str
    line: int
    selector: TagSelector | None = None
    signatures: bool = False

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def load_catalogue(path: Path | str) -> list[CatalogueEntry]:
    """Read and check a catalogue file; raise InputError listing every problem in it."""
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise InputError(
            [Problem(source, "cannot read the image catalogue: no such file", "create the file")]
        )
    return _checked(read_yaml(path, max_bytes=MAX_CATALOGUE_BYTES, source=source, hint=_SYNTAX_HINT), source)


def parse_catalogue(text: str, *, source: str) -> list[CatalogueEntry]:
    return _checked(compose_yaml(text, source=source, hint=_SYNTAX_HINT), source)


def _checked(root: yaml.Node | None, source: str) -> list[CatalogueEntry]:
    if root is None:
        return []
    if not isinstance(root, yaml.SequenceNode):
        raise InputError(
            [
                Problem(
                    source,
                    f"the catalogue must be a YAML list of image references, not {describe_kind(root)}",
                    "write one '- registry/repository:tag' per line",
                    line=node_line(root),
                )
            ]
        )
    problems: list[Problem] = []
    entries: list[CatalogueEntry] = []
    for node in root.value:
        entries.extend(_entries_of(node, source, problems))
    problems.extend(_duplicates(entries))
    raise_if_any(problems)
    return entries


def _entries_of(node: yaml.Node, source: str, problems: list[Problem]) -> Iterator[CatalogueEntry]:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        ref = _reference(node.value, source, line, problems)
        if ref is not None:
            yield CatalogueEntry(ref, None, source, line)
        return
    if not isinstance(node, yaml.MappingNode):
        hint = "write '- registry/repository:tag' or '- image: registry/repository' with 'tags:'"
        problems.append(Problem(source, "an entry must be a reference or a mapping with 'image'", hint, line))
        return
    fields = _entry_fields(node, source, line, problems)
    image_node = fields.get("image")
    if not isinstance(image_node, yaml.ScalarNode) or not image_node.value:
        return
    ref = _reference(image_node.value, source, line, problems)
    platforms = _platforms(fields.get("platforms"), source, problems)
    selector = _selector(fields, source, line, problems)
    signatures = _flag(fields.get("signatures"), "signatures", _SIGNATURES_HINT, source, problems)
    tags_node = fields.get("tags")
    if ref is None:
        return
    if tags_node is None and not _SELECTOR_KEYS & set(fields):
        yield CatalogueEntry(ref, platforms, source, line, signatures=signatures)
        return
    if tag_given(image_node.value) or ref.digest:
        problems.append(
            Problem(
                source,
                f"entry {image_node.value!r} has both a tag in 'image' and a 'tags' list or selector",
                "put every tag in 'tags' and leave it off 'image'",
                line=line,
            )
        )
        return
    if selector is not None:
        yield CatalogueEntry(
            ImageRef(ref.registry, ref.repository, None), platforms, source, line, selector, signatures
        )
    if tags_node is not None:
        for entry in _listed_tags(ref, tags_node, platforms, source, line, problems):
            yield replace(entry, signatures=signatures)


def _entry_fields(
    node: yaml.MappingNode, source: str, line: int, problems: list[Problem]
) -> dict[str, yaml.Node]:
    """An entry mapping's keys, after checking they are known and that 'image' is there."""
    fields = {key.value: value for key, value in node.value if isinstance(key, yaml.ScalarNode)}
    unknown = sorted(set(fields) - _ENTRY_KEYS)
    if unknown:
        problems.append(
            Problem(
                source,
                f"unknown key(s) {', '.join(unknown)} in an entry",
                "an entry has only 'image', 'tags', 'platforms', 'signatures', 'semver', 'allow', 'deny', "
                "'latest' and 'prereleases'",
                line=line,
            )
        )
    image_node = fields.get("image")
    if not isinstance(image_node, yaml.ScalarNode) or not image_node.value:
        problems.append(
            Problem(
                source,
                "an entry mapping needs 'image: registry/repository'",
                "add 'image:' with the repository, and its tags under 'tags:'",
                line=line,
            )
        )
    return fields


def _listed_tags(
    ref: ImageRef,
    tags_node: yaml.Node,
    platforms: tuple[str, ...] | None,
    source: str,
    line: int,
    problems: list[Problem],
) -> Iterator[CatalogueEntry]:
    if not isinstance(tags_node, yaml.SequenceNode) or not tags_node.value:
        problems.append(
            Problem(source, "'tags' must be a non-empty list", "write tags: [v1.2.3, ...]", line=line)
        )
        return
    for tag_node in tags_node.value:
        tag_line = tag_node.start_mark.line + 1
        # Parsed as a whole reference, so each tag meets the reference grammar's tag rule.
        tag_ref = _reference(f"{ref.name}:{tag_node.value}", source, tag_line, problems)
        if tag_ref is not None:
            yield CatalogueEntry(tag_ref, platforms, source, tag_line)


def _selector(
    fields: dict[str, yaml.Node], source: str, line: int, problems: list[Problem]
) -> TagSelector | None:
    """The entry's selector keys as a TagSelector; None when it has none or they are wrong."""
    if not _SELECTOR_KEYS & set(fields):
        return None
    before = len(problems)
    ranges = _texts(
        fields.get("semver"), "semver", "semver: '>=1.2 <2' or semver: ['~1.2', '^2']", source, problems
    )
    for node, text in ranges:
        _check(
            parse_range,
            text,
            source,
            node,
            "write ranges such as '>=1.2.0 <2' or '^1.4'",
            problems,
        )
    allow = _texts(fields.get("allow"), "allow", "allow: 'v?1\\.[0-9]+\\.[0-9]+'", source, problems)
    deny = _texts(fields.get("deny"), "deny", "deny: '.*-(rc|beta)[.0-9]*'", source, problems)
    for node, text in allow + deny:
        _check(
            compile_expression,
            text,
            source,
            node,
            "write a Python regular expression that matches a whole tag",
            problems,
        )
    latest = _latest(fields.get("latest"), source, problems)
    prereleases = _flag(fields.get("prereleases"), "prereleases", _PRERELEASES_HINT, source, problems)
    if len(problems) > before:
        return None
    try:
        return TagSelector.build(
            semver_ranges=[text for _, text in ranges],
            allow=[text for _, text in allow],
            deny=[text for _, text in deny],
            latest=latest,
            prereleases=prereleases,
        )
    except SelectorError as error:
        problems.append(
            Problem(source, str(error), "add semver: '<range>', allow: '<regex>' or latest: N", line=line)
        )
        return None


def _texts(
    node: yaml.Node | None, key: str, example: str, source: str, problems: list[Problem]
) -> list[tuple[yaml.Node, str]]:
    """One string or a non-empty list of strings, each with its node for its line."""
    if node is None:
        return []
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    if not items or not all(isinstance(item, yaml.ScalarNode) and item.value for item in items):
        problems.append(
            Problem(
                source,
                f"'{key}' must be a string or a non-empty list of strings",
                f"write {example}",
                line=node.start_mark.line + 1,
            )
        )
        return []
    return [(item, str(item.value)) for item in items]


def _check(
    parse: Callable[[str], object],
    text: str,
    source: str,
    node: yaml.Node,
    hint: str,
    problems: list[Problem],
) -> None:
    try:
        parse(text)
    except SelectorError as error:
        problems.append(Problem(source, str(error), hint, line=node.start_mark.line + 1))


def _latest(node: yaml.Node | None, source: str, problems: list[Problem]) -> int | None:
    if node is None:
        return None
    text = node.value if isinstance(node, yaml.ScalarNode) else ""
    if node.tag != "tag:yaml.org,2002:int" or not _COUNT.fullmatch(text) or int(text) < 1:
        problems.append(
            Problem(
                source,
                f"'latest' must be a whole number of 1 or more, not {text or 'a collection'!r}",
                "write latest: 3 for the three highest versions",
                line=node.start_mark.line + 1,
            )
        )
        return None
    return int(text)


def _flag(node: yaml.Node | None, key: str, hint: str, source: str, problems: list[Problem]) -> bool:
    """A `true`/`false` key of an entry (default false); anything else is a problem at its line."""
    if node is None:
        return False
    if node.tag != "tag:yaml.org,2002:bool":
        problems.append(
            Problem(source, f"'{key}' must be true or false", hint, line=node.start_mark.line + 1)
        )
        return False
    return str(node.value).lower() in {"true", "yes", "on"}


def _reference(text: object, source: str, line: int, problems: list[Problem]) -> ImageRef | None:
    try:
        ref = parse_image(str(text))
    except ImageRefError as error:
        problems.append(Problem(source, str(error), "write registry/repository:tag", line=line))
        return None
    if ref.tag is None:
        problems.append(
            Problem(
                source,
                f"entry {text!r} names a digest but no tag: ECR cannot pull an image by digest "
                "before it is cached",
                f"name a tag, for example {ref.name}:<tag>@{ref.digest}, or just {ref.name}:<tag>",
                line=line,
            )
        )
        return None
    return ref


def _platforms(node: yaml.Node | None, source: str, problems: list[Problem]) -> tuple[str, ...] | None:
    if node is None:
        return None
    line = node.start_mark.line + 1
    values = [item.value for item in node.value] if isinstance(node, yaml.SequenceNode) else None
    if not values or not all(isinstance(v, str) and _PLATFORM.fullmatch(v) for v in values):
        problems.append(
            Problem(
                source,
                "'platforms' must be a non-empty list of os/arch[/variant]",
                "write platforms: [linux/amd64, linux/arm64], or leave it out for every platform",
                line=line,
            )
        )
        return None
    return tuple(sorted(set(values)))


def _duplicates(entries: Iterable[CatalogueEntry]) -> Iterator[Problem]:
    first_seen: dict[str, CatalogueEntry] = {}
    for entry in entries:
        # One selector per repository: the lock records each repository's selector once.
        key = entry.ref.name if entry.selector else str(entry.ref.with_tag(entry.ref.tag or ""))
        earlier = first_seen.setdefault(key, entry)
        if earlier is not entry:
            what = "has a second selector entry" if entry.selector else "is listed twice"
            yield Problem(
                entry.source,
                f"{key} {what} (also at line {earlier.line}); references are compared "
                "after normalization, so docker.io/nginx and nginx are the same image",
                "merge the two entries" if entry.selector else "remove one of the two entries",
                line=entry.line,
            )
