"""Image manifests and indexes, parsed into typed documents before the warm trusts any of them.

The shapes are the OCI image spec's (https://github.com/opencontainers/image-spec/blob/main/manifest.md,
image-index.md, descriptor.md) and Docker's v2 schema 2, which has the same fields. A descriptor
has a `mediaType`, a valid `digest` and a non-negative `size`; the declared sizes are kept, so each
blob read is bounded by them. Fields the warm does not use are ignored, as the spec asks. Anything
else fails the image with where and what is wrong (`layers.0.size: ...`), never with a Python
exception's text.

The checks are written out instead of declared as pydantic models: three small shapes need only
type checks, and importing pydantic and building its models was a quarter of the warm command's
start-up (48 ms of 210 ms, measured; bench/README.md), paid before the first request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.warm.digests import check_digest, is_digest
from components.warm.errors import MalformedManifest
from components.warm.json_bodies import load_json
from components.warm.media_types import INDEX_TYPES, MANIFEST_TYPES

_JSON_TYPES = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}


class _Wrong(ValueError):
    """A value that does not have its shape, at `path` in the document (`layers.0.size`)."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(f"{path or 'the document'}: {what}")


def _kind(value: object) -> str:
    return _JSON_TYPES.get(type(value), "a number")


def _at(path: str, name: str | int) -> str:
    return f"{path}.{name}" if path else str(name)


def _field(document: dict[str, Any], path: str, name: str) -> Any:
    if name not in document:
        raise _Wrong(_at(path, name), "missing")
    return document[name]


def _object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Wrong(path, f"should be an object, not {_kind(value)}")
    return value


def _list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Wrong(path, f"should be a list, not {_kind(value)}")
    return value


def _text(document: dict[str, Any], path: str, name: str) -> str:
    value = _field(document, path, name)
    if not isinstance(value, str):
        raise _Wrong(_at(path, name), f"should be a string, not {_kind(value)}")
    return value


@dataclass(frozen=True)
class Platform:
    """The platform an index entry, or an image config, names."""

    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, value: object, path: str = "") -> Platform:
        document = _object(value, path)
        variant = _text(document, path, "variant") if document.get("variant") is not None else None
        return cls(_text(document, path, "os"), _text(document, path, "architecture"), variant)


@dataclass(frozen=True)
class Descriptor:
    """What a manifest says about a blob or another manifest: its type, digest and size."""

    mediaType: str  # the OCI field's own name
    digest: str
    size: int
    platform: Platform | None = None

    @classmethod
    def parse(cls, value: object, path: str) -> Descriptor:
        document = _object(value, path)
        digest = _text(document, path, "digest")
        if not is_digest(digest):
            raise _Wrong(_at(path, "digest"), f"{digest[:80]!r} is not a sha256 or sha512 digest")
        size = _field(document, path, "size")
        if type(size) is not int:  # JSON true is a bool, and 3.0 a float: neither is a size
            raise _Wrong(_at(path, "size"), f"should be an integer, not {_kind(size)}")
        if size < 0:
            raise _Wrong(_at(path, "size"), f"should be 0 or more, not {size}")
        platform = document.get("platform")
        return cls(
            _text(document, path, "mediaType"),
            digest,
            size,
            None if platform is None else Platform.parse(platform, _at(path, "platform")),
        )


def _descriptors(document: dict[str, Any], name: str) -> tuple[Descriptor, ...]:
    entries = _list(_field(document, "", name), name)
    return tuple(Descriptor.parse(entry, _at(name, number)) for number, entry in enumerate(entries))


@dataclass(frozen=True)
class Manifest:
    """A manifest or index as served: its digest, media type and bytes, and the parsed document."""

    digest: str
    media_type: str
    body: bytes
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    manifests: tuple[Descriptor, ...] = ()

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        return (self.config, *self.layers) if self.config is not None else ()


def _json_object(body: bytes) -> dict[str, Any]:
    """The JSON object `body` holds; ValueError saying what it is instead."""
    try:
        document = load_json(body)
    except ValueError as error:
        raise ValueError(f"not JSON ({error})") from None
    if not isinstance(document, dict):
        raise ValueError(f"a JSON {type(document).__name__}, not an object")
    return document


def parse_manifest(body: bytes, content_type: str, digest: str, source: str) -> Manifest:
    """The typed manifest or index; `source` is the redacted URL it came from, for messages."""
    try:
        document = _json_object(body)
    except ValueError as error:
        raise MalformedManifest(f"manifest from {source} is malformed: {error}") from None
    media_type = content_type
    if media_type not in INDEX_TYPES | MANIFEST_TYPES:
        declared = document.get("mediaType")
        media_type = declared if isinstance(declared, str) else content_type
    if media_type not in INDEX_TYPES | MANIFEST_TYPES:
        raise MalformedManifest(f"manifest from {source} has unsupported media type {media_type[:80]!r}")
    check_digest(digest, f"manifest from {source}")
    try:
        if media_type in INDEX_TYPES:
            return Manifest(digest, media_type, body, manifests=_descriptors(document, "manifests"))
        config = Descriptor.parse(_field(document, "", "config"), "config")
        return Manifest(digest, media_type, body, config=config, layers=_descriptors(document, "layers"))
    except _Wrong as error:
        raise MalformedManifest(f"manifest from {source} is malformed: {error}") from None


def parse_platform(body: bytes) -> Platform:
    """The platform an image config names; ValueError when it names none."""
    return Platform.parse(_json_object(body))
