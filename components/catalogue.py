"""The image catalogue, `images.yaml`: which tags the cache must hold.

Entries are either plain references, as people already write them, or mappings
with `image`, `tags` and `platforms`. Every problem is reported with the file,
the line and the entry, before anything talks to AWS or a registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from components.errors import ImageRefError, InputError, Problem, raise_if_any, yaml_syntax_problem
from components.images import ImageRef, parse_image

_PLATFORM = re.compile(r"[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?")
_ENTRY_KEYS = frozenset({"image", "tags", "platforms"})


@dataclass(frozen=True)
class CatalogueEntry:
    """One tag to warm. `platforms` is None for every platform the image has."""

    ref: ImageRef
    platforms: tuple[str, ...] | None
    source: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def load_catalogue(path: Path | str) -> list[CatalogueEntry]:
    """Read and check a catalogue file; raise InputError listing every problem in it."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(
            [Problem(source, f"cannot read the image catalogue: {error.strerror}", "create the file")]
        ) from None
    return parse_catalogue(text, source=source)


def parse_catalogue(text: str, *, source: str) -> list[CatalogueEntry]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        hint = "fix the YAML syntax; entries are '- registry/repository:tag' lines"
        raise InputError([yaml_syntax_problem(error, source, hint)]) from None
    if root is None:
        return []
    if not isinstance(root, yaml.SequenceNode):
        raise InputError(
            [
                Problem(
                    source,
                    "the catalogue must be a YAML list of image references",
                    "write one '- registry/repository:tag' per line",
                    line=root.start_mark.line + 1,
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
        problems.append(
            Problem(
                source,
                "an entry must be a reference or a mapping with 'image'",
                "write '- registry/repository:tag' or '- image: registry/repository' with 'tags:'",
                line=line,
            )
        )
        return
    fields = {key.value: value for key, value in node.value if isinstance(key, yaml.ScalarNode)}
    unknown = sorted(set(fields) - _ENTRY_KEYS)
    if unknown:
        problems.append(
            Problem(
                source,
                f"unknown key(s) {', '.join(unknown)} in an entry",
                "an entry has only 'image', 'tags' and 'platforms'",
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
        return
    ref = _reference(image_node.value, source, line, problems)
    platforms = _platforms(fields.get("platforms"), source, problems)
    tags_node = fields.get("tags")
    if ref is None:
        return
    if tags_node is None:
        yield CatalogueEntry(ref, platforms, source, line)
        return
    if ":" in image_node.value.rsplit("/", 1)[-1] or ref.digest:
        problems.append(
            Problem(
                source,
                f"entry {image_node.value!r} has both a tag in 'image' and a 'tags' list",
                "put every tag in 'tags' and leave it off 'image'",
                line=line,
            )
        )
        return
    if not isinstance(tags_node, yaml.SequenceNode) or not tags_node.value:
        problems.append(
            Problem(source, "'tags' must be a non-empty list", "write tags: [v1.2.3, ...]", line=line)
        )
        return
    for tag_node in tags_node.value:
        tag_line = tag_node.start_mark.line + 1
        tag_ref = _reference(f"{ref.name}:{tag_node.value}", source, tag_line, problems)
        if tag_ref is not None:
            yield CatalogueEntry(tag_ref, platforms, source, tag_line)


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
        key = str(entry.ref.with_tag(entry.ref.tag or ""))
        earlier = first_seen.setdefault(key, entry)
        if earlier is not entry:
            yield Problem(
                entry.source,
                f"{key} is listed twice (also at line {earlier.line}); references are compared "
                "after normalization, so docker.io/nginx and nginx are the same image",
                "remove one of the two entries",
                line=entry.line,
            )
