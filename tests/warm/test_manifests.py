"""Digests and manifest documents are checked before the warm uses them."""

from __future__ import annotations

import json
import re

import pytest

from components.warm.digests import check_digest, is_digest
from components.warm.errors import MalformedManifest
from components.warm.manifests import Platform, parse_manifest, parse_platform
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
        ({"layers": "abc"}, "layers: should be a list, not a string"),
        ({"layers": {}}, "layers: should be a list, not an object"),
        ({"layers": [None]}, "layers.0: should be an object, not null"),
        (
            {"layers": [{"mediaType": "l", "digest": GOOD, "size": -1}]},
            "layers.0.size: should be 0 or more, not -1",
        ),
        (
            {"layers": [{"mediaType": "l", "digest": GOOD, "size": "3"}]},
            "layers.0.size: should be an integer, not a string",
        ),
        (
            {"layers": [{"mediaType": "l", "digest": GOOD, "size": True}]},
            "layers.0.size: should be an integer, not a boolean",
        ),
        (
            {"layers": [{"mediaType": "l", "digest": GOOD, "size": 3.0}]},
            "layers.0.size: should be an integer, not a number",
        ),
        ({"layers": [{"mediaType": "l", "digest": GOOD}]}, "layers.0.size: missing"),
        ({"layers": [{"digest": GOOD, "size": 1}]}, "layers.0.mediaType: missing"),
        ({"layers": [{"mediaType": 7, "digest": GOOD, "size": 1}]}, "layers.0.mediaType: should be a string"),
        (
            {"layers": [{"mediaType": "l", "digest": "sha256:../x", "size": 1}]},
            "layers.0.digest: 'sha256:../x' is not a sha256 or sha512 digest",
        ),
        ({"layers": [{"mediaType": "l", "digest": 5, "size": 1}]}, "layers.0.digest: should be a string"),
        ({"config": None}, "config: should be an object, not null"),
        ({"config": {"mediaType": "c", "digest": GOOD}}, "config.size: missing"),
    ],
)
def test_a_malformed_manifest_says_what_is_wrong(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(MalformedManifest) as caught:
        parse_manifest(manifest(**fields), OCI_MANIFEST, DIGEST, "https://r/v2/a/manifests/1")
    assert str(caught.value).startswith("manifest from https://r/v2/a/manifests/1 is malformed: ")
    assert reason in str(caught.value)


def test_an_index_needs_descriptors_and_json_must_be_an_object() -> None:
    with pytest.raises(MalformedManifest, match="manifests: should be a list, not an object"):
        parse_manifest(json.dumps({"manifests": {}}).encode(), OCI_INDEX, DIGEST, "u")
    with pytest.raises(MalformedManifest, match="malformed: manifests: missing"):
        parse_manifest(b"{}", OCI_INDEX, DIGEST, "u")
    with pytest.raises(MalformedManifest, match="malformed: a JSON list, not an object"):
        parse_manifest(b"[]", OCI_MANIFEST, DIGEST, "u")
    with pytest.raises(MalformedManifest, match=r"malformed: not JSON \(not UTF-8\)"):
        parse_manifest(b"{\x80}", OCI_MANIFEST, DIGEST, "u")


def test_an_index_entry_keeps_its_platform_and_ignores_unknown_fields() -> None:
    entry = {"mediaType": OCI_MANIFEST, "digest": GOOD, "size": 9, "annotations": {"a": "b"}}
    amd64 = {**entry, "platform": {"os": "linux", "architecture": "amd64", "os.version": "x"}}
    arm = {**entry, "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}}
    body = json.dumps({"manifests": [amd64, arm, entry], "extra": 1}).encode()
    parsed = parse_manifest(body, OCI_INDEX, DIGEST, "u")
    assert parsed.is_index and parsed.blobs == ()
    assert [m.platform for m in parsed.manifests] == [
        Platform("linux", "amd64"),
        Platform("linux", "arm", "v7"),
        None,
    ]


@pytest.mark.parametrize(
    ("platform", "reason"),
    [
        ({"os": "linux"}, "manifests.0.platform.architecture: missing"),
        ({"os": "linux", "architecture": 1}, "manifests.0.platform.architecture: should be a string"),
        ({"os": "linux", "architecture": "arm", "variant": []}, "manifests.0.platform.variant: should be"),
        ("linux/amd64", "manifests.0.platform: should be an object, not a string"),
    ],
)
def test_a_malformed_platform_says_where(platform: object, reason: str) -> None:
    entry = {"mediaType": OCI_MANIFEST, "digest": GOOD, "size": 9, "platform": platform}
    with pytest.raises(MalformedManifest, match=re.escape(reason)):
        parse_manifest(json.dumps({"manifests": [entry]}).encode(), OCI_INDEX, DIGEST, "u")


def test_an_image_config_names_its_platform() -> None:
    assert parse_platform(b'{"os": "linux", "architecture": "arm64", "rootfs": {}}') == Platform(
        "linux", "arm64"
    )
    for bad in (b"[]", b"{", b'{"os": "linux"}', b'{"os": "linux", "architecture": null}'):
        with pytest.raises(ValueError):
            parse_platform(bad)
