"""Digests and manifest documents are checked before the warm uses them."""

from __future__ import annotations

import json

import pytest

from components.warm.digests import check_digest, is_digest
from components.warm.errors import MalformedManifest
from components.warm.manifests import parse_manifest
from components.warm.media_types import OCI_INDEX, OCI_MANIFEST

GOOD = "sha256:" + "a" * 64
DIGEST = "sha256:" + "b" * 64


def test_the_oci_digest_grammar() -> None:
    assert is_digest(GOOD) and is_digest("sha512:" + "0" * 128)
    for bad in (
        "sha256:../../../../x",
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 63,
        "md5:" + "a" * 32,
        "sha512:" + "a" * 64,
    ):
        assert not is_digest(bad), bad
    with pytest.raises(
        MalformedManifest, match=r"blob of a: 'sha256:\.\./x' is not a sha256 or sha512 digest"
    ):
        check_digest("sha256:../x", "blob of a")


def manifest(**fields: object) -> bytes:
    layer = {"mediaType": "l", "digest": GOOD, "size": 3}
    document = {
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "c", "digest": GOOD, "size": 2},
        "layers": [layer],
    }
    return json.dumps({**document, **fields}).encode()


def test_sizes_are_kept_for_bounded_reads() -> None:
    parsed = parse_manifest(manifest(), OCI_MANIFEST, DIGEST, "u")
    assert [(b.digest, b.size) for b in parsed.blobs] == [(GOOD, 2), (GOOD, 3)]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"layers": "abc"}, "layers: Input should be a valid list"),
        (
            {"layers": [{"mediaType": "l", "digest": GOOD, "size": -1}]},
            "layers.0.size: Input should be greater than or equal to 0",
        ),
        (
            {"layers": [{"mediaType": "l", "digest": GOOD, "size": "3"}]},
            "layers.0.size: Input should be a valid integer",
        ),
        ({"layers": [{"mediaType": "l", "digest": GOOD}]}, "layers.0.size: Field required"),
        ({"config": None}, "config: Input should be a valid dictionary"),
    ],
)
def test_a_malformed_manifest_says_what_is_wrong(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(MalformedManifest) as caught:
        parse_manifest(manifest(**fields), OCI_MANIFEST, DIGEST, "https://r/v2/a/manifests/1")
    assert str(caught.value).startswith("manifest from https://r/v2/a/manifests/1 is malformed: ")
    assert reason in str(caught.value)


def test_an_index_needs_descriptors_and_json_must_be_an_object() -> None:
    with pytest.raises(MalformedManifest, match="manifests: Input should be a valid list"):
        parse_manifest(json.dumps({"manifests": {}}).encode(), OCI_INDEX, DIGEST, "u")
    with pytest.raises(MalformedManifest, match="malformed: a JSON list, not an object"):
        parse_manifest(b"[]", OCI_MANIFEST, DIGEST, "u")
    with pytest.raises(MalformedManifest, match=r"malformed: not JSON \(not UTF-8\)"):
        parse_manifest(b"{\x80}", OCI_MANIFEST, DIGEST, "u")
