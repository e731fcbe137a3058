"""Warm through a real pull-through cache, take the upstream away, and pull everything with skopeo."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from standins.faulty_proxy import Fault, faulty_proxy
from standins.registries import upstream_and_cache
from standins.seed import seed_many
from tests.registry.conftest import Seeded, run_warm


def skopeo_copy(reference: str, destination: Path, platform: str | None = None) -> None:
    command = ["skopeo"]
    if platform is not None:
        os_name, arch, *variant = platform.split("/")
        command += ["--override-os", os_name, "--override-arch", arch]
        command += ["--override-variant", variant[0]] if variant else []
    destination.mkdir(parents=True)
    command += ["copy", "--src-tls-verify=false", f"docker://{reference}", f"dir:{destination}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"skopeo could not pull {reference} ({platform}): {result.stderr}"


def test_cache_serves_every_tag_platform_and_blob_after_the_upstream_is_gone(
    seeded: Seeded, tmp_path: Path
) -> None:
    warm = run_warm(
        "--images", str(seeded.catalogue), "--mirror", seeded.mirror, "--plain-http", "--concurrency", "8"
    )
    assert warm.returncode == 0, warm.stdout + warm.stderr
    assert "warmed 4 of 4 images" in warm.stdout

    seeded.pair.upstream.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{seeded.pair.upstream.url}/v2/", timeout=2)

    cache = seeded.pair.cache
    for image in seeded.images:
        reference = image.reference(cache.address)
        raw = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{reference}"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert image.media_type in raw.stdout or '"schemaVersion": 2' in raw.stdout
        for platform in image.platforms:
            skopeo_copy(
                reference,
                tmp_path / image.repository.replace("/", "_") / platform.replace("/", "_"),
                platform,
            )
        for digest in image.blobs:
            assert httpx.head(f"{cache.url}/v2/{image.repository}/blobs/{digest}").status_code == 200


def test_attestations_are_skipped_unless_asked(seeded: Seeded) -> None:
    warm = run_warm("--images", str(seeded.catalogue), "--mirror", seeded.mirror, "--plain-http")
    assert warm.returncode == 0
    multi = next(i for i in seeded.images if i.repository == "demo/multi-arch")
    attestation = multi.manifests[-1]
    seeded.pair.upstream.stop()
    cache = seeded.pair.cache.url
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    assert (
        httpx.head(f"{cache}/v2/demo/multi-arch/manifests/{multi.manifests[0]}", headers=accept).status_code
        == 200
    )
    assert (
        httpx.head(f"{cache}/v2/demo/multi-arch/manifests/{attestation}", headers=accept).status_code != 200
    )


def test_platform_selection_and_lock(seeded: Seeded, tmp_path: Path) -> None:
    lock = tmp_path / "images.lock.yaml"
    warm = run_warm(
        "--images",
        str(seeded.catalogue),
        "--mirror",
        seeded.mirror,
        "--plain-http",
        "--platform",
        "linux/amd64",
        "--lock",
        str(lock),
    )
    assert warm.returncode == 0, warm.stderr
    locked = yaml.safe_load(lock.read_text())
    assert list(locked) == sorted(locked)
    busybox = locked[f"{seeded.pair.upstream.address}/library/busybox:1.36"]
    assert busybox["platforms"] == ["linux/amd64"]
    assert busybox["digest"] == next(i.digest for i in seeded.images if i.repository == "library/busybox")
    first = lock.read_text()
    assert (
        run_warm(
            "--images",
            str(seeded.catalogue),
            "--mirror",
            seeded.mirror,
            "--plain-http",
            "--platform",
            "linux/amd64",
            "--lock",
            str(lock),
        ).returncode
        == 0
    )
    assert lock.read_text() == first, "the lock is stable"


def test_rewarm_with_unchanged_lock_makes_no_blob_requests(seeded: Seeded, tmp_path: Path) -> None:
    lock = tmp_path / "lock.yaml"
    with faulty_proxy(seeded.pair.cache.url) as counting:
        mirror = f"{seeded.pair.upstream.address}={counting.url}"
        first = run_warm(
            "--images", str(seeded.catalogue), "--mirror", mirror, "--plain-http", "--lock", str(lock)
        )
        assert first.returncode == 0, first.stderr
        blobs_first = counting.count("/blobs/")
        assert blobs_first > 0
        again = run_warm(
            "--images", str(seeded.catalogue), "--mirror", mirror, "--plain-http", "--lock", str(lock)
        )
        assert again.returncode == 0
        assert counting.count("/blobs/") == blobs_first, "no blob request on a no-op re-warm"
        assert "unchanged since the lock" in again.stdout


def test_faults_are_retried_and_the_warm_completes(seeded: Seeded) -> None:
    """Faults sit in front of the cache the warmer talks to: distribution's proxy turns upstream errors
    into 404 MANIFEST_UNKNOWN, so faults behind it would never reach the warmer. ECR answers its own
    throttling (429) and 5xx to the client the same way this proxy does."""
    faults = [
        Fault(r"GET /v2/demo/oci-app/manifests/v1", "429", times=1, retry_after=0.3),
        Fault(r"GET /v2/demo/docker-app/manifests/v1", "503", times=2),
        Fault(r"GET /v2/demo/multi-arch/blobs/", "reset", times=2),
        Fault(r"GET /v2/library/busybox/", "slow", times=3, delay=0.3),
    ]
    with faulty_proxy(seeded.pair.cache.url, faults) as proxy:
        mirror = f"{seeded.pair.upstream.address}={proxy.url}"
        warm = run_warm(
            "--images", str(seeded.catalogue), "--mirror", mirror, "--plain-http", "--retry-wait", "0.05"
        )
    assert warm.returncode == 0, warm.stdout + warm.stderr
    assert "warmed 4 of 4 images" in warm.stdout
    assert all(fault.hits == fault.times for fault in faults), [(f.pattern, f.hits) for f in faults]
    assert "retry 1 in 0.3s: GET " in warm.stderr and "oci-app/manifests/v1: 429" in warm.stderr, (
        "the 429's Retry-After, said plainly"
    )
    assert "stamina.retry_scheduled" not in warm.stderr


def test_an_image_whose_retries_run_out_is_named_and_the_rest_are_warmed(seeded: Seeded) -> None:
    faults = [Fault(r"/v2/demo/docker-app/manifests/", "503", times=None)]
    with faulty_proxy(seeded.pair.cache.url, faults) as proxy:
        mirror = f"{seeded.pair.upstream.address}={proxy.url}"
        warm = run_warm(
            "--images",
            str(seeded.catalogue),
            "--mirror",
            mirror,
            "--plain-http",
            "--attempts",
            "3",
            "--retry-wait",
            "0.05",
        )
    assert warm.returncode == 1
    assert "warmed 3 of 4 images" in warm.stdout
    assert f"failed: {seeded.pair.upstream.address}/demo/docker-app:v1" in warm.stdout
    assert "503" in warm.stdout


def test_bad_input_exits_2(seeded: Seeded, tmp_path: Path) -> None:
    missing_mirror = run_warm(
        "--images", str(seeded.catalogue), "--mirror", "quay.io=http://127.0.0.1:1", "--plain-http"
    )
    assert missing_mirror.returncode == 2
    assert "no --mirror for registry" in missing_mirror.stderr
    remote_http = run_warm(
        "--images",
        str(seeded.catalogue),
        "--mirror",
        f"{seeded.pair.upstream.address}=http://10.1.2.3:5000",
        "--plain-http",
    )
    assert remote_http.returncode == 2
    assert "not a loopback address" in remote_http.stderr
    digest_only = tmp_path / "digest.yaml"
    digest_only.write_text(f"- {seeded.pair.upstream.address}/demo/oci-app@{seeded.images[0].digest}\n")
    bad = run_warm("--images", str(digest_only), "--mirror", seeded.mirror, "--plain-http")
    assert bad.returncode == 2
    assert "names a digest but no tag" in bad.stderr


def test_a_layer_shared_by_many_repositories_is_kept_in_each(tmp_path: Path) -> None:
    """distribution's proxy stores a digest for one repository at a time; the warm must still leave every
    repository holding the layer they share, each served from the cache's own storage."""
    with upstream_and_cache(tmp_path / "registries") as pair:
        images = seed_many(pair.upstream.url, 16, layer_size=8 * 1024)
        catalogue = tmp_path / "images.yaml"
        catalogue.write_text("".join(f"- {image.reference(pair.upstream.address)}\n" for image in images))
        mirror = f"{pair.upstream.address}={pair.cache.url}"
        warm = run_warm("--images", str(catalogue), "--mirror", mirror, "--plain-http", "--concurrency", "8")
        assert warm.returncode == 0, warm.stdout + warm.stderr
        pair.upstream.stop()
        with httpx.Client(base_url=pair.cache.url) as cache:
            for image in images:
                for digest in image.blobs:
                    response = cache.head(f"/v2/{image.repository}/blobs/{digest}")
                    assert response.status_code == 200, (image.repository, digest)
                    assert response.headers["etag"] == f'"{digest}"', "served from the cache's storage"
