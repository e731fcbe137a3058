"""Copy mode through the real CLI (issue 21): images of an upstream the pull-through cache does not
support, read from a distribution registry on loopback (`--upstream`, as for a registry reached
through a mirror) and pushed into the ECR-like front's copy prefix (HTTPS, ECR's login and layout,
a registry that takes pushes behind it).

Every kind of image (single-platform OCI, Docker schema 2, a multi-arch index and a manifest list
whose base layer several repositories share, a cosign signature) is copied byte for byte, and then
pulled back from the copy with the upstream stopped; a re-run uploads nothing and PUTs no manifest;
a tag that moved upstream is pushed anew and reported; a missing tag fails alone.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from components.warm.signatures import digest_tag
from standins.demo import skopeo_cert_dir, skopeo_pull, trusting, warm_environment
from standins.ecr_like import EcrLike, basic_credential, ecr_like
from standins.faulty_proxy import Fault, faulty_proxy
from standins.registries import RunningRegistry, start_registry
from standins.seed import Pusher, SeededImage, digest_of, layer, seed_sample_images
from standins.token_registry import PASSWORD as TOKEN_PASSWORD
from standins.token_registry import USERNAME as TOKEN_USERNAME
from standins.token_registry import TokenRegistry, token_registry
from tests.registry.conftest import run_warm
from tests.registry.test_lock_signatures import push_cosign_signature

UPSTREAM = "nvcr.io"  # as the catalogue names it; its API answers on loopback (--upstream)
PREFIX = "nvcr"
SIGNED = "demo/oci-app"
PUSHES = ("POST", "PATCH", "PUT")


@dataclass
class CopyStand:
    front: EcrLike
    upstream: RunningRegistry
    images: list[SeededImage]
    catalogue: Path
    signature: str  # the digest of the cosign signature of SIGNED

    def reference(self, image: SeededImage, tag: str | None = None) -> str:
        return f"{UPSTREAM}/{image.repository}:{tag or image.tag}"

    def copied(self, image: SeededImage) -> str:
        return f"{self.front.prefix_url(PREFIX)}/{image.repository}:{image.tag}"

    def warm(self, *args: str, catalogue: Path | None = None) -> subprocess.CompletedProcess[str]:
        return run_warm(
            "--images", str(catalogue or self.catalogue),
            "--copy", f"{UPSTREAM}=https://{self.front.prefix_url(PREFIX)}",
            "--upstream", f"{UPSTREAM}={self.upstream.url}", "--plain-http", *args,
            environment=warm_environment(self.front),
        )  # fmt: skip

    def served(self, repository: str, reference: str) -> str | None:
        """The digest the copy serves for `repository:reference`, as a node asking the front sees it."""
        with httpx.Client(
            verify=trusting(self.front), headers={"Authorization": basic_credential(self.front.token)}
        ) as client:
            answer = client.head(
                f"{self.front.url}/v2/{PREFIX}/{repository}/manifests/{reference}",
                headers={
                    "Accept": "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json"
                },
            )
        return answer.headers.get("docker-content-digest") if answer.status_code == 200 else None

    def pushes(self) -> list[tuple[str, str, int]]:
        return [request for request in self.front.requests() if request[0] in PUSHES]


@pytest.fixture
def stand(tmp_path: Path) -> Iterator[CopyStand]:
    upstream = start_registry("nvcr-upstream", tmp_path / "registries")
    try:
        images = seed_sample_images(upstream.url)
        pusher = Pusher(upstream.url)
        try:
            subject = next(image for image in images if image.repository == SIGNED)
            signature = push_cosign_signature(pusher, SIGNED, subject.digest)
        finally:
            pusher.close()
        catalogue = tmp_path / "images.yaml"
        lines = [
            f"- {UPSTREAM}/{image.repository}:{image.tag}\n" for image in images if image.repository != SIGNED
        ]
        lines.append(f"- image: {UPSTREAM}/{SIGNED}\n  tags: [{subject.tag}]\n  signatures: true\n")
        catalogue.write_text("".join(lines))
        with ecr_like({}, tmp_path / "front", copies=[PREFIX]) as front:
            yield CopyStand(front, upstream, images, catalogue, signature)
    finally:
        upstream.stop()


def test_every_kind_is_copied_byte_for_byte_and_pulled_back_with_the_upstream_gone(
    stand: CopyStand, tmp_path: Path
) -> None:
    warm = stand.warm()
    assert warm.returncode == 0, warm.stdout + warm.stderr
    for image in stand.images:
        assert f"ok      {stand.reference(image)} {image.digest} " in warm.stdout
        assert stand.served(image.repository, image.tag) == image.digest, "the upstream's digest, unchanged"
        for manifest in image.manifests:
            assert stand.served(image.repository, manifest) == manifest
    subject = next(image for image in stand.images if image.repository == SIGNED)
    assert stand.served(SIGNED, digest_tag(subject.digest) + ".sig") == stand.signature, (
        "its signature beside it"
    )
    assert f"copied {len(stand.images) + 1} of {len(stand.images) + 1} images" in warm.stdout

    stand.upstream.stop()
    cert_dir = skopeo_cert_dir(stand.front, tmp_path)
    for image in stand.images:
        pulled: set[str] = set()
        for platform in image.platforms:
            destination = tmp_path / "pulled" / image.repository / platform.replace("/", "_")
            pulled |= skopeo_pull(stand.front, stand.copied(image), platform, destination, cert_dir)
        assert pulled == set(image.blobs), image.repository


def test_a_rerun_with_nothing_changed_uploads_no_blob_and_puts_no_manifest(stand: CopyStand) -> None:
    assert stand.warm().returncode == 0
    first = len(stand.pushes())
    assert first > 0, "the first run pushed"
    again = stand.warm()
    assert again.returncode == 0, again.stdout + again.stderr
    assert stand.pushes()[first:] == [], "a copy that is up to date is left alone"
    assert again.stdout.count("(the copy is up to date)") == len(stand.images) + 1


def test_a_layer_shared_between_repositories_is_uploaded_once_and_mounted_into_the_others(
    stand: CopyStand,
) -> None:
    warm = stand.warm()
    assert warm.returncode == 0, warm.stdout + warm.stderr
    base = digest_of(layer("base"))
    holders = [image.repository for image in stand.images if base in image.blobs]
    assert len(holders) >= 3
    uploads = [
        path
        for method, path, _ in stand.pushes()
        if method == "PUT" and f"digest={base}" in path.replace("%3A", ":")
    ]
    assert len(uploads) == 1, "moved from the upstream once"
    mounts = [
        path
        for method, path, status in stand.pushes()
        if method == "POST" and "mount=" in path and status == 201
    ]
    assert len(mounts) == len(holders) - 1, "mounted into the rest"


def test_a_moved_tag_is_pushed_anew_and_reported(stand: CopyStand) -> None:
    assert stand.warm().returncode == 0
    image = next(image for image in stand.images if image.repository == "demo/docker-app")
    pusher = Pusher(stand.upstream.url)
    try:
        moved = pusher.single(
            "demo/docker-app", "v1", "linux/amd64", [layer("base"), layer("docker-app-2")], docker=True
        )
    finally:
        pusher.close()
    again = stand.warm()
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"moved   {stand.reference(image)} {image.digest} -> {moved.digest}" in again.stdout.splitlines()
    assert stand.served("demo/docker-app", "v1") == moved.digest


def test_a_missing_tag_fails_alone_and_the_rest_are_copied(stand: CopyStand, tmp_path: Path) -> None:
    catalogue = tmp_path / "with-missing.yaml"
    catalogue.write_text(stand.catalogue.read_text() + f"- {UPSTREAM}/demo/oci-app:no-such-tag\n")
    warm = stand.warm(catalogue=catalogue)
    assert warm.returncode == 1, warm.stdout + warm.stderr
    assert f"FAILED  {UPSTREAM}/demo/oci-app:no-such-tag: " in warm.stdout
    assert f"copied {len(stand.images) + 1} of {len(stand.images) + 2} images" in warm.stdout
    for image in stand.images:
        assert stand.served(image.repository, image.tag) == image.digest


# The upstream's login, as the command line reads it (`auth.login_variables`).
LOGINS = {"LOCK_NVCR_IO_USERNAME": TOKEN_USERNAME, "LOCK_NVCR_IO_PASSWORD": TOKEN_PASSWORD}


def token_copy_command(
    tmp_path: Path, seeded: list[SeededImage], front: EcrLike, upstream: TokenRegistry
) -> tuple[str, ...]:
    """`warm` copying every seeded image from the token upstream into the front's copy prefix, one attempt each."""
    catalogue = tmp_path / "images.yaml"
    catalogue.write_text("".join(f"- {UPSTREAM}/{image.repository}:{image.tag}\n" for image in seeded))
    return (
        "--images", str(catalogue), "--copy", f"{UPSTREAM}=https://{front.prefix_url(PREFIX)}",
        "--upstream", f"{UPSTREAM}={upstream.url}", "--plain-http", "--attempts", "1",
    )  # fmt: skip


def test_an_upstream_that_wants_a_login_is_read_with_its_own_and_never_gets_the_copys(tmp_path: Path) -> None:
    """Token authentication upstream (distribution with a realm, as nvcr.io has): the upstream's
    login from LOCK_<REGISTRY>_USERNAME/PASSWORD goes to its realm only; the target's login
    (ECR's, here REGISTRY_USERNAME/PASSWORD) never reaches the upstream."""
    seeded: list[SeededImage] = []
    with (
        token_registry(tmp_path / "token", lambda url: seeded.extend(seed_sample_images(url))) as upstream,
        ecr_like({}, tmp_path / "front", copies=[PREFIX]) as front,
    ):
        command = token_copy_command(tmp_path, seeded, front, upstream)
        anonymous = run_warm(*command, environment=warm_environment(front))
        assert anonymous.returncode == 1
        refused = [line for line in anonymous.stdout.splitlines() if line.startswith("FAILED  ")]
        assert len(refused) == len(seeded), anonymous.stdout
        assert all("the token service" in line and "refused access (401)" in line for line in refused)

        warm = run_warm(*command, environment={**warm_environment(front), **LOGINS})
        assert warm.returncode == 0, warm.stdout + warm.stderr
        assert TOKEN_PASSWORD not in warm.stdout + warm.stderr
    basic = {auth for path, auth in upstream.authorizations if auth.startswith("Basic ")}
    assert basic == {"Basic " + base64.b64encode(f"{TOKEN_USERNAME}:{TOKEN_PASSWORD}".encode()).decode()}
    assert {path for path, auth in upstream.authorizations if auth.startswith("Basic ")} == {"/token"}
    assert all(front.token not in auth for _, auth in upstream.authorizations), "the copy's login stays home"


def test_a_token_service_on_another_origin_gets_the_login_only_when_trusted(tmp_path: Path) -> None:
    """A self-hosted GitLab's registry sends its clients to the GitLab host for tokens: the login is
    kept from that other origin (and the failure says so, naming the fix) until the upstream's
    token realm is trusted (LOCK_<REGISTRY>_TOKEN_REALM here; tokenRealm in a stack)."""
    seeded: list[SeededImage] = []
    seed = lambda url: seeded.extend(seed_sample_images(url))  # noqa: E731
    with (
        token_registry(tmp_path / "token", seed, realm_host="localhost") as upstream,
        ecr_like({}, tmp_path / "front", copies=[PREFIX]) as front,
    ):
        command = token_copy_command(tmp_path, seeded, front, upstream)
        realm = f"http://localhost:{upstream.port}"
        withheld = run_warm(*command, environment={**warm_environment(front), **LOGINS})
        assert withheld.returncode == 1
        refused = [line for line in withheld.stdout.splitlines() if line.startswith("FAILED  ")]
        assert len(refused) == len(seeded), withheld.stdout
        assert all(f"the login was not sent to the token service at {realm}" in line for line in refused)
        assert all("tokenRealm" in line for line in refused), "the fix is named"
        assert not any(auth.startswith("Basic ") for _, auth in upstream.authorizations)

        trusted = {**LOGINS, "LOCK_NVCR_IO_TOKEN_REALM": realm}
        warm = run_warm(*command, environment={**warm_environment(front), **trusted})
        assert warm.returncode == 0, warm.stdout + warm.stderr
        assert TOKEN_PASSWORD not in warm.stdout + warm.stderr
        assert {path for path, auth in upstream.authorizations if auth.startswith("Basic ")} == {"/token"}

        plain = {**LOGINS, "LOCK_NVCR_IO_TOKEN_REALM": "http://gitlab.example.com"}
        refused_realm = run_warm(*command, environment={**warm_environment(front), **plain})
        assert refused_realm.returncode == 2
        assert "LOCK_NVCR_IO_TOKEN_REALM: 'http://gitlab.example.com' is not an https:// URL" in (
            refused_realm.stderr
        )


def test_a_5xx_mid_upload_starts_that_blob_again_in_a_new_session(tmp_path: Path) -> None:
    upstream = start_registry("upstream", tmp_path)
    target = start_registry("target", tmp_path)
    try:
        image = seed_sample_images(upstream.url)[0]
        catalogue = tmp_path / "images.yaml"
        catalogue.write_text(f"- {UPSTREAM}/{image.repository}:{image.tag}\n")
        with faulty_proxy(target.url, [Fault(r"^PATCH ", "503", times=1)]) as proxy:
            warm = run_warm(
                "--images", str(catalogue), "--copy", f"{UPSTREAM}={proxy.url}",
                "--upstream", f"{UPSTREAM}={upstream.url}", "--plain-http",
            )  # fmt: skip
            assert warm.returncode == 0, warm.stdout + warm.stderr
            assert "retry 1 " in warm.stderr and ": 503" in warm.stderr, warm.stderr
            assert proxy.count(r"^POST /v2/.*/blobs/uploads/") == len(image.blobs) + 1, "one session more"
        with httpx.Client() as client:
            served = client.head(
                f"{target.url}/v2/{image.repository}/manifests/{image.tag}",
                headers={"Accept": image.media_type},
            )
        assert served.headers["docker-content-digest"] == image.digest
    finally:
        target.stop()
        upstream.stop()


def test_a_layer_past_one_part_goes_up_in_8_mib_parts(stand: CopyStand, tmp_path: Path) -> None:
    pusher = Pusher(stand.upstream.url)
    try:
        big = pusher.single("demo/big", "v1", "linux/amd64", [layer("big", 20 * 1024 * 1024)])
    finally:
        pusher.close()
    catalogue = tmp_path / "big.yaml"
    catalogue.write_text(f"- {UPSTREAM}/demo/big:v1\n")
    warm = stand.warm(catalogue=catalogue)
    assert warm.returncode == 0, warm.stdout + warm.stderr
    assert stand.served("demo/big", "v1") == big.digest
    patches = [path for method, path, _ in stand.pushes() if method == "PATCH" and "/demo/big/" in path]
    layer_parts = -(-len(layer("big", 20 * 1024 * 1024)) // (8 * 1024 * 1024))
    assert layer_parts == 3 and len(patches) == layer_parts + 1, "the layer in three parts, the config in one"
