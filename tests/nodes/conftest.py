"""Node tests run a real containerd against real registries on 127.0.0.1."""

from __future__ import annotations

import shutil

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/nodes" in str(item.path):
            item.add_marker(pytest.mark.integration)
            if shutil.which("docker-registry") is None or shutil.which("skopeo") is None:
                item.add_marker(
                    pytest.mark.skip(reason="docker-registry and skopeo are installed by scripts/setup")
                )
