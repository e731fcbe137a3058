"""The images rendered manifests run, against images.yaml (`python -m components discover PATH…`,
components/cli/discover.py).

Reads the output of `helm template` or `kustomize build` (files, or directories of `.yaml`,
`.yml` and `.json` files; multi-document YAML; `List` kinds), and collects the `image` of
every container, init container and ephemeral container in Pod templates. Images are
normalized with components/model/images.py, so `nginx` and `docker.io/library/nginx:latest` are one.
Nothing here talks to a cluster or a registry.

Digest-pinned images are flagged: a pull-through cache fills by tag, never from a digest it
has not cached (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-working-pulling.html),
so such a pull works only once the tag the digest came from was warmed, while that tag still
points at it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from components.errors import ImageRefError, InputError, Problem
from components.model.catalogue import CatalogueEntry, parse_catalogue
from components.model.images import ImageRef, parse_image
from components.safe_yaml import (
    MAX_MANIFEST_BYTES,
    compose_documents,
    compose_stream,
    decode_stream,
    mapping_fields,
    read_file,
    scalar_text,
)

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
# Where each workload kind keeps its Pod spec (https://kubernetes.io/docs/concepts/workloads/).
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_HINT = "pass the output of `helm template` or `kustomize build`"
_NO_DIGEST_FILL = "a pull-through cache cannot fill from a digest"


@dataclass(frozen=True)
class FoundImage:
    """One container's `image`, where it was found."""

    text: str
    source: str
    line: int
    workload: str  # `Deployment/argocd-server`

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def manifest_files(paths: Iterable[Path | str]) -> list[Path]:
    """The files to read: each file given, and each manifest file under each directory, sorted."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
        elif path.exists():  # a file; anything else is refused when it is read
            files.append(path)
        else:
            raise InputError([Problem(str(path), "no such file or directory", _HINT)])
    return files


@dataclass(frozen=True)
class ImageField:
    """One container's `image` value as composed (its marks say where the file has it)."""

    node: yaml.Node
    workload: str  # `Deployment/argocd-server`


def image_fields(node: yaml.Node) -> Iterator[ImageField]:
    """The image field of every container of one object, or of every object in a `List`.

    The one definition of "an image field" in a rendered manifest: `discover` reads these, and
    `rewrite` (model/rewrite.py) replaces exactly these.
    """
    fields = mapping_fields(node)
    kind = scalar_text(fields.get("kind")) or ""
    items = fields.get("items")
    if kind.endswith("List") and isinstance(items, yaml.SequenceNode):
        for item in items.value:
            yield from image_fields(item)
        return
    path = POD_SPEC_PATHS.get(kind)
    if path is None:
        return
    spec: yaml.Node | None = node
    for key in path:
        spec = mapping_fields(spec).get(key)
    name = scalar_text(mapping_fields(fields.get("metadata")).get("name")) or "?"
    pod_spec = mapping_fields(spec)
    for list_key in CONTAINER_LISTS:
        containers = pod_spec.get(list_key)
        if not isinstance(containers, yaml.SequenceNode):
            continue
        for container in containers.value:
            image = mapping_fields(container).get("image")
            if image is not None:
                yield ImageField(image, f"{kind}/{name}")


def images_in_document(node: yaml.Node, source: str) -> Iterator[FoundImage]:
    """The images of one object, or of every object in a `List`."""
    for field in image_fields(node):
        yield FoundImage(
            scalar_text(field.node) or "", source, field.node.start_mark.line + 1, field.workload
        )


def read_manifest(path: Path) -> tuple[str, list[yaml.Node]]:
    """A rendered manifest's text and its documents, read with the reader's caps and refusals.

    OSError (a missing or unreadable file) is the caller's to report.
    """
    data = read_file(path, max_bytes=MAX_MANIFEST_BYTES, source=str(path))
    text = decode_stream(data, source=str(path), hint=_HINT)
    return text, compose_stream(text, source=str(path), hint=_HINT)


def find_images(paths: Iterable[Path | str]) -> list[FoundImage]:
    """Every image in the manifests under `paths`; InputError lists every unreadable file at once."""
    found: list[FoundImage] = []
    problems: list[Problem] = []
    for path in manifest_files(paths):
        try:
            _, documents = read_manifest(path)
        except InputError as error:
            problems += error.problems
            continue
        except OSError as error:
            problems.append(Problem(str(path), f"cannot read: {error.strerror}", _HINT))
            continue
        for document in documents:
            found += images_in_document(document, str(path))
    if problems:
        raise InputError(problems)
    return found


@dataclass(frozen=True)
class Finding:
    """One distinct image and what the catalogue says about it.

    `status`: `listed`, `selected` (a selector entry's filter admits the tag; the lock decides),
    `missing` (`--write` adds `ref`), `pinned` (a digest without a tag: only a person can add
    it) or `invalid` (not an image reference).
    """

    status: str
    image: str
    ref: ImageRef | None
    places: tuple[FoundImage, ...]
    note: str = ""


def compare(found: Sequence[FoundImage], entries: Sequence[CatalogueEntry]) -> list[Finding]:
    """Each distinct image found, with its status against the catalogue, sorted by image."""
    listed = {str(e.ref): e for e in entries if e.selector is None}
    selectors = {e.ref.name: e for e in entries if e.selector is not None}
    by_image: dict[str, list[FoundImage]] = {}
    errors: dict[str, str] = {}
    refs: dict[str, ImageRef] = {}
    for image in found:
        try:
            ref = parse_image(image.text)
        except ImageRefError as error:
            key = image.text
            errors[key] = str(error)
        else:
            key = str(ref)
            refs[key] = ref
        by_image.setdefault(key, []).append(image)
    findings: list[Finding] = []
    for key in sorted(by_image):
        places = tuple(by_image[key])
        if key in errors:
            findings.append(Finding("invalid", key, None, places, errors[key]))
            continue
        ref = refs[key]
        if ref.tag is None:
            note = f"{_NO_DIGEST_FILL}: add the tag this digest came from, and pin <tag>@{ref.digest}"
            findings.append(Finding("pinned", key, None, places, note))
            continue
        wanted = ref.with_tag(ref.tag)
        pin_note = (
            f"{_NO_DIGEST_FILL}: the pull works once {wanted} is warmed, while that tag still points at it"
            if ref.digest
            else ""
        )
        selector = selectors.get(ref.name)
        if str(wanted) in listed:
            status, note = "listed", pin_note
        elif selector is not None and selector.selector and selector.selector.chosen_by(ref.tag):
            held = f"if the lock holds it (selector at {selector.where})"
            status, note = "selected", f"{held}; {pin_note}" if pin_note else held
        else:
            status, note = "missing", pin_note
        findings.append(Finding(status, key, wanted, places, note))
    return findings


def render_report(findings: Sequence[Finding]) -> str:
    lines = []
    for finding in findings:
        where = ", ".join(f"{p.where} {p.workload}" for p in finding.places)
        lines.append(f"{finding.status:9}{finding.image}  ({where})")
        if finding.note:
            lines.append(f"{'':9}{finding.note}")
    counts = {
        s: sum(f.status == s for f in findings)
        for s in ("listed", "selected", "missing", "pinned", "invalid")
    }
    lines.append(", ".join(f"{n} {status}" for status, n in counts.items()))
    return "\n".join(lines)


def append_entries(text: str, refs: Sequence[ImageRef], *, source: str) -> str:
    """`text` with one `- ref` line per ref appended, the user's lines, comments and layout kept."""
    documents = compose_documents(text.encode("utf-8"), source=source, hint="fix the catalogue first")
    root = documents[0] if documents else None
    if root is not None and (not isinstance(root, yaml.SequenceNode) or root.flow_style):
        raise InputError(
            [
                Problem(
                    source,
                    "cannot append to a catalogue that is not a block list",
                    "write it as '- registry/repository:tag' lines, then run discover --write again",
                    line=root.start_mark.line + 1,
                )
            ]
        )
    indent = " " * (root.start_mark.column if root is not None else 0)
    added = "".join(f"{indent}- {ref}\n" for ref in refs)
    separator = "" if not text or text.endswith("\n") else "\n"
    new_text = f"{text}{separator}{indent}# added by `python -m components discover --write`\n{added}"
    parse_catalogue(new_text, source=source)  # what we wrote must still be a valid catalogue
    return new_text
