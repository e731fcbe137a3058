"""A copy upstream on a real containerd: catalogued images come from the copy in ECR, and nothing goes
to the upstream with the ECR login.

The copy holds only the catalogue, so the issue sketched a fallback: the copy as the first `[host]`,
the upstream as `server`. Read in the sources (docs/node-config.md has the links), that sends
kubelet's ECR login upstream:

- kubelet passes ecr-credential-provider's login to the CRI without a `server_address`: the
  provider keys it by the image's own host (kubernetes/cloud-provider-aws,
  cmd/ecr-credential-provider/main.go, v1.29.0 L190-L199, v1.36.1 L290-L299), and kubelet keeps
  only the user name and password (kubernetes/kubernetes, `pluginProvider.provide` in
  pkg/credentialprovider/plugin/plugin.go, `BasicDockerKeyring.Add` in pkg/credentialprovider/keyring.go,
  `PullImage` in pkg/kubelet/kuberuntime/kuberuntime_image.go).
- containerd's CRI then gives that login for every host it is asked about: `ParseAuth` withholds
  it only from a host other than `server_address` (v1.6.20 pkg/cri/server/image_pull.go L179-L192,
  L339-L348; v2.1.9 internal/cri/server/images/image_pull.go L105-L114, L334-L347, local pull
  L489-L495, transfer pull L308 and L866-L883), and every `hosts.toml` host's authorizer, `server`
  included, has that callback (remotes/docker/config/hosts.go, v1.6.20 L156-L157 and L230-L233).
- An authorizer asks for the login when its host answers 401, and on a Bearer challenge sends it
  to whatever token service the challenge names (remotes/docker/authorizer.go, v1.6.20
  `AddResponses` L151-L209, `doBearerAuth` L270-L337); the resolver goes on to the next host after
  a 404 (remotes/docker/resolver.go, v1.6.20 L295-L296; core/remotes/docker/resolver.go, v2.1.9 L323).

So `containerd_hosts` makes the copy `server` as well; the tests marked "sketched" show what the
other file would do. `ctr --user` offers its login to every host, as the CRI does
(cmd/ctr/commands/resolver.go, `staticCredentials`, v2.1.9); the CRI tests call `PullImage` as
kubelet does, and show that a `server_address` naming the copy would keep the login home.
"""

from __future__ import annotations

import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from components.policies.node_userdata import CREDENTIAL_PROVIDER_CONFIG, HOSTS_DIR
from standins.demo import warm_environment
from standins.ecr_like import EcrLike, ecr_like
from standins.registries import RunningRegistry, start_registry
from standins.seed import Pusher, SeededImage, layer
from tests.nodes.containerd import (
    BUILDS,
    CONTAINERD2,
    ConnectRecorder,
    Containerd,
    ContainerdUnavailable,
    connect_recorder,
    running_containerd,
)
from tests.nodes.test_containerd import image_digests, pull_flags, write_node_files
from tests.nodes.test_containerd2_cri import LOCAL_PULL_NOTICE, cri_pull, nodeadm_cri_config
from tests.nodes.token_upstream import token_upstream
from tests.registry.conftest import run_warm

pytestmark = pytest.mark.integration

UPSTREAM = "nvcr.io"
COPY_PREFIX = "nvcr"
CATALOGUED = f"{UPSTREAM}/nvidia/cuda:12.4.1-base"
UNCATALOGUED = f"{UPSTREAM}/nvidia/tritonserver:24.08"


def seed(upstream: RunningRegistry) -> tuple[SeededImage, SeededImage]:
    """One image the catalogue lists and one it does not, sharing a layer, in the upstream."""
    pusher = Pusher(upstream.url)
    try:
        base = layer("cuda-base")
        catalogued = pusher.single("nvidia/cuda", "12.4.1-base", "linux/amd64", [base, layer("cuda")])
        uncatalogued = pusher.single("nvidia/tritonserver", "24.08", "linux/amd64", [base, layer("triton")])
    finally:
        pusher.close()
    return catalogued, uncatalogued


def copy_into_ecr(ecr: EcrLike, upstream: RunningRegistry, image: SeededImage, workdir: Path) -> None:
    """Copy `image` under the copy prefix with this project's warm, as `pulumi up` and the schedule do."""
    catalogue = workdir / "copied.yaml"
    catalogue.write_text(f"- {UPSTREAM}/{image.repository}:{image.tag}\n")
    copy = f"{UPSTREAM}=https://{ecr.prefix_url(COPY_PREFIX)}"
    warm = run_warm(
        "--images", str(catalogue), "--copy", copy, "--upstream", f"{UPSTREAM}={upstream.url}", "--plain-http",
        environment=warm_environment(ecr),
    )  # fmt: skip
    assert warm.returncode == 0, warm.stdout + warm.stderr


@dataclass
class Copied:
    """The ECR-like front with the catalogued image in its copy prefix, and the AL2023 user data's files."""

    ecr: EcrLike
    upstream: RunningRegistry  # stopped once the copy is made
    root: Path  # the user data's files, under a test root
    catalogued: SeededImage
    uncatalogued: SeededImage

    @property
    def hosts_dir(self) -> Path:
        return self.root / HOSTS_DIR.lstrip("/")

    def fallback_hosts_dir(self, base: Path, server: str) -> Path:
        """The file the issue sketched, under `base`: the copy as the only `[host]`, `server` the upstream."""
        written = tomllib.loads((self.hosts_dir / UPSTREAM / "hosts.toml").read_text())
        ((copy_url, table),) = written["host"].items()
        (base / UPSTREAM).mkdir(parents=True, exist_ok=True)
        (base / UPSTREAM / "hosts.toml").write_text(
            f'server = "{server}"\n\n[host."{copy_url}"]\n  capabilities = ["pull", "resolve"]\n'
            f'  override_path = true\n  ca = "{table["ca"]}"\n'
        )
        return base


@dataclass
class Node:
    containerd: Containerd
    recorder: ConnectRecorder
    copied: Copied

    def pull(self, reference: str, hosts_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
        """`ctr image pull` with the ECR login, which `ctr` offers every host as the CRI does."""
        flags = pull_flags(self.containerd)
        login = ["--user", f"AWS:{self.copied.ecr.token}"]
        hosts = str(hosts_dir or self.copied.hosts_dir)
        return self.containerd.ctr("image", "pull", *flags, hosts, *login, reference)


@pytest.fixture(scope="module")
def copied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Copied]:
    """The catalogued image copied into the front's copy prefix; then the upstream stopped."""
    workdir = tmp_path_factory.mktemp("copies")
    with ecr_like({}, workdir / "registries", copies=[COPY_PREFIX]) as ecr:
        upstream = start_registry("upstream-nvcr", workdir)
        try:
            catalogued, uncatalogued = seed(upstream)
            copy_into_ecr(ecr, upstream, catalogued, workdir)
        finally:
            upstream.stop()
        root = workdir / "node-root"
        write_node_files(ecr, root, prefixes={}, copies={COPY_PREFIX: UPSTREAM})
        yield Copied(ecr, upstream, root, catalogued, uncatalogued)


@pytest.fixture(scope="module", params=BUILDS, ids=lambda build: build.name)
def node(request: pytest.FixtureRequest, copied: Copied) -> Iterator[Node]:
    """Each `ctr` test runs against Debian 12's containerd 1.6 and against containerd 2.1 (see containerd.py)."""
    try:
        with connect_recorder() as recorder, running_containerd(request.param, proxy=recorder.url) as daemon:
            yield Node(daemon, recorder, copied)
    except ContainerdUnavailable as reason:
        pytest.skip(f"containerd cannot run here: {reason}")


def test_a_catalogued_image_comes_from_its_copy_with_the_upstream_stopped(node: Node) -> None:
    copied = node.copied
    assert copied.upstream.process.poll() is not None, "the upstream is stopped"
    node.recorder.forget()
    pulled = node.pull(CATALOGUED)
    assert pulled.returncode == 0, pulled.stderr
    assert image_digests(node.containerd)[CATALOGUED] == copied.catalogued.digest, "the upstream's digest"
    served = {
        (method, path.partition("?")[0]) for method, path, status in copied.ecr.requests() if status == 200
    }
    assert ("GET", f"/v2/{COPY_PREFIX}/nvidia/cuda/manifests/{copied.catalogued.digest}") in served
    assert node.recorder.seen() == [], "nothing went anywhere but the copy"


def test_an_image_the_copy_lacks_fails_and_goes_nowhere_else(node: Node) -> None:
    before = len(node.copied.ecr.requests())
    node.recorder.forget()
    pulled = node.pull(UNCATALOGUED)
    assert pulled.returncode != 0
    assert "not found" in pulled.stderr, pulled.stderr
    asked = {status for _, path, status in node.copied.ecr.requests()[before:] if "/tritonserver/" in path}
    assert asked == {401, 404}, "challenged, then asked with the login: the copy lacks it"
    assert node.recorder.seen() == [], f"containerd did not go on to {UPSTREAM}"


def test_kubelet_authenticates_the_copy_upstreams_images(copied: Copied) -> None:
    written = yaml.safe_load((copied.root / CREDENTIAL_PROVIDER_CONFIG.lstrip("/")).read_text())
    (provider,) = written["providers"]
    assert UPSTREAM in provider["matchImages"], (
        "ecr-credential-provider answers nvcr.io images with ECR's login"
    )


def test_the_sketched_fallback_serves_what_the_copy_lacks_from_an_upstream_that_asks_nothing(
    node: Node, tmp_path: Path
) -> None:
    """What the fallback would give: the uncatalogued image, from an anonymous upstream."""
    upstream = start_registry("anonymous-upstream", tmp_path)
    try:
        _, uncatalogued = seed(upstream)
        pulled = node.pull(UNCATALOGUED, node.copied.fallback_hosts_dir(tmp_path / "hosts", upstream.url))
    finally:
        upstream.stop()
    assert pulled.returncode == 0, pulled.stderr
    assert image_digests(node.containerd)[UNCATALOGUED] == uncatalogued.digest


def test_the_sketched_fallback_gives_the_ecr_login_to_an_upstream_that_asks_for_a_token(
    node: Node, tmp_path: Path
) -> None:
    """What it would cost: the ECR login, sent to the upstream's token service."""
    with token_upstream() as upstream:
        pulled = node.pull(UNCATALOGUED, node.copied.fallback_hosts_dir(tmp_path / "hosts", upstream.url))
        assert pulled.returncode != 0
        assert ("AWS", node.copied.ecr.token) in upstream.logins(), upstream.paths()


# --- containerd 2.1.9's CRI, called as kubelet calls it, under nodeadm's containerd 2 config ---


def cri_pulls(
    copied: Copied, root: Path, images: list[str], *, local: bool, server_address: str = ""
) -> list[tuple[bool, str]]:
    """Start containerd 2 with nodeadm's CRI image config over `root`; `PullImage` each image in turn."""
    cri = nodeadm_cri_config(root, discard_unpacked_layers=local)
    login = {"username": "AWS", "password": copied.ecr.token, "server_address": server_address}
    try:
        with (
            connect_recorder() as recorder,
            running_containerd(CONTAINERD2, proxy=recorder.url, cri=cri) as daemon,
        ):
            pulls = [cri_pull(daemon, image, **login) for image in images]
            assert (LOCAL_PULL_NOTICE in daemon.log.read_text()) is local, "the pull path this case is about"
            assert recorder.seen() == [], "nothing left loopback"
    except ContainerdUnavailable as reason:
        pytest.skip(f"containerd 2 cannot run here: {reason}")
    return pulls


PULL_PATHS = pytest.mark.parametrize(
    "local", [True, False], ids=["local pull (nodeadm's config)", "transfer service"]
)


@PULL_PATHS
def test_the_cri_pulls_the_copy_and_fails_what_it_lacks(copied: Copied, local: bool) -> None:
    (catalogued, answer), (uncatalogued, why) = cri_pulls(
        copied, copied.root, [CATALOGUED, UNCATALOGUED], local=local
    )
    assert catalogued, answer
    assert not uncatalogued and "not found" in why, why


@PULL_PATHS
@pytest.mark.parametrize(
    "scoped", [False, True], ids=["kubelet's login (no server_address)", "scoped to the copy"]
)
def test_through_the_cri_the_sketched_fallback_gives_kubelets_login_to_the_upstream(
    copied: Copied, tmp_path: Path, local: bool, scoped: bool
) -> None:
    """`ParseAuth` keeps the login from the upstream only under a `server_address`, which kubelet never sets."""
    root = tmp_path / "node-root"
    subprocess.run(["cp", "-a", str(copied.root), str(root)], check=True)
    with token_upstream() as upstream:
        copied.fallback_hosts_dir(root / HOSTS_DIR.lstrip("/"), upstream.url)
        server_address = f"https://{copied.ecr.address}" if scoped else ""
        ((pulled, why),) = cri_pulls(copied, root, [UNCATALOGUED], local=local, server_address=server_address)
        assert not pulled, why
        assert any("/v2/nvidia/tritonserver/" in path for path in upstream.paths()), "it fell back upstream"
        sent = [password for _, password in upstream.logins()]
    assert (copied.ecr.token in sent) is not scoped, sent
