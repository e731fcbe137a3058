"""Container image references, parsed the way registries and Docker parse them.

The grammar is the one in the distribution project's `reference` package
(https://github.com/distribution/reference/blob/main/reference.go), with the
Docker Hub normalization its `normalize.go` applies. No maintained Python
package implements that grammar together with the normalization (docker-py's
`parse_repository_tag` does neither), so it is written here, as one regular
expression per production, and tested against the cases the Go package tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from components.errors import ImageRefError

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
DOCKER_HUB_OFFICIAL_NAMESPACE = "library"
DEFAULT_TAG = "latest"

NAME_MAX_LENGTH = 255

_ALPHA_NUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHA_NUMERIC}(?:{_SEPARATOR}{_ALPHA_NUMERIC})*"
_REMOTE_NAME = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_PORT = r"[0-9]+"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::{_PORT})?")

_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)  # Go's \w is ASCII; Python's is Unicode
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")


@dataclass(frozen=True, order=True)
class ImageRef:
    """A normalized image reference: `registry/repository[:tag][@digest]`.

    `registry` is `docker.io` for every spelling of Docker Hub, so two
    references to the same image compare equal however they were written.
    `tag` is None only for a digest-only reference.
    """

    registry: str
    repository: str
    tag: str | None
    digest: str | None = None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    @property
    def name(self) -> str:
        """`registry/repository`, the part that names a repository."""
        return f"{self.registry}/{self.repository}"

    def with_tag(self, tag: str) -> ImageRef:
        return ImageRef(self.registry, self.repository, tag, None)


def moved_pin(ref: ImageRef, served: str) -> str:
    """What is wrong, and the fix, when the cache serves `served` for a reference the catalogue pins
    as `name:tag@digest`. One text for `warm`, `pulumi up` and its other backends."""
    return (
        f"the cache serves {served} for tag {ref.tag!r}, not the pinned {ref.digest}: the upstream moved "
        "the tag; update the pin in images.yaml, or the tag"
    )


def _looks_like_domain(first_component: str) -> bool:
    """Docker's rule: a first path component is a registry host when it could not be a repository."""
    return (
        "." in first_component
        or ":" in first_component
        or first_component == "localhost"
        or first_component.lower() != first_component
    )


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and (_looks_like_domain(first) or first.startswith("[")):
        return first, rest
    return DOCKER_HUB, name


def tag_given(text: str) -> bool:
    """Whether a reference as written names a tag (`parse_image` fills in `latest` when it does not)."""
    _, path = _split_domain(text.partition("@")[0])
    return ":" in path


def parse_image(text: str) -> ImageRef:
    """Parse and normalize an image reference such as `nginx`, `quay.io/a/b:v1` or `x@sha256:...`."""
    if not isinstance(text, str) or not text.strip():
        raise ImageRefError("an image reference must be a non-empty string")
    if text != text.strip() or any(ch.isspace() for ch in text):
        raise ImageRefError(f"image reference {text!r} contains whitespace")

    remainder, at, digest_text = text.partition("@")
    digest: str | None = None
    if at:
        if not _DIGEST.fullmatch(digest_text):
            raise ImageRefError(
                f"image reference {text!r} has an invalid digest {digest_text!r}: "
                "expected 'sha256:' followed by 64 lowercase hex characters"
            )
        digest = digest_text

    domain, path = _split_domain(remainder)
    tag: str | None = None
    last_colon = path.rfind(":")
    if last_colon != -1:
        path, tag = path[:last_colon], path[last_colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise ImageRefError(
                f"image reference {text!r} has an invalid tag {tag!r}: a tag is 1 to 128 characters "
                "of letters, digits, '_', '.' and '-', and does not start with '.' or '-'"
            )
    if domain != DOCKER_HUB and not _DOMAIN.fullmatch(domain):
        raise ImageRefError(f"image reference {text!r} has an invalid registry host {domain!r}")
    if not path:
        raise ImageRefError(f"image reference {text!r} has no repository name")
    if path.lower() != path:
        raise ImageRefError(
            f"image reference {text!r}: repository {path!r} must be lowercase (try {path.lower()!r})"
        )
    if not _REMOTE_NAME.fullmatch(path):
        raise ImageRefError(
            f"image reference {text!r} has an invalid repository {path!r}: path components are "
            "lowercase letters and digits, joined by '.', '_', '__' or '-', separated by '/'"
        )

    registry = domain
    if domain in DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in path:
            path = f"{DOCKER_HUB_OFFICIAL_NAMESPACE}/{path}"
    # Measured after normalization, as `ParseNormalizedNamed` does: the canonical name is what is stored.
    name = f"{registry}/{path}"
    if len(name) > NAME_MAX_LENGTH:
        raise ImageRefError(
            f"image reference {text!r} is too long: the name {name[:40]}... is {len(name)} characters, "
            f"at most {NAME_MAX_LENGTH} are allowed"
        )
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return ImageRef(registry=registry, repository=path, tag=tag, digest=digest)


def name_spellings(ref: ImageRef) -> tuple[str, ...]:
    """Every way of writing `ref`'s name (no tag) that `parse_image` normalizes back to it, canonical first.

    For Docker Hub: with each of its hosts or none, and for official images with or without
    `library/` (`nginx`, `library/nginx`, `docker.io/nginx`, `index.docker.io/library/nginx`, ...);
    for any other registry, the name as it is. Tools that match names as text (kustomize's
    `images` transformer) need one entry per spelling; each candidate is checked against the
    grammar above, so a spelling this module would read as another image is never offered.
    """
    if ref.registry != DOCKER_HUB:
        return (ref.name,)
    official = f"{DOCKER_HUB_OFFICIAL_NAMESPACE}/"
    paths = [ref.repository]
    if ref.repository.startswith(official) and "/" not in ref.repository.removeprefix(official):
        paths.append(ref.repository.removeprefix(official))
    hosts = [DOCKER_HUB, *sorted(DOCKER_HUB_ALIASES - {DOCKER_HUB})]
    candidates = [f"{host}/{path}" for host in hosts for path in paths] + paths
    return tuple(c for c in dict.fromkeys(candidates) if parse_image(c).name == ref.name)
