"""The ECR-like stand-in answers as ECR does: its URL layout, its Basic login, over HTTPS."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from standins.ecr_like import EcrLike, basic_credential, ecr_like
from standins.seed import DOCKER_LIST, SeededImage, seed_sample_images


@pytest.fixture
def ecr(tmp_path: Path) -> Iterator[tuple[EcrLike, SeededImage]]:
    with ecr_like({"docker-hub": "docker.io", "quay": "quay.io"}, tmp_path) as front:
        busybox = next(i for i in seed_sample_images(front.upstreams["docker-hub"].url) if i.tag == "1.36")
        yield front, busybox


def client(ecr: EcrLike, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": basic_credential(token)} if token else {}
    return httpx.Client(
        base_url=ecr.url,
        verify=ssl.create_default_context(cafile=str(ecr.ca_file)),
        headers=headers,
        timeout=30,
    )


def test_without_the_login_it_answers_401_with_a_basic_challenge(ecr: tuple[EcrLike, SeededImage]) -> None:
    front, _ = ecr
    for token in (None, "wrong"):
        with client(front, token) as http:
            answer = http.get("/v2/docker-hub/library/busybox/manifests/1.36")
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith('Basic realm="https://')


def test_each_prefix_routes_to_its_own_proxy_and_streams_what_it_serves(
    ecr: tuple[EcrLike, SeededImage],
) -> None:
    front, busybox = ecr
    with client(front, front.token) as http:
        assert http.get("/v2/").status_code == 200
        manifest = http.get("/v2/docker-hub/library/busybox/manifests/1.36", headers={"Accept": DOCKER_LIST})
        assert manifest.status_code == 200
        assert manifest.headers["docker-content-digest"] == busybox.digest
        head = http.head(f"/v2/docker-hub/library/busybox/blobs/{busybox.blobs[0]}")
        assert head.status_code == 200 and int(head.headers["content-length"]) > 0
        assert http.get("/v2/quay/library/busybox/manifests/1.36").status_code == 404, (
            "quay's upstream has none"
        )
        assert http.get("/v2/ghcr/x/manifests/1").status_code == 404, "no rule for that prefix"
    assert ("GET", "/v2/docker-hub/library/busybox/manifests/1.36", 200) in front.requests()


def test_a_stopped_proxy_answers_502_and_a_stopped_front_answers_nothing(
    ecr: tuple[EcrLike, SeededImage],
) -> None:
    front, _ = ecr
    front.proxies["quay"].stop()
    with client(front, front.token) as http:
        assert http.get("/v2/quay/a/manifests/1").status_code == 502
    front.stop()
    with client(front, front.token) as http, pytest.raises(httpx.ConnectError):
        http.get("/v2/")


def test_redirects_to_a_proxy_path_come_back_under_the_prefix() -> None:
    from standins.ecr_like import _Handler

    base = "http://127.0.0.1:5000"
    assert _Handler._outside_location("quay", base, f"{base}/v2/a/blobs/x") == "/v2/quay/a/blobs/x"
    assert _Handler._outside_location("quay", base, "/v2/a/blobs/x") == "/v2/quay/a/blobs/x"
    assert _Handler._outside_location("quay", base, "https://s3.example/layer") == "https://s3.example/layer"
