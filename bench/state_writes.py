"""Benchmark: what writing `--state` as images finish costs, per image or at most once a second.

A warm of N tags records N finished images. Written after every one, the state is saved N times,
each save rendering every entry so far (so the work grows with N squared); `StateWriter` starts at
most one save per `WRITE_INTERVAL`, so a warm lasting W seconds saves at most W + 1 times. This
times `StateFile.save` itself (render, temporary file, fsync, rename, directory fsync) in this
process: CPU seconds (`time.process_time`) and wall seconds, the fsyncs included, for both
schedules, on a temporary directory of this machine's disk. Compare the CPU with the warm's own,
which `warm_scale.py` prints.
Run: `.venv/bin/python bench/state_writes.py [--tags 300] [--seconds 28] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.warm.state import Entry, StateFile  # noqa: E402 - after the path is set


def entries(count: int) -> dict[str, Entry]:
    return {
        f"registry.example/scale/app-{n:04d}:v1": {
            "digest": "sha256:" + f"{n:064x}",
            "platforms": ["linux/amd64"],
        }
        for n in range(count)
    }


def save_schedule(directory: Path, finished: list[dict[str, Entry]]) -> tuple[float, float]:
    """CPU and wall seconds of saving each of `finished` in turn into a fresh state file."""
    state = StateFile(directory / "state.yaml")
    state.load()
    cpu, wall = time.process_time(), time.perf_counter()
    for snapshot in finished:
        state.save(snapshot)
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tags", type=int, default=300)
    parser.add_argument("--seconds", type=int, default=28, help="how long the warm lasts (warm_scale.py)")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    everything = list(entries(options.tags).items())
    # after every image: the first n entries, for n = 1..N
    per_image = [dict(everything[:n]) for n in range(1, options.tags + 1)]
    # at most once a second: images finish evenly over the warm, one save per second, and the last
    per_second = [
        dict(everything[: options.tags * s // options.seconds]) for s in range(1, options.seconds + 1)
    ]
    results: dict[str, list[tuple[float, float]]] = {"after every image": [], "at most once a second": []}
    with tempfile.TemporaryDirectory(prefix="ptc-state-", dir=ROOT) as temp:
        for _ in range(options.rounds):
            for name, schedule in (("after every image", per_image), ("at most once a second", per_second)):
                results[name].append(save_schedule(Path(temp), schedule))
    print(f"{options.tags} tags over {options.seconds} s, median of {options.rounds} rounds\n")
    print("| schedule | saves | CPU, s | wall, s |")
    print("|---|---|---|---|")
    for name, schedule in (("after every image", per_image), ("at most once a second", per_second)):
        cpu = statistics.median(c for c, _ in results[name])
        wall = statistics.median(w for _, w in results[name])
        print(f"| {name} | {len(schedule)} | {cpu:.3f} | {wall:.3f} |")


if __name__ == "__main__":
    main()
