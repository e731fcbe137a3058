"""The scheduled re-warming handler, in-process, against the ECR-like stand-in (HTTPS, ECR's login).

ECR's GetAuthorizationToken is replaced by a credential source that hands out the stand-in's token.
"""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components.warm.auth import CredentialSource
from components.warm.lambda_handler import CredentialsFor, PackagedCatalogue, PackagedImage, ShardFailed, run
from standins.ecr_like import EcrLike, ecr_like
from standins.faulty_proxy import Fault, faulty_proxy
from standins.seed import SeededImage, seed_sample_images
from tests.registry.conftest import Seeded

PREFIX = "docker-hub"


@dataclass
class Stand:
    front: EcrLike
    images: list[SeededImage]
    logins: list[str]

    @property
    def registry_url(self) -> str:
        return f"https://{self.front.prefix_url(PREFIX)}"

    def packaged(self, image: SeededImage, tag: str | None = None) -> PackagedImage:
        tag = tag or image.tag
        return PackagedImage(
            source=f"docker.io/{image.repository}:{tag}",
            registry_url=self.registry_url,
            repository=image.repository,
            tag=tag,
        )

    def credentials_for(self, token: str | None = None) -> CredentialsFor:
        def login_for(url: str) -> CredentialSource | None:
            self.logins.append(url)
            return lambda: ("AWS", token or self.front.token)

        return login_for


@pytest.fixture
def stand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stand]:
    with ecr_like({PREFIX: "docker.io"}, tmp_path / "registries") as front:
        monkeypatch.setenv("SSL_CERT_FILE", str(front.ca_file))
        yield Stand(front, seed_sample_images(front.upstreams[PREFIX].url), [])


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_each_shard_warms_its_images_and_the_cache_then_serves_them_alone(stand: Stand) -> None:
    packaged = [stand.packaged(image) for image in stand.images]
    catalogue = PackagedCatalogue(shards=(tuple(packaged[:2]), tuple(packaged[2:])))
    outputs = []
    for shard in (0, 1):
        out = io.StringIO()
        summary = run({"shard": shard, "of": 2}, catalogue, credentials_for=stand.credentials_for(), out=out)
        assert summary["failed"] == [] and summary["warmed"] == len(catalogue.shards[shard])
        assert summary["bytes"] > 0
        outputs.append(lines(out))
    warmed = {line["image"]: line for output in outputs for line in output if "image" in line}
    assert sorted(warmed) == sorted(p.source for p in packaged)
    by_source = {f"docker.io/{image.repository}:{image.tag}": image for image in stand.images}
    assert all(line["digest"] == by_source[str(name)].digest for name, line in warmed.items())
    assert stand.logins == [stand.front.url, stand.front.url], "one ECR login per invocation (per origin)"

    stand.front.upstreams[PREFIX].stop()  # the cache alone must now serve every image
    again = run(
        {"shard": 0, "of": 1},
        PackagedCatalogue(shards=(tuple(packaged),)),
        credentials_for=stand.credentials_for(),
        out=io.StringIO(),
    )
    assert again["failed"] == []


def test_a_missing_tag_fails_the_invocation_after_the_rest_are_warmed(stand: Stand) -> None:
    good = [stand.packaged(image) for image in stand.images[:2]]
    gone = stand.packaged(stand.images[0], tag="deleted-upstream")
    catalogue = PackagedCatalogue(shards=((gone, *good),))
    out = io.StringIO()
    with pytest.raises(
        ShardFailed, match=r"1 of 3 images failed to warm: docker.io/demo/oci-app:deleted-upstream"
    ):
        run({"shard": 0, "of": 1}, catalogue, credentials_for=stand.credentials_for(), out=out)
    reported = {line["image"]: line for line in lines(out) if "image" in line}
    assert [reported[p.source]["ok"] for p in good] == [True, True]
    assert reported[gone.source]["ok"] is False and "deleted-upstream" in str(reported[gone.source]["error"])
    (summary,) = [line["summary"] for line in lines(out) if "summary" in line]
    assert summary == {**summary, "warmed": 2, "failed": [gone.source]}


def test_a_refused_login_fails_every_image_and_prints_no_token(stand: Stand) -> None:
    catalogue = PackagedCatalogue(shards=(tuple(stand.packaged(image) for image in stand.images),))
    out = io.StringIO()
    with pytest.raises(ShardFailed, match=f"{len(stand.images)} of {len(stand.images)} images failed"):
        run({"shard": 0, "of": 1}, catalogue, credentials_for=stand.credentials_for("wrong-token"), out=out)
    assert "wrong-token" not in out.getvalue() and stand.front.token not in out.getvalue()


def test_images_unfinished_at_the_deadline_are_reported_failed(stand: Stand) -> None:
    catalogue = PackagedCatalogue(shards=(tuple(stand.packaged(image) for image in stand.images),))
    out = io.StringIO()
    with pytest.raises(ShardFailed):
        run({"shard": 0, "of": 1}, catalogue, credentials_for=stand.credentials_for(), deadline=0.0, out=out)
    errors = {line["error"] for line in lines(out) if "image" in line}
    assert errors == {"not finished before the deadline"}


class StopsAfter(io.StringIO):
    """The function's log, which sends the process SIGTERM once `count` images were logged, as Lambda
    does when it shuts an execution environment down mid-invocation."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def write(self, text: str) -> int:
        written = super().write(text)
        if '"image"' in text and len([line for line in lines(self) if "image" in line]) == self.count:
            os.kill(os.getpid(), signal.SIGTERM)
        return written


@pytest.fixture
def restored_handlers() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_sigterm_midway_logs_what_finished_and_names_what_did_not(
    seeded: Seeded, restored_handlers: None
) -> None:
    held = "demo/multi-arch"
    with faulty_proxy(
        seeded.pair.cache.url, [Fault(rf"GET /v2/{held}/blobs/", "stall", times=None, delay=300)]
    ) as proxy:
        packaged = tuple(
            PackagedImage(
                source=image.reference(seeded.pair.upstream.address),
                registry_url=proxy.url,
                repository=image.repository,
                tag=image.tag,
            )
            for image in seeded.images
        )
        out = StopsAfter(len(packaged) - 1)
        with pytest.raises(ShardFailed, match=f"1 of {len(packaged)} images failed to warm: .*/{held}:"):
            run(
                {"shard": 0, "of": 1},
                PackagedCatalogue(shards=(packaged,)),
                credentials_for=lambda _: None,
                out=out,
            )
    reported = {line["image"]: line for line in lines(out) if "image" in line}
    assert sorted(reported) == sorted(p.source for p in packaged)
    stopped = [name for name, line in reported.items() if not line["ok"]]
    assert [reported[name]["error"] for name in stopped] == [
        "not finished: the function was stopped (SIGTERM)"
    ]
    (summary,) = [line["summary"] for line in lines(out) if "summary" in line]
    assert summary["warmed"] == len(packaged) - 1
