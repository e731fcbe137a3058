"""Benchmark: copy a catalogue into fresh target repositories, against `skopeo copy --all` x8 (issue 21).

One seeded upstream on 127.0.0.1, as `warm_speed.py` seeds it: N images, each a shared 256 KiB base
layer, a unique 64 KiB layer and a config. Every contender, every round, copies the whole catalogue
into its own fresh, empty target registry (distribution, taking pushes):
- `skopeo copy --all` x8: one skopeo per image, 8 at a time, registry to registry;
- `warm --copy`: `python -m components warm --copy UPSTREAM=<target> --upstream UPSTREAM=<upstream>
  --concurrency 8`, which also verifies every copy after it pushed it.
Rounds are interleaved; per run, wall time, client CPU (the contender's processes) and registry CPU
(the target's and the upstream's). Then, into each target the warm filled, a no-op re-run
(nothing changed upstream), timed against that round's full copy; once more through a counting
proxy, for the pushes it made (none, when it is a no-op), and the interpreter's start-up alone
(`import components.cli.warm`), which a no-op mostly is. `--base-kib` and `--own-kib` set the
layers' sizes (default 256 and 64 KiB, as `warm_speed.py`'s; real images are far larger).
Run: `.venv/bin/python bench/copy_speed.py [--rounds N] [--images N] [--base-kib K] [--own-kib K]`.
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.warm_speed import children_cpu, process_cpu, seed, summary  # noqa: E402 - after the path is set
from standins.faulty_proxy import faulty_proxy  # noqa: E402
from standins.registries import RunningRegistry, start_registry  # noqa: E402
from standins.seed import SeededImage  # noqa: E402

UPSTREAM = "registry.example.com"  # as the catalogue names it; its API answers on loopback (--upstream)


def warm_copy(
    catalogue: Path, upstream: RunningRegistry, target_url: str
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "components", "warm", "--images", str(catalogue),
        "--copy", f"{UPSTREAM}={target_url}", "--upstream", f"{UPSTREAM}={upstream.url}",
        "--plain-http", "--concurrency", "8",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def skopeo8(images: list[SeededImage], upstream: RunningRegistry, target: RunningRegistry) -> None:
    def one(image: SeededImage) -> None:
        subprocess.run(
            ["skopeo", "copy", "--all", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
             f"docker://{upstream.address}/{image.repository}:{image.tag}",
             f"docker://{target.address}/{image.repository}:{image.tag}"],
            check=True, capture_output=True,
        )  # fmt: skip

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, images))


def timed(
    action: Callable[[], object], upstream: RunningRegistry, target: RunningRegistry
) -> tuple[float, float, float]:
    """Wall, client CPU and registry CPU of `action()`."""
    registries = process_cpu(upstream.process.pid) + process_cpu(target.process.pid)
    client = children_cpu()
    started = time.perf_counter()
    action()
    wall = time.perf_counter() - started
    return (
        wall,
        children_cpu() - client,
        process_cpu(upstream.process.pid) + process_cpu(target.process.pid) - registries,
    )


def start_up(runs: int = 5) -> list[float]:
    """The warm command's interpreter start-up and imports, timed alone."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import components.cli.warm"], cwd=ROOT, check=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--base-kib", type=int, default=256)
    parser.add_argument("--own-kib", type=int, default=64)
    options = parser.parse_args()
    compileall.compile_dir(ROOT / "components", quiet=1)
    with tempfile.TemporaryDirectory(prefix="ptc-copy-bench-") as temp:
        work = Path(temp)
        upstream = start_registry("upstream", work)
        try:
            images = seed(upstream.url, options.images, options.base_kib, options.own_kib)
            catalogue = work / "images.yaml"
            catalogue.write_text("".join(f"- {UPSTREAM}/{i.repository}:{i.tag}\n" for i in images))
            runs: dict[str, list[tuple[float, float, float]]] = {
                "skopeo copy --all x8": [],
                "warm --copy": [],
            }
            noop: list[tuple[float, float, int]] = []
            serial = 0
            for round_number in range(options.rounds + 1):  # the first round is an untimed warm-up
                names = list(runs) if round_number % 2 else list(reversed(runs))
                for name in names:
                    serial += 1
                    target = start_registry(f"target-{serial}", work)
                    try:
                        if name == "warm --copy":
                            run = timed(partial(warm_copy, catalogue, upstream, target.url), upstream, target)
                            started = time.perf_counter()
                            warm_copy(catalogue, upstream, target.url)
                            again = time.perf_counter() - started
                            with faulty_proxy(target.url) as counting:
                                warm_copy(catalogue, upstream, counting.url)
                                pushes = sum(counting.count(rf"^{m} ") for m in ("POST", "PATCH", "PUT"))
                            if round_number:
                                noop.append((again, run[0], pushes))
                        else:
                            run = timed(partial(skopeo8, images, upstream, target), upstream, target)
                    finally:
                        target.stop()
                        subprocess.run(["rm", "-rf", str(target.root)], check=False)
                    if round_number:
                        runs[name].append(run)
                        print(
                            f"round {round_number}: {name:<22} {run[0]:5.2f} s, client CPU {run[1]:.2f} s, registry CPU {run[2]:.2f} s",
                            flush=True,
                        )
            print(f"\n{len(images)} images, {options.rounds} interleaved rounds, medians (range)\n")
            print("| contender | wall, s | client CPU, s | registry CPU, s |")
            print("|---|---|---|---|")
            for name, measured in runs.items():
                print(
                    f"| {name} | {summary([m[0] for m in measured])} | {summary([m[1] for m in measured])} | {summary([m[2] for m in measured])} |"
                )
            warm, skopeo = runs["warm --copy"], runs["skopeo copy --all x8"]
            wins = sum(w[0] < s[0] for w, s in zip(warm, skopeo, strict=True))
            print(f"\nwarm --copy faster than skopeo x8 in {wins} of {len(warm)} rounds")
            ratios = [again / full for again, full, _ in noop]
            print(
                f"no-op re-run: {summary([a for a, _, _ in noop])} s, {statistics.median(ratios):.1%} of a full copy "
                f"(range {min(ratios):.1%} to {max(ratios):.1%}), pushes {sorted({p for _, _, p in noop})}"
            )
            print(f"of which start-up (import components.cli.warm): {summary(start_up())} s")
        finally:
            upstream.stop()


if __name__ == "__main__":
    main()
