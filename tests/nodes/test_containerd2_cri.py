"""containerd 2.1's CRI, called as kubelet calls it, with nodeadm's containerd 2 config: the files the AL2023
user data writes take effect in both of its pull paths.

containerd 2.1 and 2.2 pull a CRI image through the transfer service unless a CRI option forces
the local pull (`CheckLocalImagePullConfigs`, internal/cri/config/config.go at v2.1.9); the
transfer path reads `config_path` as one directory, the local path as a list. nodeadm's config
(`config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"`, `discard_unpacked_layers =
true`, nodeadm/internal/containerd/config2.template.toml) takes the local path; with
`discard_unpacked_layers = false` (containerd/containerd#12415) it takes the transfer path, where
the user data's link at the literal two-entry path (policies/node_userdata.py,
`NODEADM_CONFIG_PATH`) is what finds the files. Without that link the pull goes to Docker Hub, as
the last test shows: the day containerd splits the list there too, that test fails and says so.

kubelet's call is `runtime.v1.ImageService/PullImage`; a few lines below send it with grpcio
(installed with pulumi), the two messages encoded by hand from cri-api's `api.proto`
(PullImageRequest: 1 image {1 image}, 2 auth {1 username, 2 password, 4 server_address}). The ECR login goes in
`auth`, as kubelet passes what ecr-credential-provider returned. The config under test is
nodeadm's, less what needs a real node (runtimes, CNI, SOCI), with its paths under a test root.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from components.policies.node_userdata import NODEADM_CONFIG_PATH
from standins.ecr_like import EcrLike, ecr_like
from standins.seed import SeededImage, seed_sample_images
from tests.nodes.containerd import (
    CONTAINERD2,
    ConnectRecorder,
    Containerd,
    ContainerdUnavailable,
    connect_recorder,
    running_containerd,
)
from tests.nodes.test_containerd import BUSYBOX, PREFIXES, warm, write_node_files

pytestmark = pytest.mark.integration

LOCAL_PULL_NOTICE = "Falling back to local image pull mode"


def _field(number: int, payload: bytes) -> bytes:
    """A protobuf length-delimited field: key, varint length, bytes."""

    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            low, value = value & 0x7F, value >> 7
            out.append(low | (0x80 if value else 0))
            if not value:
                return bytes(out)

    return varint(number << 3 | 2) + varint(len(payload)) + payload


def cri_pull(
    containerd: Containerd, image: str, *, username: str, password: str, server_address: str = ""
) -> tuple[bool, str]:
    """`PullImage` as kubelet sends it, with no `server_address` (kubelet never sets one: see
    tests/nodes/test_containerd_copies.py); (True, image ref bytes) or (False, the error)."""
    auth = _field(1, username.encode()) + _field(2, password.encode())
    if server_address:
        auth += _field(4, server_address.encode())
    request = _field(1, _field(1, image.encode())) + _field(2, auth)
    with grpc.insecure_channel(f"unix://{containerd.address}") as channel:
        pull = channel.unary_unary("/runtime.v1.ImageService/PullImage")
        try:
            return True, repr(pull(request, timeout=120))
        except grpc.RpcError as error:
            return False, str(error.details())


def nodeadm_cri_config(node_root: Path, *, discard_unpacked_layers: bool) -> str:
    """The image part of nodeadm's containerd 2 config, its `config_path` under `node_root`."""
    return "\n".join(
        [
            "[plugins.'io.containerd.cri.v1.images']",
            f"discard_unpacked_layers = {str(discard_unpacked_layers).lower()}",
            '[plugins."io.containerd.cri.v1.images".registry]',
            f'config_path = "{node_root}{NODEADM_CONFIG_PATH}"',
        ]
    )


@dataclass
class Node:
    ecr: EcrLike
    root: Path
    busybox: SeededImage


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """busybox warmed through the ECR-like cache, the upstream stopped, the user data's files under a root."""
    try:
        CONTAINERD2.binary("containerd")
    except ContainerdUnavailable as reason:
        pytest.skip(f"containerd 2 cannot run here: {reason}")
    workdir = tmp_path_factory.mktemp("cri")
    with ecr_like(PREFIXES, workdir / "registries") as ecr:
        seeded = seed_sample_images(ecr.upstreams["docker-hub"].url)
        busybox = next(i for i in seeded if i.repository == "library/busybox")
        warm(ecr, [BUSYBOX], workdir)
        for upstream in ecr.upstreams.values():
            upstream.stop()
        root = workdir / "node-root"
        write_node_files(ecr, root)
        yield Node(ecr, root, busybox)


@pytest.fixture
def recorder() -> Iterator[ConnectRecorder]:
    with connect_recorder() as recording:
        yield recording


def pull_through_cri(
    node: Node, recorder: ConnectRecorder, root: Path, *, local: bool
) -> tuple[bool, str, str]:
    """Start containerd 2 with nodeadm's CRI image config over `root`, pull busybox as kubelet would."""
    cri = nodeadm_cri_config(root, discard_unpacked_layers=local)
    try:
        with running_containerd(CONTAINERD2, proxy=recorder.url, cri=cri) as daemon:
            pulled, answer = cri_pull(daemon, BUSYBOX, username="AWS", password=node.ecr.token)
            listed = daemon.ctr("--namespace", "k8s.io", "image", "ls", "-q") if pulled else None
            log = daemon.log.read_text()
    except ContainerdUnavailable as reason:
        pytest.skip(f"containerd 2 cannot run here: {reason}")
    if listed is not None:
        assert BUSYBOX in listed.stdout.split(), listed.stdout
    return pulled, answer, log


@pytest.mark.parametrize("local", [True, False], ids=["local pull (nodeadm's config)", "transfer service"])
def test_the_cri_pulls_from_the_cache_in_both_pull_paths(
    node: Node, recorder: ConnectRecorder, local: bool
) -> None:
    before = len(node.ecr.requests())
    pulled, answer, log = pull_through_cri(node, recorder, node.root, local=local)
    assert pulled, answer
    assert (LOCAL_PULL_NOTICE in log) is local, "the pull path this case is about"
    served = [
        (method, path.partition("?")[0])
        for method, path, status in node.ecr.requests()[before:]
        if status == 200
    ]
    assert ("GET", f"/v2/docker-hub/library/busybox/manifests/{node.busybox.digest}") in served
    assert recorder.seen() == [], "nothing went anywhere but the cache"


def test_without_the_link_the_transfer_service_ignores_the_files_and_goes_to_docker_hub(
    node: Node, recorder: ConnectRecorder, tmp_path: Path
) -> None:
    """What the link prevents: containerd 2.1.9 reads nodeadm's `config_path` as one directory."""
    root = tmp_path / "node-root"
    subprocess.run(["cp", "-a", str(node.root), str(root)], check=True)
    (root / NODEADM_CONFIG_PATH.lstrip("/")).unlink()
    before = len(node.ecr.requests())
    pulled, answer, log = pull_through_cri(node, recorder, root, local=False)
    assert not pulled and LOCAL_PULL_NOTICE not in log
    assert node.ecr.requests()[before:] == [], "the cache never saw it"
    assert any(line.startswith("CONNECT registry-1.docker.io:443 ") for line in recorder.seen()), (
        f"containerd no longer ignores a two-entry config_path in its transfer pull ({answer}); "
        "the link in policies/node_userdata.py may be dropped"
    )
