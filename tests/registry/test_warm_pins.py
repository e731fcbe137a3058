"""`warm` through a real pull-through cache (distribution in proxy mode), as users run it: the selector
lock's digests checked against what the cache serves, workload pins it does not hold, and the cosign
signature of an entry with `signatures: true`."""

from __future__ import annotations

from pathlib import Path

import httpx

from components.model.catalogue import load_catalogue
from components.model.image_lock import LockedImage, LockedTag, lock_path_for, render_lock
from components.warm.signatures import digest_tag
from standins.registries import upstream_and_cache
from standins.seed import OCI_INDEX, OCI_MANIFEST
from tests.registry.conftest import run_warm
from tests.registry.test_lock import Upstream
from tests.registry.test_lock_signatures import push_cosign_signature

STALE = "sha256:" + "f" * 64

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app}}
spec:
  template:
    spec:
      containers:
        - {{name: held, image: "{held}"}}
        - {{name: uncached, image: "{uncached}"}}
"""


def test_a_stale_lock_and_an_uncached_workload_pin_exit_1_with_pin_lines(tmp_path: Path) -> None:
    with upstream_and_cache(tmp_path / "registries") as pair:
        upstream = Upstream(pair.upstream)
        served = upstream.push("team/app", "1.0")
        other = upstream.push("team/app", "2.0", revision=2)
        upstream.pusher.close()
        name = f"{pair.upstream.address}/team/app"
        images = tmp_path / "images.yaml"
        images.write_text(f"- image: {name}\n  allow: '1\\.0'\n")
        selector = load_catalogue(images)[0].selector
        assert selector is not None
        locked = LockedImage(name, selector.describe(), (LockedTag("1.0", STALE, "allow '1\\.0'"),))
        lock_path_for(images).write_text(render_lock({name: locked}))
        manifests = tmp_path / "rendered.yaml"
        manifests.write_text(DEPLOYMENT.format(held=f"{name}:1.0@{served}", uncached=f"{name}@{other}"))

        warm = run_warm(
            "--images",
            str(images),
            "--mirror",
            f"{pair.upstream.address}={pair.cache.url}",
            "--plain-http",
            "--manifests",
            str(manifests),
        )

    assert warm.returncode == 1, warm.stdout + warm.stderr
    assert f"ok      {name}:1.0 {served}" in warm.stdout, "the lock's tag is warmed by its tag"
    assert f"pin:    {name}:1.0: the lock says {STALE}, the cache serves {served}" in warm.stdout
    assert "run it again and commit the lock" in warm.stdout
    assert f"pin:    {name}@{other}: the cache does not hold this digest" in warm.stdout
    assert f"(used at {manifests}:" in warm.stdout
    assert f"{name}:1.0@{served}" not in warm.stdout.split("pin:", 1)[1], "a digest the cache holds is fine"
    assert warm.stdout.count("pin:") == 2


def test_signatures_true_warms_the_cosign_signature_into_the_cache(tmp_path: Path) -> None:
    with upstream_and_cache(tmp_path / "registries") as pair:
        upstream = Upstream(pair.upstream)
        subject = upstream.push("team/signed", "1.0")
        signature = push_cosign_signature(upstream.pusher, "team/signed", subject)
        upstream.pusher.close()
        name = f"{pair.upstream.address}/team/signed"
        images = tmp_path / "images.yaml"
        images.write_text(f"- image: {name}\n  tags: ['1.0']\n  signatures: true\n")

        warm = run_warm(
            "--images", str(images), "--mirror", f"{pair.upstream.address}={pair.cache.url}", "--plain-http"
        )
        assert warm.returncode == 0, warm.stdout + warm.stderr
        assert f"ok      {name}:{digest_tag(subject)}.sig {signature}" in warm.stdout
        assert "warmed 2 of 2 images" in warm.stdout

        pair.upstream.stop()
        answer = httpx.get(
            f"{pair.cache.url}/v2/team/signed/manifests/{digest_tag(subject)}.sig",
            headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"},
            timeout=10,
        )
    assert answer.status_code == 200, "the cache serves the signature without its upstream"
    assert answer.headers["docker-content-digest"] == signature
