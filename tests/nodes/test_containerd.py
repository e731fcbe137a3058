"""A real containerd pulls through the ECR-like cache with the files the AL2023 user data writes.

Every test runs twice: with Debian 12's containerd 1.6, whose `ctr` fetches in its own process,
and with containerd 2.1.9 (Debian sid's build, unpacked by scripts/setup), whose `ctr` hands the
pull to the daemon's transfer service, the path the CRI takes by default from 2.1
(tests/nodes/test_containerd2_cri.py runs the CRI itself). containerd 2.1.9 keeps the host
order below (core/remotes/docker/config/hosts.go, L96-L135 at v2.1.9).

What containerd 1.6 does with these files (v1.6.20, the Debian package's version):
`parseHostsFile` lists each `[host]` entry, then appends the `server` entry last
(https://github.com/containerd/containerd/blob/v1.6.20/remotes/docker/config/hosts.go#L327-L378);
`ConfigureHosts` fills in the registry's default host (`registry-1.docker.io` for docker.io)
when that last entry has no host, that is, when `server` is not set (same file, L97-L122). The
resolver tries the list in order and fails when all fail
(https://github.com/containerd/containerd/blob/v1.6.20/remotes/docker/resolver.go#L266-L302).
So with `server` set to the cache, as `containerd_hosts` does, there is nothing else to try and a
pull fails; without `server`, containerd quietly tries the upstream, which the last test shows,
although docs/hosts.md's example says "Exclude this to not use upstream"
(https://github.com/containerd/containerd/blob/v1.6.20/docs/hosts.md#setup-a-local-mirror-for-docker).
"""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from components.policies.node_config import NO_COPIES
from components.policies.node_userdata import (
    CREDENTIAL_PROVIDER_CONFIG,
    HOSTS_DIR,
    ROOT_VARIABLE,
    al2023_user_data,
)
from standins.ecr_like import EcrLike, ecr_like
from standins.seed import Pusher, SeededImage, layer, seed_sample_images
from tests.nodes.containerd import (
    BUILDS,
    ConnectRecorder,
    Containerd,
    ContainerdUnavailable,
    connect_recorder,
    running_containerd,
)

pytestmark = pytest.mark.integration

PREFIXES = {"docker-hub": "docker.io", "quay": "quay.io"}
REGION = "eu-west-1"
BUSYBOX = "docker.io/library/busybox:1.36"
NODE_EXPORTER = "quay.io/prometheus/node-exporter:v1.8.2"


def _shell_part(user_data: str) -> str:
    message = email.message_from_string(user_data, policy=email.policy.default)
    (script,) = [part for part in message.walk() if part.get_content_type() == "text/x-shellscript"]
    return str(script.get_content())


def write_node_files(
    ecr: EcrLike, root: Path, *, prefixes: Mapping[str, str] = PREFIXES, copies: Mapping[str, str] = NO_COPIES
) -> Path:
    """Run the AL2023 user data's shell part against `root`; return the hosts dir, with the test CA added.

    `prefixes` and `copies` go from a prefix of the stand-in to the upstream it caches or copies.
    The only change to what the user data wrote is a `ca = ...` line after each endpoint, since
    the stand-in's certificate comes from a CA made for this test.
    """
    user_data = al2023_user_data(
        cache_prefixes={upstream: ecr.prefix_url(prefix) for prefix, upstream in prefixes.items()},
        copy_prefixes={upstream: ecr.prefix_url(prefix) for prefix, upstream in copies.items()},
        registry_host=ecr.address,
        region=REGION,
    )
    script = root.parent / "user-data.sh"
    script.write_text(_shell_part(user_data))
    subprocess.run(["bash", str(script)], env={ROOT_VARIABLE: str(root)}, check=True, timeout=30)
    hosts_dir = root / HOSTS_DIR.lstrip("/")
    assert sorted(path.name for path in hosts_dir.iterdir()) == sorted([*prefixes.values(), *copies.values()])
    ca_line = f'ca = "{ecr.ca_file}"'
    for hosts_toml in hosts_dir.glob("*/hosts.toml"):
        written = hosts_toml.read_text()
        with_ca = []
        for line in written.splitlines():
            with_ca.append(line)
            if line.startswith("server = "):
                with_ca.append(ca_line)
            elif line.startswith("[host."):
                with_ca.append(f"  {ca_line}")
        hosts_toml.write_text("\n".join(with_ca) + "\n")
        before, after = tomllib.loads(written), tomllib.loads(hosts_toml.read_text())
        assert after.get("server") == before.get("server") and after.get("ca", str(ecr.ca_file)) == str(
            ecr.ca_file
        )
        assert {
            url: {k: v for k, v in table.items() if k != "ca"} for url, table in after["host"].items()
        } == (before["host"])
    return hosts_dir


def warm(ecr: EcrLike, images: list[str], workdir: Path) -> None:
    """Warm the tags through the front with this project's `warm`, which verifies the cache kept
    every blob (a plain pull, such as skopeo's, can leave the proxy without some: bench/README.md)."""
    catalogue = workdir / "images.yaml"
    catalogue.write_text("".join(f"- {image}\n" for image in images))
    mirrors = [
        arg
        for prefix, upstream in PREFIXES.items()
        for arg in ("--mirror", f"{upstream}=https://{ecr.prefix_url(prefix)}")
    ]
    env = {
        **os.environ,
        "SSL_CERT_FILE": str(ecr.ca_file),
        "REGISTRY_USERNAME": "AWS",
        "REGISTRY_PASSWORD": ecr.token,
    }
    warmed = subprocess.run(
        [
            sys.executable,
            "-m",
            "components",
            "warm",
            "--images",
            str(catalogue),
            *mirrors,
            "--platform",
            "linux/amd64",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert warmed.returncode == 0, warmed.stdout + warmed.stderr


def image_digests(containerd: Containerd) -> dict[str, str]:
    listed = containerd.ctr("image", "ls")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    return {row[0]: row[2] for row in rows}


@dataclass
class Node:
    containerd: Containerd
    recorder: ConnectRecorder
    ecr: EcrLike
    hosts_dir: Path
    node_root: Path
    busybox: SeededImage
    node_exporter: SeededImage

    def pull(self, reference: str, *, login: bool = True) -> subprocess.CompletedProcess[str]:
        user = ["--user", f"AWS:{self.ecr.token}"] if login else []
        return self.containerd.ctr(
            "image", "pull", *pull_flags(self.containerd), str(self.hosts_dir), *user, reference
        )


def pull_flags(containerd: Containerd) -> list[str]:
    """`--hosts-dir` (its value follows), and for containerd 2 `--skip-metadata`: its `ctr` otherwise
    also fetches every other platform's manifest (cmd/ctr/commands/images/pull.go, `WithAllMetadata`),
    which the CRI's transfer pull does not (internal/cri/server/images/image_pull.go, v2.1.9), and
    the cache holds only the platform that was warmed."""
    return ["--skip-metadata", "--hosts-dir"] if containerd.build.config_version == 3 else ["--hosts-dir"]


@pytest.fixture(scope="module", params=BUILDS, ids=lambda build: build.name)
def containerd(request: pytest.FixtureRequest) -> Iterator[tuple[Containerd, ConnectRecorder]]:
    """Each test runs against Debian 12's containerd 1.6 and against containerd 2.1 (see containerd.py)."""
    try:
        with connect_recorder() as recorder, running_containerd(request.param, proxy=recorder.url) as daemon:
            yield daemon, recorder
    except ContainerdUnavailable as reason:
        pytest.skip(f"containerd cannot run here: {reason}")


@pytest.fixture(scope="module")
def node(
    containerd: tuple[Containerd, ConnectRecorder], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    """Both upstreams seeded, one tag of each warmed through the front, then every upstream stopped."""
    daemon, recorder = containerd
    workdir = tmp_path_factory.mktemp("ecr-like")
    with ecr_like(PREFIXES, workdir / "registries") as ecr:
        busybox = next(
            i
            for i in seed_sample_images(ecr.upstreams["docker-hub"].url)
            if i.repository == "library/busybox"
        )
        pusher = Pusher(ecr.upstreams["quay"].url)
        try:
            exporter = pusher.single(
                "prometheus/node-exporter", "v1.8.2", "linux/amd64", [layer("base"), layer("node-exporter")]
            )
        finally:
            pusher.close()
        warm(ecr, [BUSYBOX, NODE_EXPORTER], workdir)
        for upstream in ecr.upstreams.values():
            upstream.stop()
        node_root = workdir / "node-root"
        hosts_dir = write_node_files(ecr, node_root)
        yield Node(daemon, recorder, ecr, hosts_dir, node_root, busybox, exporter)


@pytest.fixture(autouse=True)
def fresh_recorder(containerd: tuple[Containerd, ConnectRecorder]) -> Iterator[None]:
    """Each test reads only the attempts it caused."""
    containerd[1].forget()
    yield
    containerd[1].forget()


def test_images_come_from_the_cache_under_their_original_names(node: Node) -> None:
    assert all(upstream.process.poll() is not None for upstream in node.ecr.upstreams.values())
    for reference in (BUSYBOX, NODE_EXPORTER):
        pulled = node.pull(reference)
        assert pulled.returncode == 0, f"{reference}: {pulled.stderr}"
    digests = image_digests(node.containerd)
    assert digests[BUSYBOX] == node.busybox.digest, "the index the upstream had, unchanged"
    assert digests[NODE_EXPORTER] == node.node_exporter.digest
    served = {
        (method, path.partition("?")[0]) for method, path, status in node.ecr.requests() if status == 200
    }
    assert ("GET", f"/v2/docker-hub/library/busybox/manifests/{node.busybox.digest}") in served
    assert any(path.startswith("/v2/quay/prometheus/node-exporter/blobs/") for _, path in served)
    assert node.recorder.seen() == [], "nothing went anywhere but the cache"


def test_the_credential_provider_config_matches_the_mirrored_upstreams(node: Node) -> None:
    written = yaml.safe_load((node.node_root / CREDENTIAL_PROVIDER_CONFIG.lstrip("/")).read_text())
    (provider,) = written["providers"]
    assert {"docker.io", "quay.io", node.ecr.address} <= set(provider["matchImages"])
    assert provider["env"] == [{"name": "AWS_REGION", "value": REGION}]


def test_without_the_ecr_login_the_pull_fails_and_stays_off_the_upstream(node: Node) -> None:
    pulled = node.pull(BUSYBOX, login=False)
    assert pulled.returncode != 0
    refused = ("401", "unauthorized", "no basic auth credentials")  # 1.6's words, then 2.1's
    assert any(word in pulled.stderr.lower() for word in refused), pulled.stderr
    assert node.recorder.seen() == []


def test_a_registry_the_cache_does_not_front_never_reaches_it(node: Node) -> None:
    """No hosts.toml for ghcr.io: containerd goes to ghcr.io itself (here: the recorder, refused)."""
    before = len(node.ecr.requests())
    pulled = node.pull("ghcr.io/acme/tool:v1")
    assert pulled.returncode != 0
    assert node.ecr.requests()[before:] == [], "the cache never saw it"
    assert node.recorder.seen() and all(
        line.startswith("CONNECT ghcr.io:443 ") for line in node.recorder.seen()
    )


def test_with_the_cache_stopped_a_mirrored_pull_fails_instead_of_going_upstream(
    containerd: tuple[Containerd, ConnectRecorder], tmp_path: Path
) -> None:
    daemon, recorder = containerd
    with ecr_like({"docker-hub": "docker.io"}, tmp_path / "registries") as ecr:
        hosts_dir = write_node_files(ecr, tmp_path / "node-root")
        ecr.stop()
        mirrored = daemon.ctr(
            "image",
            "pull",
            *pull_flags(daemon),
            str(hosts_dir),
            "--user",
            f"AWS:{ecr.token}",
            "docker.io/library/alpine:3.20",
        )
        assert mirrored.returncode != 0
        assert ecr.address in mirrored.stderr, mirrored.stderr
        assert recorder.seen() == [], "containerd did not fall back to registry-1.docker.io"

        # The contrast: the hosts.toml many guides show, a mirror `[host]` without `server`.
        # containerd then appends docker.io's default host and quietly tries it.
        without_server = tmp_path / "without-server"
        (without_server / "docker.io").mkdir(parents=True)
        mirror = tomllib.loads((hosts_dir / "docker.io" / "hosts.toml").read_text())["host"]
        ((url, table),) = mirror.items()
        (without_server / "docker.io" / "hosts.toml").write_text(
            f'[host."{url}"]\n  capabilities = ["pull", "resolve"]\n  override_path = true\n  ca = "{table["ca"]}"\n'
        )
        fallback = daemon.ctr(
            "image",
            "pull",
            *pull_flags(daemon),
            str(without_server),
            "--user",
            f"AWS:{ecr.token}",
            "docker.io/library/alpine:3.20",
        )
        assert fallback.returncode != 0
        assert any(line.startswith("CONNECT registry-1.docker.io:443 ") for line in recorder.seen())
