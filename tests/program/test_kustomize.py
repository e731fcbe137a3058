"""The kustomize route, through the real `kubectl kustomize`: `kustomize_images` does what `images` says,
and `rewrite` and kustomize agree on the same manifests, except where README "Rewriting manifests"
says kustomize cannot follow (each of those is checked here too).

Skipped, with the reason shown, where kubectl is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.model.image_map import parse_image_map
from components.model.images import parse_image
from components.model.rewrite import rewrite_manifests
from components.policies.kustomize_images import kustomize_images
from components.program.plan import plan_stack

DATA = Path(__file__).resolve().parents[1] / "data" / "rewrite"
IMAGES: dict[str, str] = json.loads((DATA / "outputs.json").read_text())["images"]
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
D9 = "sha256:" + "9" * 64


@pytest.fixture(scope="module")
def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed: these tests run `kubectl kustomize` (kustomize v5)")
    return found


def kustomize(kubectl: str, folder: Path, entries: list[dict[str, str]], resources: list[str]) -> list[Any]:
    """`kubectl kustomize` of `resources` in `folder` with `entries` as the kustomization's `images`."""
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    (folder / "kustomization.yaml").write_text(
        yaml.safe_dump({**kustomization, "resources": resources, "images": entries})
    )
    built = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=120, check=False
    )
    assert built.returncode == 0, built.stderr
    return [d for d in yaml.safe_load_all(built.stdout) if d]


def hand_spellings(reference: str) -> list[str]:
    """Every way a workload may write a catalogue image, written out here by hand (not by the code under test)."""
    ref = parse_image(reference)
    tag = f":{ref.tag}"
    if ref.registry != "docker.io":
        return [f"{ref.name}{tag}"]
    hub = [
        f"{host}/{ref.repository}{tag}" for host in ("docker.io", "index.docker.io", "registry-1.docker.io")
    ]
    hub.append(f"{ref.repository}{tag}")
    if ref.repository.startswith("library/"):
        short = ref.repository.removeprefix("library/")
        hub += [f"{short}{tag}", f"docker.io/{short}{tag}", f"index.docker.io/{short}{tag}"]
        hub.append(f"registry-1.docker.io/{short}{tag}")
    return hub


def deployment(name: str, images: list[str]) -> dict[str, Any]:
    containers = [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"containers": containers}}},
    }


def workload_forms(key: str, value: str) -> list[tuple[str, str]]:
    """(as a workload writes it, what it must become): every spelling with the catalogue tag; where the
    digest is known, also pinned to it, and pinned to it alone (then the cache's repository at it)."""
    forms = [(written, value) for written in hand_spellings(key)]
    digest = parse_image(value).digest
    if digest is None:
        return forms
    at_digest = value.replace(f":{parse_image(value).tag}@", "@")
    return [
        *forms,
        *[(f"{written}@{digest}", value) for written, _ in forms],
        *[(f"{written.rpartition(':')[0]}@{digest}", at_digest) for written, _ in forms],
    ]


def every_form(images: dict[str, str], folder: Path) -> list[tuple[str, str]]:
    """A Deployment per catalogue tag, a container per form, written to `folder`/rendered.yaml."""
    documents, expected = [], []
    for index, (key, value) in enumerate(sorted(images.items())):
        forms = workload_forms(key, value)
        documents.append(deployment(f"d{index}", [written for written, _ in forms]))
        expected += forms
    (folder / "rendered.yaml").write_text(yaml.safe_dump_all(documents))
    return expected


def built_images(documents: list[Any]) -> list[str]:
    """Every container's image, Deployment by Deployment in the order written (kustomize sorts them)."""
    by_name = {d["metadata"]["name"]: d for d in documents}
    ordered = [by_name[f"d{i}"] for i in range(len(by_name))]
    return [c["image"] for d in ordered for c in d["spec"]["template"]["spec"]["containers"]]


def container_images(documents: list[Any]) -> dict[tuple[str, str, int], Any]:
    """(kind/name, container list, index) -> image, for every container list of every document."""
    found: dict[tuple[str, str, int], Any] = {}

    def walk(node: Any, owner: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in CONTAINER_LISTS and isinstance(value, list):
                    found.update({(owner, key, i): c.get("image") for i, c in enumerate(value)})
                walk(value, owner)
        elif isinstance(node, list):
            for item in node:
                walk(item, owner)

    for document in documents:
        for item in document["items"] if document.get("kind") == "List" else [document]:
            walk(item, f"{item['kind']}/{item['metadata']['name']}")
    return found


def test_the_plans_kustomize_images_send_every_spelling_to_its_images_value(
    kubectl: str, tmp_path: Path
) -> None:
    outputs = plan_stack("dev").outputs
    expected = every_form(outputs["images"], tmp_path)
    built = kustomize(kubectl, tmp_path, outputs["kustomize_images"], ["rendered.yaml"])
    assert built_images(built) == [value for _, value in expected]
    assert len(expected) == len(outputs["images"]) + 3, "the plan's one Docker Hub image is written four ways"


def test_with_warmed_digests_every_spelling_and_every_pin_lands_on_the_cache(
    kubectl: str, tmp_path: Path
) -> None:
    expected = every_form(IMAGES, tmp_path)
    built = kustomize(kubectl, tmp_path, kustomize_images(IMAGES), ["rendered.yaml"])
    assert list(zip([w for w, _ in expected], built_images(built), strict=True)) == expected
    assert any("@" in written and ":" not in written.partition("/")[2] for written, _ in expected)


def test_rewrite_and_kustomize_agree_except_where_kustomize_cannot_follow(
    kubectl: str, tmp_path: Path
) -> None:
    corpus = Path(shutil.copytree(DATA / "manifests", tmp_path / "rendered"))
    files = sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file())
    rewritten = rewrite_manifests([corpus], parse_image_map(IMAGES, source="outputs.json"))
    by_rewrite = container_images([d for r in rewritten for d in yaml.safe_load_all(r.text) if d])
    by_kustomize = container_images(kustomize(kubectl, corpus, kustomize_images(IMAGES), files))
    assert by_rewrite.keys() == by_kustomize.keys()
    nginx, busybox = IMAGES["docker.io/library/nginx:1.27"], IMAGES["docker.io/library/busybox:latest"]
    pause = IMAGES["registry.k8s.io/pause:3.10"]
    # Where they differ: (rewrite's result, kustomize's result), as README "Rewriting manifests" says.
    differences = {
        # No tag (`:latest`): kustomize cannot tell it from the name's other tags.
        ("Pod/debug", "initContainers", 0): (busybox, "busybox"),
        ("Job/migrate", "containers", 0): (busybox, "index.docker.io/library/busybox"),
        # kustomize reads no ephemeral containers.
        ("Pod/debug", "ephemeralContainers", 0): (busybox, "docker.io/library/busybox:latest"),
        # Pinned to another digest: rewrite leaves it (and lists it); kustomize gives the cache's digest.
        ("Deployment/pinned", "containers", 2): (f"nginx:1.27@{D9}", nginx),
        # Pinned where no digest is known: rewrite leaves it; kustomize keeps the pin, from the cache.
        ("Deployment/pinned", "containers", 4): (
            f"registry.k8s.io/pause:3.10@{D9}",
            f"{pause}@{D9}",
        ),
        # A kind discover does not read: kustomize rewrites every containers list.
        ("Rollout/canary", "containers", 0): ("nginx:1.27", nginx),
    }
    assert {k: (by_rewrite[k], by_kustomize[k]) for k in by_rewrite if by_rewrite[k] != by_kustomize[k]} == (
        differences
    )
    assert sum(by_rewrite[k] != v for k, v in by_kustomize.items() if k not in differences) == 0
    assert sum(1 for k in by_rewrite if k not in differences and by_rewrite[k].startswith("1234")) >= 15
