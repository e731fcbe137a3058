"""Real distribution registries on 127.0.0.1, seeded with images built in memory."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

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


def run_warm(*args: str) -> subprocess.CompletedProcess[str]:
    """The warm command as users run it, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "components", "warm", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
