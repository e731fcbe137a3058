"""Rendered manifests with each catalogue image replaced by its cache reference (`python -m components
rewrite`, components/cli/rewrite.py), for pods on nodes nobody can configure (EKS Auto Mode, Fargate).

Which fields are images is model/discovery.py's `image_fields`, the same definition `discover`
reads; which reference an image becomes is model/image_map.py. Nothing else may change, so the
new values are written into the original text at the positions the safe reader's composer
reports for each image scalar (`start_mark`/`end_mark`), in the scalar's own quoting style.

Why not a round-trip YAML library: ruamel.yaml (https://yaml.readthedocs.io/), the maintained one,
keeps key order, most comments, quoting (`preserve_quotes`) and flow style, but it dumps the whole
stream again. Measured with ruamel.yaml 0.19.1 on tests/data/rewrite, a load and dump that changes
nothing rewrites 42 lines of workloads.yaml (the comments before the first `---` and the `...`
marker are dropped, a long annotation is wrapped at 80 characters, a document indented by four
spaces is re-indented by two) and reflows app.json onto three lines. Writing only the image values'
own characters keeps every other byte, which no dump can; the positions come from
`components/safe_yaml.py`, so the reader's caps and refusals (size, anchors and aliases, depth,
non-regular files, bytes that are not UTF-8) apply before anything is rewritten, and no second
YAML library is needed. The result is composed again and checked: the same documents with only
the image values changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from components.errors import ImageRefError, InputError, Problem
from components.model.discovery import image_fields, manifest_files, read_manifest
from components.model.image_map import ImageMap
from components.model.images import parse_image
from components.safe_yaml import compose_stream

_HINT = "pass the output of `helm template` or `kustomize build`"
_PLAIN_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]*")


@dataclass(frozen=True)
class Place:
    """Where an image is written: `rendered/app.yaml:12 Deployment/web`."""

    source: str
    line: int
    workload: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line} {self.workload}"


@dataclass(frozen=True)
class Unmatched:
    """An image left as written, and why."""

    image: str
    reason: str
    place: Place


@dataclass
class RewrittenManifest:
    """One file's text before and after, what was replaced, and what was left."""

    path: Path
    original: str
    text: str
    replaced: list[tuple[str, str, Place]] = field(default_factory=list)  # (old, new, where)
    unmatched: list[Unmatched] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.text != self.original


def _scalar(value: str, style: str | None) -> str:
    """`value` as a YAML scalar in `style`; block scalars (`|-`, `>-`) become double-quoted, on one line.

    A cache reference is `[A-Za-z0-9._:/@-]`, which no style needs to escape; anything else the
    grammar allows (an IPv6 host's brackets) is written double-quoted, which JSON reads too.
    """
    if not _PLAIN_SAFE.fullmatch(value) or style in ('"', "|", ">"):
        return json.dumps(value)
    if style == "'":
        return f"'{value}'"
    return value


def _span(text: str, node: yaml.Node) -> tuple[int, int]:
    """The characters of a scalar in `text`; a block scalar's trailing line breaks stay outside."""
    start, end = node.start_mark.index, node.end_mark.index
    if getattr(node, "style", None) in ("|", ">"):
        while end > start and text[end - 1] in "\r\n":
            end -= 1
    return start, end


def _masked(node: yaml.Node, images: set[int]) -> object:
    """A node's tree as tags and values, each image field's value replaced by a marker."""
    if id(node) in images:
        return "<image>"
    if isinstance(node, yaml.ScalarNode):
        return (node.tag, node.value)
    if isinstance(node, yaml.SequenceNode):
        return (node.tag, [_masked(item, images) for item in node.value])
    return (node.tag, [(_masked(k, images), _masked(v, images)) for k, v in node.value])


def _shape(documents: Sequence[yaml.Node]) -> tuple[list[object], list[str]]:
    """Every document with image fields masked, and the image values in order."""
    trees, values = [], []
    for document in documents:
        fields = list(image_fields(document))
        trees.append(_masked(document, {id(f.node) for f in fields}))
        values += [str(f.node.value) if isinstance(f.node, yaml.ScalarNode) else "" for f in fields]
    return trees, values


def _lookups(
    documents: Sequence[yaml.Node], images: ImageMap, source: str
) -> Iterator[tuple[yaml.Node, Place, str | None, str]]:
    """Each image scalar: where it is, its new value (or None) and why it stays."""
    for document in documents:
        for found in image_fields(document):
            place = Place(source, found.node.start_mark.line + 1, found.workload)
            if not isinstance(found.node, yaml.ScalarNode) or found.node.tag != "tag:yaml.org,2002:str":
                yield found.node, place, None, "not an image reference (not a string)"
                continue
            try:
                resolution = images.resolve(parse_image(found.node.value))
            except ImageRefError as error:
                yield found.node, place, None, f"not an image reference: {error}"
                continue
            yield found.node, place, resolution.reference, "" if resolution.cached else resolution.reason


def rewrite_text(text: str, images: ImageMap, *, source: str) -> RewrittenManifest:
    """`text` (one manifest file) with every matching image replaced; InputError for YAML it will not read."""
    return _rewrite(Path(source), text, compose_stream(text, source=source, hint=_HINT), images)


def _rewrite(path: Path, text: str, documents: Sequence[yaml.Node], images: ImageMap) -> RewrittenManifest:
    """`documents`' marks index into `text` less its byte-order mark, as `compose_stream` gives them."""
    source = str(path)
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text.removeprefix(bom)
    result = RewrittenManifest(path, text, text)
    pieces: list[str] = []
    position = 0
    expected: list[str] = []
    for node, place, new, reason in _lookups(documents, images, source):
        old = str(node.value)
        if new is None:
            expected.append(old)
            if reason:
                result.unmatched.append(Unmatched(old, reason, place))
            continue
        start, end = _span(body, node)
        pieces += [body[position:start], _scalar(new, getattr(node, "style", None))]
        position = end
        expected.append(new)
        result.replaced.append((old, new, place))
    if not result.replaced:
        return result
    result.text = bom + "".join(pieces) + body[position:]
    _check(documents, result.text.removeprefix(bom), expected, source)
    return result


def _check(before: Sequence[yaml.Node], text: str, expected: list[str], source: str) -> None:
    """The rewritten text must compose to the same documents with only the image values changed."""
    after_trees, after_values = _shape(compose_stream(text, source=source, hint=_HINT))
    before_trees, _ = _shape(before)
    if after_trees != before_trees or after_values != expected:
        raise RuntimeError(
            f"{source}: rewriting would change more than the image values; nothing was written"
        )


def rewrite_manifests(paths: Sequence[Path | str], images: ImageMap) -> list[RewrittenManifest]:
    """Every manifest file under `paths`, rewritten in memory; InputError lists every unreadable file."""
    results: list[RewrittenManifest] = []
    problems: list[Problem] = []
    for path in manifest_files(paths):
        try:
            text, documents = read_manifest(path)
            results.append(_rewrite(path, text, documents, images))
        except InputError as error:
            problems += error.problems
        except OSError as error:
            problems.append(Problem(str(path), f"cannot read: {error.strerror}", _HINT))
    if problems:
        raise InputError(problems)
    return results
