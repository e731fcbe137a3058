"""A real containerd on a private socket and root, and a recorder for any attempt to leave loopback.

containerd (Debian's 1.6) runs with the CRI plugin disabled, so it needs no kubelet, and keeps
everything under one temporary folder; it is stopped by PID. `ctr` resolves and fetches in its own
process, so the recorder is `ctr`'s HTTPS proxy: Go's `http.ProxyFromEnvironment`, which
containerd's resolver uses (remotes/docker/config/hosts.go), never proxies loopback, so every
request for a non-loopback registry (`registry-1.docker.io`, `quay.io`) reaches the recorder as a
CONNECT, is written down and refused. Nothing leaves the machine.
"""

from __future__ import annotations

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


class ContainerdUnavailable(RuntimeError):
    """containerd cannot run here: the reason says why."""


def _config(base: Path) -> str:
    return "\n".join(
        [
            "version = 2",
            f'root = "{base / "root"}"',
            f'state = "{base / "state"}"',
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
            "[grpc]",
            f'  address = "{base / "containerd.sock"}"',
            "[ttrpc]",
            f'  address = "{base / "containerd.sock.ttrpc"}"',
            '[plugins."io.containerd.internal.v1.opt"]',
            f'  path = "{base / "opt"}"',
            "",
        ]
    )


@dataclass
class Containerd:
    base: Path
    process: subprocess.Popen[bytes]
    proxy: str = ""  # HTTPS_PROXY for ctr: the recorder

    @property
    def address(self) -> str:
        return str(self.base / "containerd.sock")

    @property
    def log(self) -> Path:
        return self.base / "containerd.log"

    def ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        environment = {
            **{k: v for k, v in os.environ.items() if "proxy" not in k.lower()},
            "HTTPS_PROXY": self.proxy,
            "HTTP_PROXY": self.proxy,
        }
        return subprocess.run(
            ["ctr", "--address", self.address, "--namespace", "ptc-test", *args],
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


@contextmanager
def running_containerd() -> Iterator[Containerd]:
    """Start containerd in a short temporary folder (a unix socket path has at most 107 bytes)."""
    binary = shutil.which("containerd")
    if binary is None or shutil.which("ctr") is None:
        raise ContainerdUnavailable("containerd and ctr are not installed; run scripts/setup")
    if os.geteuid() != 0:
        raise ContainerdUnavailable("containerd needs root to mount snapshots; run the tests as root")
    base = Path(tempfile.mkdtemp(prefix="ptc-ctd-"))
    (base / "config.toml").write_text(_config(base))
    with (base / "containerd.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, "--config", str(base / "config.toml")], stdout=log, stderr=subprocess.STDOUT
        )
    containerd = Containerd(base, process)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while containerd.ctr("version").returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                raise ContainerdUnavailable(f"containerd did not start: {containerd.log.read_text()[-800:]}")
            time.sleep(0.1)
        yield containerd
    finally:
        containerd.stop()
        shutil.rmtree(base, ignore_errors=True)


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
