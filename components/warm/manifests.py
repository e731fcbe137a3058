"""Image manifests and indexes, parsed into typed documents before the warm trusts any of them.

The shapes are the OCI image spec's (https://github.com/opencontainers/image-spec/blob/main/manifest.md,
image-index.md) and Docker's v2 schema 2, which has the same fields. A descriptor has a
`mediaType`, a valid `digest` and a non-negative `size`; the declared sizes are kept, so each
blob read is bounded by them. Anything else fails the image with what is wrong, never with a
Python exception's text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from components.warm.digests import check_digest, is_digest
from components.warm.errors import MalformedManifest
from components.warm.media_types import INDEX_TYPES, MANIFEST_TYPES


def _digest(text: str) -> str:
    if not is_digest(text):
        raise ValueError(f"{text[:80]!r} is not a sha256 or sha512 digest")
    return text


class _Shape(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Platform(_Shape):
    os: str
    architecture: str
    variant: str | None = None


class Descriptor(_Shape):
    mediaType: str  # the OCI field's own name
    digest: Annotated[str, AfterValidator(_digest)]
    size: Annotated[int, Field(ge=0)]
    platform: Platform | None = None


class _ImageManifest(_Shape):
    config: Descriptor
    layers: list[Descriptor]


class _ImageIndex(_Shape):
    manifests: list[Descriptor]


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


def _problem(error: pydantic.ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "the document"
    return f"{where}: {first['msg']}"


def parse_manifest(body: bytes, content_type: str, digest: str, source: str) -> Manifest:
    """The typed manifest or index; `source` is the redacted URL it came from, for messages."""

    def malformed(what: str) -> MalformedManifest:
        return MalformedManifest(f"manifest from {source} is malformed: {what}")

    try:
        document: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else "not UTF-8"
        raise malformed(f"not JSON ({reason})") from None
    if not isinstance(document, dict):
        raise malformed(f"a JSON {type(document).__name__}, not an object")
    media_type = content_type
    if media_type not in INDEX_TYPES | MANIFEST_TYPES:
        declared = document.get("mediaType")
        media_type = declared if isinstance(declared, str) else content_type
    if media_type not in INDEX_TYPES | MANIFEST_TYPES:
        raise MalformedManifest(f"manifest from {source} has unsupported media type {media_type[:80]!r}")
    check_digest(digest, f"manifest from {source}")
    try:
        if media_type in INDEX_TYPES:
            index = _ImageIndex.model_validate(document)
            return Manifest(digest, media_type, body, manifests=tuple(index.manifests))
        image = _ImageManifest.model_validate(document)
    except pydantic.ValidationError as error:
        raise malformed(_problem(error)) from None
    return Manifest(digest, media_type, body, config=image.config, layers=tuple(image.layers))
