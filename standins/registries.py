"""Real registries on 127.0.0.1: Debian's `docker-registry` (the CNCF distribution registry).

One runs as an upstream; another in proxy mode (`proxy.remoteurl`) plays the
pull-through cache. Each gets its own storage folder and a free port, and is
stopped by PID. Used by the integration tests, the offline demo and the benchmarks.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

REGISTRY_BINARY = "docker-registry"
START_TIMEOUT = 15.0


class RegistryUnavailable(RuntimeError):
    """The registry binary is missing or did not start."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RunningRegistry:
    name: str
    port: int
    root: Path
    process: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def log(self) -> Path:
        return self.root / "registry.log"

    def stop(self) -> None:
        """Stop by PID: terminate, then kill if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _config(
    root: Path, port: int, remote_url: str | None, auth: dict[str, object] | None
) -> dict[str, object]:
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "data")},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
        },
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    if remote_url is not None:
        config["proxy"] = {"remoteurl": remote_url}
    if auth is not None:
        config["auth"] = auth
    return config


def start_registry(
    name: str, workdir: Path, remote_url: str | None = None, *, auth: dict[str, object] | None = None
) -> RunningRegistry:
    """Start a registry, or a pull-through proxy of `remote_url`, and wait until `/v2/` answers
    (with `auth`, distribution's `auth` section, until it answers at all)."""
    binary = shutil.which(REGISTRY_BINARY)
    if binary is None:
        raise RegistryUnavailable(f"{REGISTRY_BINARY} is not installed; run scripts/setup")
    root = workdir / name
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config_path = root / "config.yml"
    config_path.write_text(yaml.safe_dump(_config(root, port, remote_url, auth)))
    with (root / "registry.log").open("wb") as log:
        process = subprocess.Popen([binary, "serve", str(config_path)], stdout=log, stderr=subprocess.STDOUT)
    registry = RunningRegistry(name, port, root, process)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RegistryUnavailable(f"{name} exited at start: {registry.log.read_text()[-500:]}")
        try:
            if httpx.get(f"{registry.url}/v2/", timeout=1).status_code in (
                (200,) if auth is None else (200, 401)
            ):
                return registry
        except httpx.TransportError:
            time.sleep(0.05)
    registry.stop()
    raise RegistryUnavailable(f"{name} did not answer on {registry.address} within {START_TIMEOUT:.0f}s")


@dataclass
class CachePair:
    """An upstream registry and a pull-through cache in front of it."""

    upstream: RunningRegistry
    cache: RunningRegistry
    workdir: Path


@contextmanager
def upstream_and_cache(workdir: Path | None = None) -> Iterator[CachePair]:
    """Start both; stop both (by PID) whatever happens."""
    owned = workdir is None
    base = Path(tempfile.mkdtemp(prefix="ptc-registries-")) if workdir is None else workdir
    started: list[RunningRegistry] = []
    try:
        upstream = start_registry("upstream", base)
        started.append(upstream)
        cache = start_registry("cache", base, remote_url=upstream.url)
        started.append(cache)
        yield CachePair(upstream, cache, base)
    finally:
        for registry in reversed(started):
            registry.stop()
        if owned:
            shutil.rmtree(base, ignore_errors=True)
