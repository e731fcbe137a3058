"""Benchmark: how the warm's time and memory grow with the catalogue (issue 19, item 5).

One seeded upstream on 127.0.0.1: N small single-platform images (a shared 4 KiB base layer, a
unique 1 KiB layer and a config). For each catalogue size, a fresh cold distribution pull-through
cache, and `python -m components warm --concurrency 8 --state <fresh file>` through it, timed from
process start to exit, its own CPU time and peak RSS read from `wait4` (not from this process's children, whose
`ru_maxrss` would count the pages of the process that forked them). Sizes are interleaved over the
rounds; medians are reported, and each size's time against the smallest.
Run: `.venv/bin/python bench/warm_scale.py [--sizes 100 300] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from standins.registries import RunningRegistry, start_registry  # noqa: E402 - after the path is set
from standins.seed import Pusher, SeededImage, layer  # noqa: E402


def seed(upstream_url: str, count: int) -> list[SeededImage]:
    pusher = Pusher(upstream_url)
    try:
        base = layer("base", 4 * 1024)
        return [
            pusher.single(f"scale/app-{n:04d}", "v1", "linux/amd64", [base, layer(f"app-{n}", 1024)])
            for n in range(count)
        ]
    finally:
        pusher.close()


def warm(
    catalogue: Path, upstream: RunningRegistry, cache: RunningRegistry, state: Path
) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS in MB of one warm."""
    command = [
        sys.executable, "-m", "components", "warm", "--images", str(catalogue),
        "--mirror", f"{upstream.address}={cache.url}", "--plain-http", "--concurrency", "8",
        "--state", str(state),
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    assert os.waitstatus_to_exitcode(status) == 0, process.stderr.read() if process.stderr else ""
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    compileall.compile_dir(ROOT / "components", quiet=1)
    with tempfile.TemporaryDirectory(prefix="ptc-scale-") as temp:
        work = Path(temp)
        upstream = start_registry("upstream", work)
        try:
            images = seed(upstream.url, max(options.sizes))
            results: dict[int, list[tuple[float, float, float]]] = {size: [] for size in options.sizes}
            serial = 0
            for round_number in range(options.rounds):
                shift = round_number % len(options.sizes)
                for size in options.sizes[shift:] + options.sizes[:shift]:
                    catalogue = work / f"images-{size}.yaml"
                    catalogue.write_text(
                        "".join(f"- {i.reference(upstream.address)}\n" for i in images[:size])
                    )
                    serial += 1
                    cache = start_registry(f"cache-{serial}", work, remote_url=upstream.url)
                    try:
                        results[size].append(warm(catalogue, upstream, cache, work / f"state-{serial}.yaml"))
                    finally:
                        cache.stop()
                    seconds, cpu, rss = results[size][-1]
                    print(
                        f"round {round_number + 1}: {size:5d} tags {seconds:6.2f} s, CPU {cpu:5.2f} s, "
                        f"peak RSS {rss:5.1f} MB",
                        flush=True,
                    )
            smallest = statistics.median(s for s, _, _ in results[options.sizes[0]])
            print("\n| tags | wall, s (median) | ÷ smallest | CPU, s (median) | peak RSS, MB (median, max) |")
            print("|---|---|---|---|---|")
            for size in options.sizes:
                walls = [s for s, _, _ in results[size]]
                cpus = [c for _, c, _ in results[size]]
                peaks = [r for _, _, r in results[size]]
                print(
                    f"| {size} | {statistics.median(walls):.2f} | {statistics.median(walls) / smallest:.2f} | "
                    f"{statistics.median(cpus):.2f} | {statistics.median(peaks):.1f}, {max(peaks):.1f} |"
                )
        finally:
            upstream.stop()


if __name__ == "__main__":
    main()
