"""Benchmark: the offline plan of 100, 1,000 and 3,000 catalogue entries.

Each run is a fresh process (`python -m components plan --stack dev --json --images F`), timed
from start to exit, so start-up and the mock runtime are included. Prints one line per size.
"""

from __future__ import annotations

import itertools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (100, 1000, 3000)
REPEATS = 3


def catalogue(size: int, directory: Path) -> Path:
    path = directory / f"images-{size}.yaml"
    path.write_text("".join(f"- quay.io/bench/app-{n // 10}:v{n % 10}.{n}\n" for n in range(size)))
    return path


def time_plan(images: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "components", "plan", "--stack", "dev", "--json", "--images", str(images)],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as temp:
        results = {}
        for size in SIZES:
            path = catalogue(size, Path(temp))
            runs = [time_plan(path) for _ in range(REPEATS)]
            results[size] = statistics.median(runs)
            print(f"plan of {size:>5} entries: median {results[size]:.2f} s over {REPEATS} runs", flush=True)
        per_entry = [(results[b] - results[a]) / (b - a) * 1000 for a, b in itertools.pairwise(SIZES)]
        print("marginal cost per entry: " + ", ".join(f"{ms:.2f} ms" for ms in per_entry))


if __name__ == "__main__":
    main()
