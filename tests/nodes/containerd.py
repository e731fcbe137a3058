"""A real containerd on a private socket and root, and a recorder for any attempt to leave loopback.

Two builds: Debian 12's containerd 1.6 (on PATH, from scripts/setup's apt install), and Debian
sid's containerd 2.1 (`CONTAINERD2`), which scripts/setup downloads as a .deb, checks against its
digest and unpacks into a private folder: its binaries run on Debian 12, nothing is installed.
Each runs with everything under one temporary folder, the CRI plugin disabled unless a test
brings a CRI config, and is stopped by PID.

Who fetches differs: containerd 1.6's `ctr image pull` resolves and fetches in `ctr`'s own process;
containerd 2's sends the pull to the daemon's transfer service. So the recorder is the HTTPS proxy
of both `ctr` and the daemon: Go's `http.ProxyFromEnvironment`, which containerd's resolver uses
(core/remotes/docker/config/hosts.go), never proxies loopback, so every request for a
non-loopback registry (`registry-1.docker.io`, `quay.io`) reaches the recorder as a CONNECT, is
written down and refused. Nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socketserver
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 20.0
CTR_TIMEOUT = 120
# scripts/setup fetches this build of Debian's package into the folder below.
CONTAINERD2_VERSION = "2.1.9+ds1-5"
_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ecr-pull-through-cache"


class ContainerdUnavailable(RuntimeError):
    """containerd cannot run here: the reason says why."""


@dataclass(frozen=True)
class Build:
    """One containerd to test with."""

    name: str
    bin_dir: Path | None  # None: the one on PATH
    config_version: int  # 2 for containerd 1.x, 3 for 2.x

    def binary(self, name: str) -> str:
        found = shutil.which(name) if self.bin_dir is None else str(self.bin_dir / name)
        if found is None or not os.access(found, os.X_OK):
            where = "on PATH" if self.bin_dir is None else f"in {self.bin_dir}"
            raise ContainerdUnavailable(f"{self.name}: no {name} {where}; run scripts/setup")
        return found


DEBIAN_12 = Build("containerd 1.6 (Debian 12)", None, 2)
CONTAINERD2 = Build(
    f"containerd {CONTAINERD2_VERSION} (Debian sid)",
    _CACHE / f"containerd-{CONTAINERD2_VERSION}" / "usr" / "bin",
    3,
)
BUILDS = (DEBIAN_12, CONTAINERD2)


def _config(base: Path, build: Build, cri: str | None) -> str:
    """A config keeping everything under `base`; CRI disabled unless `cri` (TOML) is given."""
    disabled = [] if cri else ["io.containerd.grpc.v1.cri"]
    return "\n".join(
        [
            f"version = {build.config_version}",
            f'root = "{base / "root"}"',
            f'state = "{base / "state"}"',
            f"disabled_plugins = {json.dumps(disabled)}",
            "[grpc]",
            f'  address = "{base / "containerd.sock"}"',
            "[ttrpc]",
            f'  address = "{base / "containerd.sock.ttrpc"}"',
            '[plugins."io.containerd.internal.v1.opt"]',
            f'  path = "{base / "opt"}"',
            cri or "",
            "",
        ]
    )


@dataclass
class Containerd:
    build: Build
    base: Path
    process: subprocess.Popen[bytes]
    proxy: str = ""  # HTTPS_PROXY for ctr (and the daemon's, given at start): the recorder

    @property
    def address(self) -> str:
        return str(self.base / "containerd.sock")

    @property
    def log(self) -> Path:
        return self.base / "containerd.log"

    def ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        environment = _proxied_environment(self.proxy)
        return subprocess.run(
            [self.build.binary("ctr"), "--address", self.address, "--namespace", "ptc-test", *args],
            capture_output=True,
            text=True,
            timeout=CTR_TIMEOUT,
            check=False,
            env=environment,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _proxied_environment(proxy: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if "proxy" not in k.lower()},
        "HTTPS_PROXY": proxy,
        "HTTP_PROXY": proxy,
    }


@contextmanager
def running_containerd(
    build: Build = DEBIAN_12, *, proxy: str = "", cri: str | None = None
) -> Iterator[Containerd]:
    """Start containerd in a short temporary folder (a unix socket path has at most 107 bytes).

    `proxy` is the daemon's HTTPS proxy (and `ctr`'s); `cri` is TOML that enables the CRI plugin.
    """
    binary = build.binary("containerd")
    build.binary("ctr")
    if os.geteuid() != 0:
        raise ContainerdUnavailable("containerd needs root to mount snapshots; run the tests as root")
    base = Path(tempfile.mkdtemp(prefix="ptc-ctd-"))
    (base / "config.toml").write_text(_config(base, build, cri))
    with (base / "containerd.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, "--config", str(base / "config.toml")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_proxied_environment(proxy),
        )
    containerd = Containerd(build, base, process, proxy)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while containerd.ctr("version").returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                raise ContainerdUnavailable(f"containerd did not start: {containerd.log.read_text()[-800:]}")
            time.sleep(0.1)
        yield containerd
    finally:
        containerd.stop()
        for mount in sorted(_mounts_under(base), reverse=True):
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _mounts_under(base: Path) -> list[str]:
    """Mount points containerd left under `base` (the CRI plugin's shm and sandbox mounts)."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    return [fields[1] for line in mounts if (fields := line.split()) and fields[1].startswith(f"{base}/")]


class _Refuse(socketserver.StreamRequestHandler):
    server: ConnectRecorder

    def handle(self) -> None:
        request_line = self.rfile.readline(4096).decode("latin-1").strip()
        with self.server.lock:
            self.server.attempts.append(request_line)
        self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


class ConnectRecorder(socketserver.ThreadingTCPServer):
    """An HTTP proxy that writes down each request line (`CONNECT host:443 ...`) and refuses it."""

    daemon_threads = True

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Refuse)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def forget(self) -> None:
        with self.lock:
            self.attempts.clear()

    def seen(self) -> list[str]:
        with self.lock:
            return list(self.attempts)


@contextmanager
def connect_recorder() -> Iterator[ConnectRecorder]:
    recorder = ConnectRecorder()
    thread = threading.Thread(target=recorder.serve_forever, name="connect-recorder", daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        recorder.shutdown()
        recorder.server_close()
        thread.join(timeout=10)
