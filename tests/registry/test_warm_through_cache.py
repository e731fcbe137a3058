"""Warm through the ECR-like cache, take the upstreams away, and pull everything back with skopeo.

The cache is `standins.ecr_like`: HTTPS with a throwaway CA, ECR's Basic `AWS:<token>` login
and its `/v2/<prefix>/<repository>/...` layout, a distribution proxy behind each prefix. Only
the fault tests talk plain HTTP to a bare proxy, because their faults must sit between the
warmer and the cache, and the stand-in has no place for them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from standins.demo import (
    PREFIXES,
    DemoImage,
    mirror_arguments,
    skopeo_cert_dir,
    skopeo_pull,
    warm_environment,
    write_catalogue,
)
from standins.ecr_like import USERNAME, ecr_like
from standins.faulty_proxy import Fault, faulty_proxy
from standins.seed import seed_many
from tests.registry.conftest import ROOT, EcrSeeded, Seeded, run_warm

# Python prints what its process wrote to storage as it exits (Linux's /proc/self/io).
WARM_COUNTING_WRITES = (
    "import atexit, runpy, sys\n"
    "def written():\n"
    "    fields = dict(line.split(': ') for line in open('/proc/self/io').read().splitlines())\n"
    "    print('write_bytes', fields['write_bytes'], file=sys.stderr)\n"
    "atexit.register(written)\n"
    "sys.argv = ['components', *sys.argv[1:]]\n"
    "runpy.run_module('components', run_name='__main__')\n"
)


def test_cache_serves_every_tag_platform_and_blob_after_the_upstreams_are_gone(
    ecr_seeded: EcrSeeded, tmp_path: Path
) -> None:
    warm = ecr_seeded.warm("--concurrency", "8")
    assert warm.returncode == 0, warm.stdout + warm.stderr
    assert "warmed 5 of 5 images" in warm.stdout

    ecr_seeded.stop_upstreams()
    ecr = ecr_seeded.ecr
    cert_dir = skopeo_cert_dir(ecr, tmp_path)
    login = ["--creds", f"{USERNAME}:{ecr.token}", "--cert-dir", str(cert_dir)]
    for item in ecr_seeded.images:
        raw = subprocess.run(
            ["skopeo", "inspect", "--raw", *login, f"docker://{item.cached(ecr)}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert raw.returncode == 0, raw.stderr
        assert item.image.media_type in raw.stdout or '"schemaVersion": 2' in raw.stdout
        pulled: set[str] = set()
        for platform in item.image.platforms:
            destination = tmp_path / item.prefix / item.image.repository / platform.replace("/", "_")
            pulled |= skopeo_pull(ecr, item.cached(ecr), platform, destination, cert_dir)
        assert pulled == set(item.image.blobs), item.source
        with ecr_seeded.client() as cache:
            for digest in item.image.blobs:
                assert cache.head(ecr_seeded.path(item, "blobs", digest)).status_code == 200


def test_the_warm_uses_ecr_layout_and_login(ecr_seeded: EcrSeeded) -> None:
    warm = ecr_seeded.warm()
    assert warm.returncode == 0, warm.stdout + warm.stderr
    answered = ecr_seeded.ecr.requests()
    paths = [path for _, path, _ in answered]
    outside = [path for path in paths if not path.startswith(tuple(f"/v2/{prefix}/" for prefix in PREFIXES))]
    assert outside == [], "every request is under /v2/<prefix>/, as ECR lays a cache out"
    for item in ecr_seeded.images:
        tag_path = ecr_seeded.path(item, "manifests", item.image.tag)
        assert ("GET", tag_path, 200) in answered, f"{item.source} is asked for under its prefix"
        assert any(path.startswith(ecr_seeded.path(item, "blobs", "")) for path in paths)

    # The stand-in answers 401 to any request without `Basic base64(AWS:<token>)`, so every other
    # answer went to a request that carried the login. The client asks first without one, as
    # docker does, and logs in on the challenge: each refused request must come back, served.
    refused = [(method, path) for method, path, status in answered if status == 401]
    assert refused, "the warm met the login challenge"
    served = [(method, path) for method, path, status in answered if status != 401]
    assert all(status < 400 for _, _, status in answered if status != 401), answered
    for request in refused:
        assert request in served, f"{request} was not sent again with the login"


def test_without_the_login_every_image_fails_named_and_nothing_is_served(ecr_seeded: EcrSeeded) -> None:
    anonymous = ecr_seeded.warm(environment=warm_environment(ecr_seeded.ecr, login=False))
    assert anonymous.returncode == 1
    assert "warmed 0 of 5 images" in anonymous.stdout
    for item in ecr_seeded.images:
        assert (
            f"failed: {item.source}: the registry asks for a login, and none is configured"
            in anonymous.stdout
        )
    assert {status for _, _, status in ecr_seeded.ecr.requests()} == {401}

    wrong = ecr_seeded.warm(
        environment={**warm_environment(ecr_seeded.ecr), "REGISTRY_PASSWORD": "not-the-token"}
    )
    assert wrong.returncode == 1
    assert "warmed 0 of 5 images" in wrong.stdout
    assert "still unauthorized after logging in" in wrong.stdout
    assert "not-the-token" not in wrong.stdout + wrong.stderr, "no secret in a message"
    assert {status for _, _, status in ecr_seeded.ecr.requests()} == {401}


def test_without_the_ca_the_warm_refuses_the_certificate(ecr_seeded: EcrSeeded) -> None:
    untrusting = {k: v for k, v in warm_environment(ecr_seeded.ecr).items() if k != "SSL_CERT_FILE"}
    warm = ecr_seeded.warm(environment=untrusting)
    assert warm.returncode == 1
    assert "warmed 0 of 5 images" in warm.stdout
    assert "its TLS certificate is not trusted (see SSL_CERT_FILE)" in warm.stdout
    assert ecr_seeded.ecr.requests() == [], "no request, with or without the login, got through"


def test_the_warm_writes_nothing_to_disk(ecr_seeded: EcrSeeded) -> None:
    """Blobs are streamed and discarded: the warm process leaves storage alone (the lock aside)."""
    if not Path("/proc/self/io").exists():
        pytest.skip("/proc/self/io is not available here, so a process's writes cannot be counted")
    command = [sys.executable, "-c", WARM_COUNTING_WRITES, "warm", "--images", str(ecr_seeded.catalogue)]
    warm = subprocess.run(
        [*command, *mirror_arguments(ecr_seeded.ecr)],
        cwd=ROOT,
        env={**warm_environment(ecr_seeded.ecr), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert warm.returncode == 0, warm.stdout + warm.stderr
    assert "warmed 5 of 5 images" in warm.stdout
    assert re.search(r"^write_bytes 0$", warm.stderr, re.MULTILINE), warm.stderr


def test_attestations_are_skipped_unless_asked(ecr_seeded: EcrSeeded) -> None:
    warm = ecr_seeded.warm()
    assert warm.returncode == 0, warm.stdout + warm.stderr
    multi = ecr_seeded.image("demo/multi-arch")
    attestation = multi.image.manifests[-1]
    ecr_seeded.stop_upstreams()
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    with ecr_seeded.client() as cache:
        for child in multi.image.manifests[:-1]:
            assert cache.head(ecr_seeded.path(multi, "manifests", child), headers=accept).status_code == 200
        assert cache.head(ecr_seeded.path(multi, "manifests", attestation), headers=accept).status_code != 200


def test_platform_selection_and_lock(ecr_seeded: EcrSeeded, tmp_path: Path) -> None:
    lock = tmp_path / "images.warm-state.yaml"
    warm = ecr_seeded.warm("--platform", "linux/amd64", "--state", str(lock))
    assert warm.returncode == 0, warm.stdout + warm.stderr
    locked = yaml.safe_load(lock.read_text())
    assert list(locked) == sorted(locked)
    busybox = ecr_seeded.image("library/busybox")
    assert locked[busybox.source]["platforms"] == ["linux/amd64"]
    assert locked[busybox.source]["digest"] == busybox.image.digest
    exporter = ecr_seeded.image("prometheus/node-exporter")
    assert locked[exporter.source]["digest"] == exporter.image.digest, "the second upstream is locked too"
    first = lock.read_text()
    again = ecr_seeded.warm("--platform", "linux/amd64", "--state", str(lock))
    assert again.returncode == 0, again.stdout + again.stderr
    assert lock.read_text() == first, "the lock is stable"


def test_rewarm_with_unchanged_lock_makes_no_blob_requests(ecr_seeded: EcrSeeded, tmp_path: Path) -> None:
    lock = tmp_path / "lock.yaml"
    first = ecr_seeded.warm("--state", str(lock))
    assert first.returncode == 0, first.stdout + first.stderr
    blobs_first = sum("/blobs/" in path for _, path, _ in ecr_seeded.ecr.requests())
    assert blobs_first > 0
    again = ecr_seeded.warm("--state", str(lock))
    assert again.returncode == 0, again.stdout + again.stderr
    blobs_again = sum("/blobs/" in path for _, path, _ in ecr_seeded.ecr.requests())
    assert blobs_again == blobs_first, "no blob request on a no-op re-warm"
    assert again.stdout.count("unchanged since the state") == len(ecr_seeded.images)
    assert re.search(r"warmed 5 of 5 images, 0 bytes", again.stdout), again.stdout


def test_faults_are_retried_and_the_warm_completes(seeded: Seeded) -> None:
    """Plain HTTP to a bare proxy: the faults must sit between the warmer and the cache it talks to
    (distribution's proxy turns upstream errors into 404 MANIFEST_UNKNOWN, so faults behind it never
    reach the warmer), and the ECR-like front has no place for them. ECR answers its own throttling
    (429) and 5xx to the client the same way this proxy does."""
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
    """Plain HTTP to a bare proxy, for the reason the test above gives."""
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


def test_bad_input_exits_2_before_any_request(tmp_path: Path) -> None:
    catalogue = tmp_path / "images.yaml"
    catalogue.write_text("- docker.io/library/busybox:1.36\n")
    missing_mirror = run_warm("--images", str(catalogue), "--mirror", "quay.io=https://127.0.0.1:1/quay")
    assert missing_mirror.returncode == 2
    assert "no --mirror or --copy for registry 'docker.io'" in missing_mirror.stderr
    remote_http = run_warm(
        "--images", str(catalogue), "--mirror", "docker.io=http://10.1.2.3:5000", "--plain-http"
    )
    assert remote_http.returncode == 2
    assert "not a loopback address" in remote_http.stderr
    digest_only = tmp_path / "digest.yaml"
    digest_only.write_text(f"- docker.io/demo/oci-app@sha256:{'a' * 64}\n")
    bad = run_warm("--images", str(digest_only), "--mirror", "docker.io=https://127.0.0.1:1/docker-hub")
    assert bad.returncode == 2
    assert "names a digest but no tag" in bad.stderr


def test_a_layer_shared_by_many_repositories_is_kept_in_each(tmp_path: Path) -> None:
    """distribution's proxy stores a digest for one repository at a time; the warm must still leave every
    repository holding the layer they share, each served from the cache's own storage."""
    with ecr_like(PREFIXES, tmp_path / "registries") as ecr:
        images = [
            DemoImage("docker-hub", image)
            for image in seed_many(ecr.upstreams["docker-hub"].url, 16, layer_size=8 * 1024)
        ]
        many = EcrSeeded(ecr, images, write_catalogue(images, tmp_path / "images.yaml"))
        warm = many.warm("--concurrency", "8")
        assert warm.returncode == 0, warm.stdout + warm.stderr
        many.stop_upstreams()
        with many.client() as cache:
            for item in images:
                for digest in item.image.blobs:
                    response = cache.head(many.path(item, "blobs", digest))
                    assert response.status_code == 200, (item.source, digest)
                    assert response.headers["etag"] == f'"{digest}"', "served from the cache's own storage"
