"""The offline demo of the main job: warm a pull-through cache, lose the upstreams, still pull.

Everything runs on 127.0.0.1 and looks like ECR from outside (`standins.ecr_like`): one HTTPS
endpoint with a throwaway CA, ECR's login (`Authorization: Basic base64(AWS:<token>)`) and ECR's
URL layout, `/v2/<prefix>/<repository>/...`, each prefix routed to a distribution proxy in front
of its own upstream. Images built in memory are warmed with the real `warm` command, then pulled
back with skopeo once every upstream is stopped.

The warm tests (tests/registry) build the same picture from the helpers here, so what the demo
shows is what they prove.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from standins.ecr_like import USERNAME, EcrLike, ecr_like
from standins.registries import RegistryUnavailable, RunningRegistry
from standins.seed import Pusher, SeededImage, layer, seed_sample_images

ROOT = Path(__file__).resolve().parent.parent
# Cache prefix -> the upstream registry it mirrors, as a stack's pull-through cache rules name them.
PREFIXES: Mapping[str, str] = {"docker-hub": "docker.io", "quay": "quay.io"}
LOGIN_VARIABLES = ("REGISTRY_USERNAME", "REGISTRY_PASSWORD")
SKOPEO_TIMEOUT = WARM_TIMEOUT = 120  # seconds; the demo itself takes about 5


class DemoFailed(Exception):
    """A step did not do what the demo shows; the message says which."""


@dataclass(frozen=True)
class DemoImage:
    """A seeded image, the upstream registry `images.yaml` names it under, and the prefix that caches it."""

    prefix: str
    image: SeededImage

    @property
    def source(self) -> str:
        """The reference as users list it in images.yaml, e.g. `docker.io/library/busybox:1.36`."""
        return self.image.reference(PREFIXES[self.prefix])

    def cached(self, ecr: EcrLike) -> str:
        """The same image in the cache: `<registry>/<prefix>/<repository>:<tag>`."""
        return self.image.reference(ecr.prefix_url(self.prefix))


def seed_upstreams(ecr: EcrLike) -> list[DemoImage]:
    """Every manifest kind on the Docker-Hub-like upstream, and one image on the second upstream."""
    hub = [DemoImage("docker-hub", image) for image in seed_sample_images(ecr.upstreams["docker-hub"].url)]
    pusher = Pusher(ecr.upstreams["quay"].url)
    try:
        exporter = pusher.single(
            "prometheus/node-exporter", "v1.8.2", "linux/amd64", [layer("base"), layer("node-exporter")]
        )
    finally:
        pusher.close()
    return [*hub, DemoImage("quay", exporter)]


def write_catalogue(images: Sequence[DemoImage], path: Path) -> Path:
    path.write_text("".join(f"- {image.source}\n" for image in images))
    return path


def mirror_url(ecr: EcrLike, prefix: str) -> str:
    """The URL `warm --mirror` takes for one prefix, as `--stack` derives it for real ECR."""
    return f"https://{ecr.prefix_url(prefix)}"


def mirrors(ecr: EcrLike) -> list[str]:
    """`UPSTREAM=URL` for each prefix, as `warm --mirror` takes it."""
    return [f"{upstream}={mirror_url(ecr, prefix)}" for prefix, upstream in PREFIXES.items()]


def mirror_arguments(ecr: EcrLike) -> list[str]:
    return [arg for mirror in mirrors(ecr) for arg in ("--mirror", mirror)]


def warm_environment(ecr: EcrLike, *, login: bool = True) -> dict[str, str]:
    """The warm's environment: the stand-in's CA, and its ECR login unless `login` is False.

    Against real ECR the warm gets its login from GetAuthorizationToken; a cache at another host
    (this one, on 127.0.0.1) gets it from REGISTRY_USERNAME and REGISTRY_PASSWORD.
    """
    environment = {name: value for name, value in os.environ.items() if name not in LOGIN_VARIABLES}
    environment["SSL_CERT_FILE"] = str(ecr.ca_file)
    if login:
        environment.update(zip(LOGIN_VARIABLES, (USERNAME, ecr.token), strict=True))
    return environment


def skopeo_cert_dir(ecr: EcrLike, workdir: Path) -> Path:
    """A folder skopeo's `--src-cert-dir` reads: the stand-in's CA as `ca.crt`."""
    cert_dir = workdir / "certs"
    cert_dir.mkdir(parents=True, exist_ok=True)
    (cert_dir / "ca.crt").write_bytes(ecr.ca_file.read_bytes())
    return cert_dir


def skopeo_pull(ecr: EcrLike, reference: str, platform: str, destination: Path, cert_dir: Path) -> set[str]:
    """Copy one platform of `reference` from the cache into `destination`; return the blob digests it got."""
    os_name, arch, *variant = platform.split("/")
    command = ["skopeo", "--override-os", os_name, "--override-arch", arch]
    command += ["--override-variant", variant[0]] if variant else []
    command += ["copy", "--quiet", "--src-creds", f"{USERNAME}:{ecr.token}", "--src-cert-dir", str(cert_dir)]
    destination.mkdir(parents=True)
    command += [f"docker://{reference}", f"dir:{destination}"]
    try:
        copied = subprocess.run(command, capture_output=True, text=True, timeout=SKOPEO_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise DemoFailed(f"skopeo did not pull {reference} [{platform}] within {SKOPEO_TIMEOUT}s") from None
    if copied.returncode != 0:
        raise DemoFailed(f"skopeo could not pull {reference} [{platform}]: {copied.stderr.strip()}")
    # skopeo's dir: layout names each blob by its hex digest, beside manifest.json and version.
    return {f"sha256:{p.name}" for p in destination.iterdir() if p.name not in ("manifest.json", "version")}


def trusting(ecr: EcrLike) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ecr.ca_file))


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _show_picture(ecr: EcrLike) -> None:
    for prefix, upstream in PREFIXES.items():
        proxy, origin = ecr.proxies[prefix], ecr.upstreams[prefix]
        print(
            f"   {ecr.url}/v2/{prefix}/...  ->  proxy (pid {proxy.process.pid})"
            f"  ->  {upstream} stand-in (pid {origin.process.pid})"
        )
    print(f"   login: Basic {USERNAME}:<token>, as ECR wants it; TLS: a throwaway CA, {ecr.ca_file.name}")


def _warm(ecr: EcrLike, catalogue: Path) -> None:
    command = [sys.executable, "-m", "components", "warm", "--images", str(catalogue), *mirror_arguments(ecr)]
    shown = [
        f"SSL_CERT_FILE={ecr.ca_file.name} REGISTRY_USERNAME={USERNAME} REGISTRY_PASSWORD=<token>",
        f"  python -m components warm --images {catalogue.name}",
        *(f"  --mirror {mirror}" for mirror in mirrors(ecr)),
    ]
    print("   $ " + " \\\n       ".join(shown))
    try:
        warm = subprocess.run(
            command,
            cwd=ROOT,
            env=warm_environment(ecr),
            capture_output=True,
            text=True,
            timeout=WARM_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DemoFailed(f"the warm did not finish within {WARM_TIMEOUT}s") from None
    for line in (warm.stdout + warm.stderr).splitlines():
        print(f"   {line}")
    if warm.returncode != 0:
        raise DemoFailed(f"the warm did not complete (exit {warm.returncode})")


def _stop_upstreams(upstreams: Mapping[str, RunningRegistry]) -> None:
    for prefix, upstream in upstreams.items():
        upstream.stop()
        try:
            httpx.get(f"{upstream.url}/v2/", timeout=2)
        except httpx.TransportError:
            print(
                f"   {PREFIXES[prefix]} stand-in (pid {upstream.process.pid}) stopped: it no longer answers"
            )
            continue
        raise DemoFailed(f"the {PREFIXES[prefix]} stand-in still answers after being stopped")


def _pull_everything(ecr: EcrLike, images: Sequence[DemoImage], workdir: Path) -> tuple[int, int]:
    """Pull every platform of every image; return (platforms pulled, blobs pulled)."""
    cert_dir = skopeo_cert_dir(ecr, workdir)
    platforms = blobs = 0
    for item in images:
        got: set[str] = set()
        for platform in item.image.platforms:
            target = workdir / "pulled" / item.prefix / item.image.repository / platform.replace("/", "_")
            pulled = skopeo_pull(ecr, item.cached(ecr), platform, target, cert_dir)
            print(f"   pulled {item.cached(ecr)} [{platform}]: manifest and {len(pulled)} blobs")
            got |= pulled
            platforms += 1
        missing = set(item.image.blobs) - got
        if missing:
            raise DemoFailed(f"{item.cached(ecr)}: the cache did not serve {len(missing)} of its blobs")
        blobs += len(got)
    return platforms, blobs


def _summary(ecr: EcrLike, images: Sequence[DemoImage], platforms: int, blobs: int) -> None:
    answered = ecr.requests()
    refused = sum(1 for _, _, status in answered if status == 401)
    under = {prefix: sum(path.startswith(f"/v2/{prefix}/") for _, path, _ in answered) for prefix in PREFIXES}
    pings = sum(path == "/v2/" for _, path, _ in answered)
    elsewhere = len(answered) - sum(under.values()) - pings
    layout = ", ".join(f"{count} requests under /v2/{prefix}/" for prefix, count in under.items())
    with httpx.Client(verify=trusting(ecr), timeout=10) as anonymous:
        challenge = anonymous.get(f"{ecr.url}/v2/").headers.get("www-authenticate", "")
    print("   every tag, platform and blob came from the cache after both upstreams were stopped:")
    print(f"     {len(images)} images, {platforms} platforms, {blobs} blobs")
    print(f"   ECR's URL layout: {layout}, {pings} to /v2/ (skopeo's ping), {elsewhere} elsewhere")
    print(f"   ECR's login: {refused} requests without it (each client's first try) got 401 {challenge};")
    print("     every other request carried it, since the cache answers nothing else without it")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ptc-demo-") as temp:
        workdir = Path(temp)
        step("starting an ECR-like cache on 127.0.0.1: HTTPS, ECR's login and URL layout")
        try:
            with ecr_like(PREFIXES, workdir / "registries") as ecr:
                _show_picture(ecr)

                step("seeding both upstreams with images built in memory (no Docker)")
                images = seed_upstreams(ecr)
                for item in images:
                    print(f"   {item.source}  {item.image.media_type}  {', '.join(item.image.platforms)}")
                catalogue = write_catalogue(images, workdir / "images.yaml")

                step("warming every tag through the cache with this project's warm command")
                _warm(ecr, catalogue)

                step("stopping both upstreams: the cache is on its own now")
                _stop_upstreams(ecr.upstreams)

                step(
                    "pulling every tag, platform and blob back from the cache with skopeo (HTTPS, same login)"
                )
                platforms, blobs = _pull_everything(ecr, images, workdir)

                step("summary")
                _summary(ecr, images, platforms, blobs)

                pids = ", ".join(str(proxy.process.pid) for proxy in ecr.proxies.values())
                step(f"stopping the front and its proxies (pids {pids})")
        except (RegistryUnavailable, DemoFailed) as error:
            print(f"demo failed: {error}", file=sys.stderr)
            return 1
        print("   done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
