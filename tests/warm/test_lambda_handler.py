"""The re-warming handler's pure parts: which shard an event asks for, the catalogue file, its log lines."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import stamina

from components.warm.errors import BlobNotKept, TransportError
from components.warm.lambda_handler import (
    CATALOGUE_FILE,
    PackagedCatalogue,
    PackagedImage,
    ecr_login,
    load_catalogue,
    render_catalogue,
    retry_logger,
    shard_of,
)

ACCOUNT = "123456789012"
REGION = "eu-west-1"
REGISTRY_URL = f"https://{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/docker-hub"


def image(n: int, size: int | None = None) -> PackagedImage:
    return PackagedImage(
        source=f"docker.io/library/app{n:04d}:1",
        registry_url=REGISTRY_URL,
        repository=f"library/app{n:04d}",
        tag="1",
        size_bytes=size,
    )


def test_the_event_must_match_the_packaged_shards() -> None:
    catalogue = PackagedCatalogue(shards=((image(1), image(2)),))
    assert shard_of(catalogue, {"shard": 0, "of": 1}) == catalogue.shards[0]
    for event in ({"shard": 1, "of": 1}, {"shard": 0, "of": 2}):
        with pytest.raises(ValueError, match="run `pulumi up` so the schedules and the code agree"):
            shard_of(catalogue, event)
    with pytest.raises(ValueError):
        shard_of(catalogue, {"shard": -1, "of": 1})


def test_a_rendered_catalogue_loads_back_the_same(tmp_path: Path) -> None:
    catalogue = PackagedCatalogue(shards=((image(1),), (image(2, 10), image(3))))
    (tmp_path / CATALOGUE_FILE).write_text(render_catalogue(catalogue))
    assert load_catalogue(tmp_path / CATALOGUE_FILE) == catalogue
    assert render_catalogue(catalogue) == render_catalogue(load_catalogue(tmp_path / CATALOGUE_FILE))


def test_retries_are_logged_as_json_lines_and_waiting_for_a_store_is_quiet() -> None:
    out = io.StringIO()
    log = retry_logger(out)
    for error in (TransportError("GET https://registry/v2/: connection reset"), BlobNotKept("not yet")):
        log(stamina.instrumentation.RetryDetails("get", (), {}, 2, 0.44, 1.0, error))
    (line,) = out.getvalue().splitlines()
    assert json.loads(line) == {
        "retry": 2,
        "wait": 0.4,
        "reason": "GET https://registry/v2/: connection reset",
    }


def test_ecr_login_is_one_credential_source_per_region_and_none_off_ecr() -> None:
    docker_hub, quay = ecr_login(REGISTRY_URL), ecr_login(REGISTRY_URL.replace("docker-hub", "quay"))
    assert docker_hub is not None and docker_hub is quay
    assert ecr_login(REGISTRY_URL.replace("eu-west-1", "us-east-1")) is not docker_hub
    assert ecr_login("https://127.0.0.1:5000/docker-hub") is None
