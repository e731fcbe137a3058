"""Benchmark: warm 50 images cold through a pull-through cache, against the alternatives (issue 14).

One seeded upstream on 127.0.0.1: 50 images, each a shared 256 KiB base layer, a unique 64 KiB
layer and a config. Every contender, every round, gets its own fresh cold cache (distribution in
proxy mode) in front of it:
- `probe`: GET every manifest, then HEAD every blob, 8 at a time (in this process, aiohttp): the
  least a client can ask of the cache; on 2 cores the registries, not the client, set its pace;
- `skopeo x8`: `skopeo copy docker://... dir:...`, 8 at once (blobs go to a temporary folder);
- `warm`: `python -m components warm --concurrency 8 --state <fresh file>`, timed from process
  start to exit (the state file is written as images finish, as a user's warm writes it);
- with `--baseline REV`, the same warm from the project at git revision REV (checked out into a
  temporary worktree), to measure a change against what it changes, on the same machine, in the
  same rounds.
Rounds are interleaved (the order rotates each round) after one untimed warm-up of each. Per run:
wall time; client CPU (the contender's processes, from `getrusage(RUSAGE_CHILDREN)`, or this
process's own CPU for the probe); registry CPU (the cache's and the upstream's utime+stime from
/proc/<pid>/stat); and the blobs the cache failed to keep, read from its storage folder (a blob
is kept when the image's repository links it) after the cache had 2 s to finish its stores.
Then a no-op re-warm with an unchanged state file, counting its blob requests, and the bytes the
warm wrote to disk (its state file's writes). Run:
`.venv/bin/python bench/warm_speed.py [--rounds N] [--quick] [--storage DIR] [--baseline REV]`;
`--quick` leaves skopeo out, for iterating on the warm; `--storage /dev/shm` puts the caches (and
skopeo's copies) on tmpfs.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from standins.faulty_proxy import faulty_proxy  # noqa: E402 - after the path is set
from standins.registries import RunningRegistry, start_registry  # noqa: E402
from standins.seed import Pusher, SeededImage, layer  # noqa: E402

COUNT = 50
CONCURRENCY = 8
SETTLE = 2.0
TICK = os.sysconf("SC_CLK_TCK")
MEASURE_IO = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: print('write_bytes', dict(l.split(': ') for l in open('/proc/self/io').read()"
    ".splitlines())['write_bytes'], file=sys.stderr))\n"
    "sys.argv = ['components', *sys.argv[1:]]\n"
    "runpy.run_module('components', run_name='__main__')\n"
)


@dataclass
class Run:
    wall: float
    client_cpu: float
    registry_cpu: float
    lost: int


Action = Callable[[RunningRegistry, Path], None]


@dataclass
class Contender:
    name: str
    action: Action
    runs: list[Run] = field(default_factory=list)


def seed(upstream_url: str, count: int, base_kib: int = 256, own_kib: int = 64) -> list[SeededImage]:
    """`count` images: a base layer all share (`base_kib`), a layer of their own (`own_kib`), a config."""
    pusher = Pusher(upstream_url)
    try:
        base = layer("base", base_kib * 1024)
        return [
            pusher.single(
                f"bench/app-{n:03d}", "v1", "linux/amd64", [base, layer(f"app-{n}", own_kib * 1024)]
            )
            for n in range(count)
        ]
    finally:
        pusher.close()


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def lost_blobs(cache: RunningRegistry, images: list[SeededImage]) -> int:
    """Blobs of each image its repository in the cache does not link (distribution's storage layout)."""
    repositories = cache.root / "data" / "docker" / "registry" / "v2" / "repositories"
    return sum(
        not (
            repositories / image.repository / "_layers" / "sha256" / blob.removeprefix("sha256:") / "link"
        ).exists()
        for image in images
        for blob in image.blobs
    )


def warm_command(catalogue: Path, upstream: RunningRegistry, cache_url: str, *extra: str) -> list[str]:
    """The warm, run from the project in the working directory (`subprocess.run(..., cwd=...)`)."""
    return [
        sys.executable, "-c", MEASURE_IO, "warm", "--images", str(catalogue),
        "--mirror", f"{upstream.address}={cache_url}", "--plain-http", "--concurrency", str(CONCURRENCY), *extra,
    ]  # fmt: skip


@contextmanager
def checked_out(revision: str) -> Iterator[Path]:
    """The project at `revision`, in a temporary git worktree, its bytecode compiled; removed after."""
    with tempfile.TemporaryDirectory(prefix="ptc-baseline-") as temp:
        tree = Path(temp) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), revision], check=True
        )
        try:
            compileall.compile_dir(tree / "components", quiet=1)
            yield tree
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)


def skopeo_copy(reference: str, destination: Path) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            f"docker://{reference}",
            f"dir:{destination}",
        ],
        check=True,
        capture_output=True,
    )


def probe(cache: RunningRegistry, images: list[SeededImage]) -> None:
    async def run() -> None:
        limit = asyncio.Semaphore(CONCURRENCY)
        accept = {"Accept": images[0].media_type}
        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        async with aiohttp.ClientSession(connector=connector) as client:

            async def ask(method: str, url: str) -> None:
                async with limit, client.request(method, url, headers=accept) as response:
                    response.raise_for_status()
                    await response.read()

            base = cache.url
            await asyncio.gather(*(ask("GET", f"{base}/v2/{i.repository}/manifests/{i.tag}") for i in images))
            await asyncio.gather(
                *(ask("HEAD", f"{base}/v2/{i.repository}/blobs/{b}") for i in images for b in i.blobs)
            )

    asyncio.run(run())


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f} to {max(values):.2f})"


def measure(
    contender: Contender, name: str, work: Path, upstream: RunningRegistry, images: list[SeededImage]
) -> Run:
    """One run of `contender` into a fresh cold cache called `name`, stopped and removed afterwards.

    The disk is synced first, so the writeback of the run before (its stores, its removal) does
    not land in this one."""
    os.sync()
    cache = start_registry(name, work, remote_url=upstream.url)
    try:
        scratch = work / f"{name}-out"
        registries = process_cpu(cache.process.pid) + process_cpu(upstream.process.pid)
        client = children_cpu() + time.process_time()
        started = time.perf_counter()
        contender.action(cache, scratch)
        wall = time.perf_counter() - started
        client = children_cpu() + time.process_time() - client
        registries = process_cpu(cache.process.pid) + process_cpu(upstream.process.pid) - registries
        time.sleep(SETTLE)
        return Run(wall, client, registries, lost_blobs(cache, images))
    finally:
        cache.stop()
        subprocess.run(["rm", "-rf", str(work / f"{name}-out"), str(cache.root)], check=False)


def print_table(contenders: list[Contender], images: list[SeededImage], rounds: int) -> None:
    probe_wall = statistics.median(r.wall for r in contenders[0].runs)
    print(
        f"\n{len(images)} images ({sum(len(i.blobs) for i in images)} blobs), {rounds} interleaved rounds, medians (range)\n"
    )
    print("| contender | wall, s | ÷ probe | client CPU, s | registry CPU, s | blobs lost |")
    print("|---|---|---|---|---|---|")
    for contender in contenders:
        walls = [r.wall for r in contender.runs]
        print(
            f"| {contender.name} | {summary(walls)} | {summary([w / probe_wall for w in walls])} | "
            f"{summary([r.client_cpu for r in contender.runs])} | "
            f"{summary([r.registry_cpu for r in contender.runs])} | "
            f"{', '.join(str(r.lost) for r in contender.runs)} |"
        )
    *others, warm = contenders
    for other in others[1:]:  # the warm against each contender but the probe, round by round
        wins = sum(w.wall < o.wall for w, o in zip(warm.runs, other.runs, strict=True))
        pairs = ", ".join(f"{w.wall:.2f}/{o.wall:.2f}" for w, o in zip(warm.runs, other.runs, strict=True))
        print(f"\nwarm against {other.name}, round by round: {pairs}; faster in {wins} of {rounds}")


def noop_rewarm(catalogue: Path, upstream: RunningRegistry, work: Path) -> None:
    """Warm with a state file, then again with it unchanged, counting the second run's blob requests."""
    noop_cache = start_registry("cache-noop", work, remote_url=upstream.url)
    state = work / "state.yaml"
    try:
        with faulty_proxy(noop_cache.url) as counting:
            command = warm_command(catalogue, upstream, counting.url, "--state", str(state))
            subprocess.run(command, capture_output=True, check=True, cwd=ROOT)
            before = counting.count("/blobs/")
            started = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True, cwd=ROOT)
            seconds = time.perf_counter() - started
            print(
                f"no-op re-warm with an unchanged state file: {counting.count('/blobs/') - before} "
                f"blob requests, {seconds:.2f} s"
            )
    finally:
        noop_cache.stop()


def warm_from(project: Path, catalogue: Path, upstream: RunningRegistry, written: list[str]) -> Action:
    """The warm contender: the project at `project` warms the catalogue with a fresh state file."""

    def warm(cache: RunningRegistry, scratch: Path) -> None:
        scratch.mkdir(parents=True, exist_ok=True)
        command = warm_command(catalogue, upstream, cache.url, "--state", str(scratch / "state.yaml"))
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=project)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        written.extend(line.split()[1] for line in done.stderr.splitlines() if line.startswith("write_bytes"))

    return warm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=COUNT)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--storage",
        type=Path,
        help="where the caches store and skopeo writes (default: the temporary folder); /dev/shm "
        "takes the disk, the noisiest part of the measurement, out of it",
    )
    parser.add_argument("--baseline", metavar="REV", help="also warm with the project at this git revision")
    options = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="ptc-bench-") as temp,
        tempfile.TemporaryDirectory(prefix="ptc-bench-", dir=options.storage) as stored,
        checked_out(options.baseline) if options.baseline else nullcontext(None) as baseline,
    ):
        work, storage = Path(temp), Path(stored)
        upstream = start_registry("upstream", work)
        serial = iter(range(10**6))
        try:
            images = seed(upstream.url, options.images)
            catalogue = work / "images.yaml"
            catalogue.write_text("".join(f"- {i.reference(upstream.address)}\n" for i in images))
            written: list[str] = []
            baseline_written: list[str] = []

            def skopeo8(cache: RunningRegistry, scratch: Path) -> None:
                with ThreadPoolExecutor(CONCURRENCY) as pool:
                    list(
                        pool.map(
                            lambda i: skopeo_copy(i.reference(cache.address), scratch / i.repository), images
                        )
                    )

            contenders = [
                Contender("probe (GET manifests, HEAD blobs, x8)", lambda cache, _: probe(cache, images)),
                *([] if options.quick else [Contender("skopeo copy x8", skopeo8)]),
                *(
                    [
                        Contender(
                            f"warm at {options.baseline}",
                            warm_from(baseline, catalogue, upstream, baseline_written),
                        )
                    ]
                    if baseline is not None
                    else []
                ),
                Contender(
                    "warm --concurrency 8 (this project)", warm_from(ROOT, catalogue, upstream, written)
                ),
            ]

            # The warm runs from compiled bytecode, as an installed (or once-run) project does. Where
            # PYTHONDONTWRITEBYTECODE is set, as on the machines these numbers come from, no run
            # writes it, and each would compile the project's modules again: 15 to 20 ms of start-up.
            compileall.compile_dir(ROOT / "components", quiet=1)
            for contender in contenders:  # untimed: the page cache warm
                measure(contender, f"cache-{next(serial)}", storage, upstream, images)
            written.clear()  # only the timed runs' writes are reported
            baseline_written.clear()
            for round_number in range(options.rounds):
                shift = round_number % len(contenders)
                for contender in contenders[shift:] + contenders[:shift]:
                    contender.runs.append(
                        measure(contender, f"cache-{next(serial)}", storage, upstream, images)
                    )
                    run = contender.runs[-1]
                    print(
                        f"round {round_number + 1}: {contender.name:<40} {run.wall:5.2f} s, client CPU "
                        f"{run.client_cpu:.2f} s, registry CPU {run.registry_cpu:.2f} s, lost {run.lost}",
                        flush=True,
                    )

            print_table(contenders, images, options.rounds)
            print(
                f"\nbytes the warm process wrote to disk (its state file): {', '.join(sorted(set(written)))}"
            )
            if baseline is not None:
                print(f"bytes the baseline's warm wrote: {', '.join(sorted(set(baseline_written)))}")

            noop_rewarm(catalogue, upstream, work)
        finally:
            upstream.stop()


if __name__ == "__main__":
    main()
