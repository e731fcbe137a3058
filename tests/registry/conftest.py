"""Real distribution registries on 127.0.0.1, seeded with images built in memory.

The warm tests run through the ECR-like stand-in (`standins.ecr_like`): HTTPS with a throwaway
CA, ECR's Basic `AWS:<token>` login and its `/v2/<prefix>/...` layout, built the way the demo
builds it (`standins.demo`). The plain `seeded` pair (an upstream and one proxy, plain HTTP)
stays for what the stand-in cannot do: faults injected between the cache and the warmer, and
the provider tests, which talk to a registry directly.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from standins.demo import (
    PREFIXES,
    DemoImage,
    mirror_arguments,
    seed_upstreams,
    trusting,
    warm_environment,
    write_catalogue,
)
from standins.ecr_like import EcrLike, basic_credential, ecr_like
from standins.registries import CachePair, upstream_and_cache
from standins.seed import SeededImage, seed_sample_images

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/registry" in str(item.path):
            item.add_marker(pytest.mark.integration)
            if shutil.which("docker-registry") is None or shutil.which("skopeo") is None:
                item.add_marker(
                    pytest.mark.skip(reason="docker-registry and skopeo are installed by scripts/setup")
                )


@dataclass
class Seeded:
    pair: CachePair
    images: list[SeededImage]
    catalogue: Path

    @property
    def mirror(self) -> str:
        return f"{self.pair.upstream.address}={self.pair.cache.url}"


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[Seeded]:
    with upstream_and_cache(tmp_path / "registries") as pair:
        images = seed_sample_images(pair.upstream.url)
        catalogue = tmp_path / "images.yaml"
        catalogue.write_text("".join(f"- {image.reference(pair.upstream.address)}\n" for image in images))
        yield Seeded(pair, images, catalogue)


@dataclass
class EcrSeeded:
    """The ECR-like cache with both upstreams seeded, and a catalogue naming their images."""

    ecr: EcrLike
    images: list[DemoImage]
    catalogue: Path

    def image(self, repository: str) -> DemoImage:
        return next(item for item in self.images if item.image.repository == repository)

    def warm(
        self, *args: str, environment: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The warm command through every prefix; by default with the stand-in's CA and its login."""
        return run_warm(
            "--images",
            str(self.catalogue),
            *mirror_arguments(self.ecr),
            *args,
            environment=warm_environment(self.ecr) if environment is None else environment,
        )

    def path(self, item: DemoImage, kind: str, reference: str) -> str:
        """`/v2/<prefix>/<repository>/<kind>/<reference>`: where ECR serves an image's manifests and blobs."""
        return f"/v2/{item.prefix}/{item.image.repository}/{kind}/{reference}"

    def client(self) -> httpx.Client:
        """A client of the cache as a node sees it: its CA trusted, the ECR login sent."""
        return httpx.Client(
            base_url=self.ecr.url,
            verify=trusting(self.ecr),
            headers={"Authorization": basic_credential(self.ecr.token)},
            timeout=30,
        )

    def stop_upstreams(self) -> None:
        for upstream in self.ecr.upstreams.values():
            upstream.stop()
            with pytest.raises(httpx.TransportError):
                httpx.get(f"{upstream.url}/v2/", timeout=2)


@pytest.fixture
def ecr_seeded(tmp_path: Path) -> Iterator[EcrSeeded]:
    with ecr_like(PREFIXES, tmp_path / "registries") as ecr:
        images = seed_upstreams(ecr)
        yield EcrSeeded(ecr, images, write_catalogue(images, tmp_path / "images.yaml"))


def run_warm(*args: str, environment: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The warm command as users run it, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "components", "warm", *args],
        cwd=ROOT,
        env=None if environment is None else dict(environment),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
