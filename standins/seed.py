"""Small, deterministic images built in memory and pushed with the OCI API: no Docker needed.

The set covers what a cache must handle: an OCI manifest, a Docker v2 manifest,
an OCI index with two platforms and an attestation, a Docker manifest list, and
layers shared across repositories.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field

import httpx

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
IN_TOTO = "application/vnd.in-toto+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer(name: str, size: int = 4096) -> bytes:
    """A gzip'd tar holding one file of `size` pseudo-random bytes; the same name gives the same bytes."""
    chunks, seed = [], name.encode()
    for _ in range(-(-size // hashlib.sha256().digest_size)):
        seed = hashlib.sha256(seed).digest()
        chunks.append(seed)
    content = b"".join(chunks)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"data/{name}")
        info.size, info.mtime, info.mode = size, 0, 0o644
        tar.addfile(info, io.BytesIO(content[:size]))
    return gzip.compress(buffer.getvalue(), mtime=0)


@dataclass
class SeededImage:
    repository: str
    tag: str
    media_type: str
    digest: str
    size: int
    platforms: list[str]
    blobs: list[str] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)

    def reference(self, registry: str) -> str:
        return f"{registry}/{self.repository}:{self.tag}"


def _platform(text: str) -> dict[str, str]:
    os_name, architecture, *variant = text.split("/")
    platform = {"os": os_name, "architecture": architecture}
    if variant:
        platform["variant"] = variant[0]
    return platform


class Pusher:
    """Pushes blobs and manifests to one registry with the monolithic upload of the OCI spec."""

    def __init__(self, registry_url: str) -> None:
        self.registry_url = registry_url
        self.http = httpx.Client(timeout=30)

    def close(self) -> None:
        self.http.close()

    def blob(self, repository: str, data: bytes) -> str:
        digest = digest_of(data)
        base = f"{self.registry_url}/v2/{repository}/blobs"
        if self.http.head(f"{base}/{digest}").status_code == 200:
            return digest
        start = self.http.post(f"{base}/uploads/")
        start.raise_for_status()
        location = httpx.URL(self.registry_url).join(start.headers["location"])
        self.http.put(location.copy_merge_params({"digest": digest}), content=data).raise_for_status()
        return digest

    def manifest(
        self, repository: str, reference: str | None, media_type: str, document: dict[str, object]
    ) -> tuple[str, int]:
        """Push a manifest under a tag, or by its own digest when `reference` is None."""
        body = json.dumps(document, sort_keys=True).encode()
        digest = digest_of(body)
        self.http.put(
            f"{self.registry_url}/v2/{repository}/manifests/{reference or digest}",
            content=body,
            headers={"Content-Type": media_type},
        ).raise_for_status()
        return digest, len(body)

    def single(
        self, repository: str, tag: str | None, platform: str, layers: list[bytes], *, docker: bool = False
    ) -> SeededImage:
        config_doc: dict[str, object] = {
            **_platform(platform),
            "rootfs": {"type": "layers", "diff_ids": [digest_of(gzip.decompress(blob)) for blob in layers]},
            "config": {"Labels": {"seeded-by": "ecr-pull-through-cache tests"}},
        }
        config = json.dumps(config_doc, sort_keys=True).encode()
        config_type, layer_type, media_type = (
            (DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST)
            if docker
            else (OCI_CONFIG, OCI_LAYER, OCI_MANIFEST)
        )
        blobs = [self.blob(repository, config)] + [self.blob(repository, data) for data in layers]
        document: dict[str, object] = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": config_type, "digest": blobs[0], "size": len(config)},
            "layers": [
                {"mediaType": layer_type, "digest": digest_of(data), "size": len(data)} for data in layers
            ],
        }
        digest, size = self.manifest(repository, tag, media_type, document)
        return SeededImage(repository, tag or "", media_type, digest, size, [platform], blobs, [digest])

    def _attestation(self, repository: str, subject: SeededImage) -> dict[str, object]:
        """A BuildKit-style attestation manifest: platform unknown/unknown, annotated with its subject."""
        statement = json.dumps(
            {"_type": "https://in-toto.io/Statement/v0.1", "subject": subject.digest}
        ).encode()
        config = b"{}"
        blobs = [self.blob(repository, config), self.blob(repository, statement)]
        document: dict[str, object] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": blobs[0], "size": len(config)},
            "layers": [{"mediaType": IN_TOTO, "digest": blobs[1], "size": len(statement)}],
        }
        digest, size = self.manifest(repository, None, OCI_MANIFEST, document)
        return {
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": size,
            "platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": {
                "vnd.docker.reference.type": "attestation-manifest",
                "vnd.docker.reference.digest": subject.digest,
            },
        }

    def index(self, repository: str, tag: str, platforms: list[str], *, docker: bool = False) -> SeededImage:
        """A multi-platform image; OCI indexes also carry an attestation, as BuildKit pushes them."""
        children = [
            self.single(
                repository, None, platform, [layer("base"), layer(f"{repository}-{platform}")], docker=docker
            )
            for platform in platforms
        ]
        descriptors: list[dict[str, object]] = [
            {
                "mediaType": child.media_type,
                "digest": child.digest,
                "size": child.size,
                "platform": _platform(p),
            }
            for child, p in zip(children, platforms, strict=True)
        ]
        if not docker:
            descriptors.append(self._attestation(repository, children[0]))
        media_type = DOCKER_LIST if docker else OCI_INDEX
        digest, size = self.manifest(
            repository,
            tag,
            media_type,
            {"schemaVersion": 2, "mediaType": media_type, "manifests": descriptors},
        )
        blobs = sorted({blob for child in children for blob in child.blobs})
        manifests = [str(d["digest"]) for d in descriptors]
        return SeededImage(repository, tag, media_type, digest, size, sorted(platforms), blobs, manifests)


def seed_sample_images(registry_url: str) -> list[SeededImage]:
    """The demo and test set: every manifest kind, with a base layer shared across repositories."""
    pusher = Pusher(registry_url)
    try:
        return [
            pusher.single("demo/oci-app", "v1", "linux/amd64", [layer("base"), layer("oci-app")]),
            pusher.single(
                "demo/docker-app", "v1", "linux/amd64", [layer("base"), layer("docker-app")], docker=True
            ),
            pusher.index("demo/multi-arch", "v1", ["linux/amd64", "linux/arm64"]),
            pusher.index("library/busybox", "1.36", ["linux/amd64", "linux/arm/v7"], docker=True),
        ]
    finally:
        pusher.close()


def seed_many(registry_url: str, count: int, layer_size: int = 256 * 1024) -> list[SeededImage]:
    """`count` single-platform images of three layers each (one shared), for benchmarks."""
    pusher = Pusher(registry_url)
    try:
        return [
            pusher.single(
                f"bench/app-{n:03d}",
                "v1",
                "linux/amd64",
                [layer("base", layer_size), layer(f"app-{n}-a", layer_size), layer(f"app-{n}-b", layer_size)],
            )
            for n in range(count)
        ]
    finally:
        pusher.close()
