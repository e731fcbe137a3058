"""The offline demo of the main job: warm a pull-through cache, lose the upstream, still pull.

Everything runs on 127.0.0.1: a distribution registry as the upstream, another in
proxy mode as the cache, images built in memory, the real `warm` command, and
skopeo as the client that proves the cache serves every tag and platform.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from standins.registries import upstream_and_cache
from standins.seed import SeededImage, seed_sample_images

ROOT = Path(__file__).resolve().parent.parent


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def pull_with_skopeo(reference: str, platform: str, destination: Path) -> None:
    os_name, arch, *variant = platform.split("/")
    command = ["skopeo", "--override-os", os_name, "--override-arch", arch]
    command += ["--override-variant", variant[0]] if variant else []
    destination.mkdir(parents=True)
    command += ["copy", "--quiet", "--src-tls-verify=false", f"docker://{reference}", f"dir:{destination}"]
    subprocess.run(command, check=True, capture_output=True, text=True)
    blobs = [p for p in destination.iterdir() if p.name not in ("manifest.json", "version")]
    print(f"   pulled {reference} [{platform}]: manifest and {len(blobs)} blobs")


def show_cache_serves(images: list[SeededImage], cache_address: str, workdir: Path) -> None:
    for image in images:
        for platform in image.platforms:
            target = workdir / "pulled" / image.repository.replace("/", "_") / platform.replace("/", "_")
            pull_with_skopeo(image.reference(cache_address), platform, target)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ptc-demo-") as temp:
        workdir = Path(temp)
        step("starting an upstream registry and a pull-through cache in front of it (127.0.0.1)")
        with upstream_and_cache(workdir / "registries") as pair:
            print(f"   upstream {pair.upstream.url} (pid {pair.upstream.process.pid})")
            print(f"   cache    {pair.cache.url} (pid {pair.cache.process.pid}), proxy of the upstream")

            step("seeding the upstream with images built in memory (no Docker)")
            images = seed_sample_images(pair.upstream.url)
            for image in images:
                print(
                    f"   {image.reference(pair.upstream.address)}  {image.media_type}  {', '.join(image.platforms)}"
                )
            catalogue = workdir / "images.yaml"
            catalogue.write_text("".join(f"- {i.reference(pair.upstream.address)}\n" for i in images))

            step("warming every tag through the cache: python -m components warm")
            lock = workdir / "images.lock.yaml"
            warm = subprocess.run(
                [
                    sys.executable, "-m", "components", "warm",
                    "--images", str(catalogue),
                    "--mirror", f"{pair.upstream.address}={pair.cache.url}",
                    "--plain-http", "--lock", str(lock),
                ],
                cwd=ROOT,
                check=False,
            )  # fmt: skip
            if warm.returncode != 0:
                print("demo failed: the warm did not complete", file=sys.stderr)
                return 1

            step("stopping the upstream: the cache is on its own now")
            pair.upstream.stop()
            try:
                httpx.get(f"{pair.upstream.url}/v2/", timeout=2)
                print("demo failed: the upstream still answers", file=sys.stderr)
                return 1
            except httpx.TransportError:
                print(f"   {pair.upstream.url} no longer answers")

            step("pulling every tag and platform from the cache with skopeo")
            show_cache_serves(images, pair.cache.address, workdir)

            step("stopping the cache")
        print("   done: every tag, platform and blob came from the cache after the upstream was gone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
