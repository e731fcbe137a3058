"""The offline demo runs end to end through the ECR-like cache and leaves nothing running."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("docker-registry") is None or shutil.which("skopeo") is None,
        reason="docker-registry and skopeo are installed by scripts/setup",
    ),
]


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_demo_pulls_everything_back_through_the_ecr_like_cache_and_stops_what_it_started() -> None:
    demo = subprocess.run(
        [sys.executable, "-m", "standins.demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    out = demo.stdout
    assert re.search(r"--mirror docker\.io=https://127\.0\.0\.1:\d+/docker-hub", out)
    assert re.search(r"--mirror quay\.io=https://127\.0\.0\.1:\d+/quay", out)
    assert "warmed 5 of 5 images" in out
    assert out.count("stopped: it no longer answers") == 2, "both upstreams were stopped before the pulls"
    assert "5 images, 7 platforms, 19 blobs" in out
    assert re.search(r"under /v2/quay/, \d+ to /v2/ \(skopeo's ping\), 0 elsewhere", out)
    assert re.search(r'got 401 Basic realm="https://127\.0\.0\.1:\d+/",service="ecr\.amazonaws\.com"', out)
    assert out.rstrip().endswith("done")
    pids = {int(pid) for pid in re.findall(r"pid (\d+)", out)}
    assert len(pids) == 4, "two proxies and two upstreams"
    assert [pid for pid in pids if _running(pid)] == [], "every registry the demo started is stopped"
