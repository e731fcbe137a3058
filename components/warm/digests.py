"""Digests as the OCI image spec defines them, checked before one goes into a URL or a lock.

https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests: `algorithm:encoded`.
Only the two registered algorithms a registry serves are accepted, with their exact lowercase
hex length; anything else (`sha256:../../x`, upper case, a short hex) is refused.
"""

from __future__ import annotations

import hashlib
import re

from components.warm.errors import MalformedManifest

_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_DIGEST = re.compile(r"(?P<algorithm>sha256|sha512):(?P<hex>[0-9a-f]+)")


def is_digest(text: str) -> bool:
    match = _DIGEST.fullmatch(text)
    return match is not None and len(match["hex"]) == _HEX_LENGTH[match["algorithm"]]


def check_digest(text: object, where: str) -> str:
    """`text` when it is a valid digest; otherwise MalformedManifest naming `where` it came from."""
    if not isinstance(text, str) or not is_digest(text):
        shown = text[:80] if isinstance(text, str) else type(text).__name__
        raise MalformedManifest(f"{where}: {shown!r} is not a sha256 or sha512 digest")
    return text


def hasher_for(digest: str) -> hashlib._Hash:
    """A hash object of the digest's algorithm (the digest is already checked)."""
    return hashlib.new(digest.partition(":")[0])


def digest_of(algorithm: str, data: bytes) -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
