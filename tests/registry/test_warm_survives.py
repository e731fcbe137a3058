"""What operators do to long warms (issue 19), to the real CLI in a process of its own, through real
registries on loopback: kill -9 and re-run, SIGTERM and SIGINT, a full disk, a read-only directory, a
directory where the state should be, a corrupt state, two warms on one state file, slow and stalled
links, a tag that moved and a pin that went stale.

The warm goes through `standins.faulty_proxy` in front of a distribution pull-through cache (the
`seeded` pair), so a test can hold one image's blob back, or slow it down, while the rest go
through; the proxy counts every request it relays.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from standins.faulty_proxy import Fault, FaultyProxy, faulty_proxy
from standins.seed import Pusher, layer
from tests.registry.conftest import ROOT, Seeded, run_warm

STALLED = "demo/multi-arch"  # the image whose first layer a test holds back
MiB = 1024 * 1024


def warm_command(
    seeded: Seeded, proxy: FaultyProxy, state: Path, *extra: str, catalogue: Path | None = None
) -> list[str]:
    return [
        sys.executable, "-m", "components", "warm", "--images", str(catalogue or seeded.catalogue),
        "--mirror", f"{seeded.pair.upstream.address}={proxy.url}", "--plain-http",
        "--state", str(state), *extra,
    ]  # fmt: skip


def references(seeded: Seeded) -> set[str]:
    return {image.reference(seeded.pair.upstream.address) for image in seeded.images}


def stalled_reference(seeded: Seeded) -> str:
    return next(r for r in references(seeded) if f"/{STALLED}:" in r)


def hold_back_one_image() -> list[Fault]:
    """Every GET of the stalled image's blobs sends nothing and holds the connection for 5 minutes."""
    return [Fault(rf"GET /v2/{STALLED}/blobs/", "stall", times=None, delay=300)]


def state_entries(state: Path) -> dict[str, dict[str, object]]:
    content = yaml.safe_load(state.read_text()) if state.exists() else None
    return content or {}


def wait_for_entries(state: Path, count: int, warm: Running, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while len(state_entries(state)) < count:
        assert warm.process.poll() is None, warm.output()
        assert time.monotonic() < deadline, f"the state never held {count} images"
        time.sleep(0.05)


@dataclass
class Running:
    """A warm in a process of its own; what it printed is read once it has ended."""

    process: subprocess.Popen[bytes]
    out: Path

    def output(self) -> str:
        return self.out.read_text()


@contextmanager
def running(command: list[str], out: Path) -> Iterator[Running]:
    with out.open("wb") as stream:
        process = subprocess.Popen(command, cwd=ROOT, stdout=stream, stderr=subprocess.STDOUT)
    try:
        yield Running(process, out)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def test_kill_9_midway_then_a_rerun_fetches_nothing_that_finished(seeded: Seeded, tmp_path: Path) -> None:
    state = tmp_path / "state.yaml"
    with (
        faulty_proxy(seeded.pair.cache.url, hold_back_one_image()) as proxy,
        running(warm_command(seeded, proxy, state), tmp_path / "out") as warm,
    ):
        wait_for_entries(state, len(seeded.images) - 1, warm)
        warm.process.send_signal(signal.SIGKILL)
        warm.process.wait(timeout=10)
    finished = set(state_entries(state))
    assert finished == references(seeded) - {stalled_reference(seeded)}

    with faulty_proxy(seeded.pair.cache.url) as counting:
        again = subprocess.run(
            warm_command(seeded, counting, state), cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 0, again.stdout + again.stderr
        for reference in finished:
            repository = reference.split("/", 1)[1].rsplit(":", 1)[0]
            assert counting.count(rf"^GET /v2/{repository}/") == 0, f"{reference} was fetched again"
            assert f"ok      {reference} sha256:" in again.stdout
            assert "(unchanged since the state)" in again.stdout
        assert counting.count(rf"^GET /v2/{STALLED}/blobs/") > 0
    assert set(state_entries(state)) == references(seeded)
    assert_cache_complete(seeded, tmp_path)


def assert_cache_complete(seeded: Seeded, tmp_path: Path) -> None:
    """With the upstream stopped, skopeo copies every tag, every platform, from the cache."""
    seeded.pair.upstream.stop()
    for image in seeded.images:
        pulled: set[str] = set()
        for platform in image.platforms:
            os_name, arch, *variant = platform.split("/")
            destination = (
                tmp_path / "pulled" / image.repository.replace("/", "_") / platform.replace("/", "_")
            )
            destination.parent.mkdir(parents=True, exist_ok=True)
            command = ["skopeo", "--override-os", os_name, "--override-arch", arch]
            command += ["--override-variant", variant[0]] if variant else []
            command += ["copy", "--quiet", "--src-tls-verify=false"]
            command += [
                f"docker://{seeded.pair.cache.address}/{image.repository}:{image.tag}",
                f"dir:{destination}",
            ]
            copied = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
            assert copied.returncode == 0, copied.stderr
            pulled |= {f"sha256:{path.name}" for path in destination.iterdir() if len(path.name) == 64}
        assert pulled == set(image.blobs), image.repository


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_midway_records_what_finished_and_exits_128_plus_it(
    seeded: Seeded, tmp_path: Path, stop: signal.Signals
) -> None:
    state = tmp_path / "state.yaml"
    with (
        faulty_proxy(seeded.pair.cache.url, hold_back_one_image()) as proxy,
        running(warm_command(seeded, proxy, state), tmp_path / "out") as warm,
    ):
        wait_for_entries(state, len(seeded.images) - 1, warm)
        sent = time.monotonic()
        warm.process.send_signal(stop)
        warm.process.wait(timeout=30)
        took = time.monotonic() - sent
    stdout = warm.output()
    assert warm.process.returncode == 128 + stop, stdout
    assert took < 10, f"{took:.1f} s from {stop.name} to exit"
    assert f"warmed {len(seeded.images) - 1} of {len(seeded.images) - 1} images" in stdout
    assert f"stopped by {stop.name}: 1 of {len(seeded.images)} images not finished" in stdout
    assert set(state_entries(state)) == references(seeded) - {stalled_reference(seeded)}


@contextmanager
def small_tmpfs(where: Path, size: str = "16k") -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=False)
    if mounted.returncode != 0:
        pytest.skip("this machine does not let the test mount a tmpfs")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


PREVIOUS = b"docker.io/library/kept:1:\n  digest: sha256:" + b"1" * 64 + b"\n  platforms: []\n"


def warm_plainly(seeded: Seeded, state: Path) -> subprocess.CompletedProcess[str]:
    return run_warm(
        "--images", str(seeded.catalogue), "--mirror", seeded.mirror, "--plain-http", "--state", str(state)
    )


def assert_state_not_written(warm: subprocess.CompletedProcess[str], state: Path, reason: str) -> None:
    assert warm.returncode == 1, warm.stdout + warm.stderr
    assert "warmed 4 of 4 images" in warm.stdout, "the summary is printed"
    lines = [line for line in warm.stdout.splitlines() if line.startswith("state:")]
    assert lines == [f"state:  cannot write {state}: {reason}; the previous state file is unchanged"]
    assert "Traceback" not in warm.stdout + warm.stderr


def test_a_full_disk_keeps_the_previous_state_whole(seeded: Seeded, tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "small") as disk:
        state = disk / "state.yaml"
        state.write_bytes(PREVIOUS)
        with (disk / "filler").open("wb", buffering=0) as filler, pytest.raises(OSError):
            while True:
                filler.write(b"\0" * 4096)
        warm = warm_plainly(seeded, state)
        assert_state_not_written(warm, state, "No space left on device")
        assert state.read_bytes() == PREVIOUS
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "state.yaml"], "no temporary file left"


def test_a_read_only_directory_keeps_the_previous_state(seeded: Seeded, tmp_path: Path) -> None:
    directory = tmp_path / "read-only"
    state = directory / "state.yaml"
    if os.geteuid() == 0:  # root writes through permissions: a read-only mount it is
        with small_tmpfs(directory, "1m"):
            state.write_bytes(PREVIOUS)
            subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
            assert_state_not_written(warm_plainly(seeded, state), state, "Read-only file system")
            assert state.read_bytes() == PREVIOUS
        return
    directory.mkdir()
    state.write_bytes(PREVIOUS)
    directory.chmod(0o555)
    try:
        assert_state_not_written(warm_plainly(seeded, state), state, "Permission denied")
        assert state.read_bytes() == PREVIOUS
    finally:
        directory.chmod(0o755)


def test_a_directory_where_the_state_should_be_is_warned_about_then_reported(
    seeded: Seeded, tmp_path: Path
) -> None:
    state = tmp_path / "state.yaml"
    state.mkdir()
    warm = warm_plainly(seeded, state)
    assert_state_not_written(warm, state, "Is a directory")
    assert warm.stderr.count(f"warning: {state}: ") == 1
    assert state.is_dir()


def test_a_corrupt_state_is_warned_about_once_ignored_and_replaced(seeded: Seeded, tmp_path: Path) -> None:
    state = tmp_path / "state.yaml"
    state.write_bytes(
        b"docker.io/library/nginx:1.27:\n  digest: sha256:ab\n  platforms: [linux/am"
    )  # cut short
    warm = warm_plainly(seeded, state)
    assert warm.returncode == 0, warm.stdout + warm.stderr
    warnings = [line for line in warm.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {state}: YAML syntax error"), warnings
    assert warnings[0].endswith("ignoring it: every tag is warmed, and the file replaced")
    assert "unchanged since the state" not in warm.stdout
    assert set(state_entries(state)) == references(seeded)


def test_two_warms_on_one_state_file_keep_every_entry_either_finished(seeded: Seeded, tmp_path: Path) -> None:
    state = tmp_path / "state.yaml"
    lines = seeded.catalogue.read_text().splitlines(keepends=True)
    halves = [tmp_path / "first.yaml", tmp_path / "second.yaml"]
    halves[0].write_text("".join(lines[::2]))
    halves[1].write_text("".join(lines[1::2]))
    # Every blob at 64 KiB/s: both warms take seconds, and their writes interleave.
    slow = [Fault(r"^GET /v2/.*/blobs/", "throttle", times=None, rate=64 * 1024)]
    with faulty_proxy(seeded.pair.cache.url, slow) as proxy:
        first_command, second_command = (
            warm_command(seeded, proxy, state, catalogue=half) for half in halves
        )
        with (
            running(first_command, tmp_path / "first.out") as first,
            running(second_command, tmp_path / "second.out") as second,
        ):
            codes = [first.process.wait(timeout=120), second.process.wait(timeout=120)]
    assert codes == [0, 0], first.output() + second.output()
    assert set(state_entries(state)) == references(seeded)


def push_big_image(seeded: Seeded, size: int) -> str:
    """A one-layer image of `size` bytes upstream, added to the catalogue; its reference."""
    pusher = Pusher(seeded.pair.upstream.url)
    try:
        image = pusher.single("demo/big", "v1", "linux/amd64", [layer("big", size)])
    finally:
        pusher.close()
    reference = image.reference(seeded.pair.upstream.address)
    seeded.catalogue.write_text(seeded.catalogue.read_text() + f"- {reference}\n")
    return reference


def test_a_steady_slow_layer_outlasting_the_old_total_deadline_completes(
    seeded: Seeded, tmp_path: Path
) -> None:
    big = push_big_image(seeded, 6 * MiB)
    throttled = [Fault(r"^GET /v2/demo/big/blobs/", "throttle", times=None, rate=MiB)]
    with faulty_proxy(seeded.pair.cache.url, throttled) as proxy:
        started = time.monotonic()
        # --timeout 3 was the total deadline of every blob request: the layer takes about 6 s.
        warm = subprocess.run(
            warm_command(seeded, proxy, tmp_path / "state.yaml", "--timeout", "3", "--stall-timeout", "2"),
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        took = time.monotonic() - started
    assert warm.returncode == 0, warm.stdout + warm.stderr
    assert f"ok      {big} sha256:" in warm.stdout
    assert took > 5, "the layer really arrived slowly"


def test_a_layer_that_stalls_after_1_mib_fails_its_image_alone(seeded: Seeded, tmp_path: Path) -> None:
    big = push_big_image(seeded, 6 * MiB)
    stalled = [Fault(r"^GET /v2/demo/big/blobs/sha256:", "stall", times=None, after=MiB, delay=300)]
    with faulty_proxy(seeded.pair.cache.url, stalled) as proxy:
        started = time.monotonic()
        warm = subprocess.run(
            warm_command(seeded, proxy, tmp_path / "state.yaml", "--stall-timeout", "2"),
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        took = time.monotonic() - started
    assert warm.returncode == 1, warm.stdout + warm.stderr
    layer_fails = f"FAILED  {big}: blob sha256:"
    assert layer_fails in warm.stdout and ": no byte for 2 s, after 1048576 bytes" in warm.stdout
    assert f"warmed {len(seeded.images)} of {len(seeded.images) + 1} images" in warm.stdout
    assert took < 20, f"{took:.0f} s: two stalled attempts of 2 s each, and the rest"
    assert proxy.count(r"^GET /v2/demo/big/blobs/sha256:") >= 2, "the stalled attempt was tried again"


def test_a_moved_tag_is_reported_and_a_stale_pin_fails_named(seeded: Seeded, tmp_path: Path) -> None:
    state = tmp_path / "state.yaml"
    assert warm_plainly(seeded, state).returncode == 0
    image = next(i for i in seeded.images if i.repository == "demo/oci-app")
    reference = image.reference(seeded.pair.upstream.address)
    pusher = Pusher(seeded.pair.upstream.url)
    try:
        moved = pusher.single("demo/oci-app", "v1", "linux/amd64", [layer("base"), layer("oci-app-2")])
    finally:
        pusher.close()
    again = warm_plainly(seeded, state)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"moved   {reference} {image.digest} -> {moved.digest}" in again.stdout.splitlines()

    pinned = tmp_path / "pinned.yaml"
    pinned.write_text(f"- {reference}@{image.digest}\n")
    stale = run_warm("--images", str(pinned), "--mirror", seeded.mirror, "--plain-http")
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert (
        f"FAILED  {reference}@{image.digest}: the cache serves {moved.digest} for tag 'v1', not the pinned "
        f"{image.digest}: the upstream moved the tag; update the pin in images.yaml, or the tag"
    ) in stale.stdout
