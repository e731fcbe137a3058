"""Discovery on rendered manifests written in the project (tests/data/manifests)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from components.cli.discover import run
from components.errors import InputError
from components.model.catalogue import load_catalogue, parse_catalogue
from components.model.discovery import append_entries, compare, find_images, manifest_files
from components.model.images import parse_image

DATA = Path(__file__).resolve().parents[1] / "data" / "manifests"
CATALOGUE = (
    "# the team's catalogue\n"
    "- quay.io/argoproj/argocd:v2.7.3   # keep: argocd\n"
    "- image: ghcr.io/dexidp/dex\n"
    "  semver: '>=2.40'\n"
    "\n"
    "# trailing comment\n"
)


def statuses(paths: list[Path], catalogue: str = CATALOGUE) -> dict[str, str]:
    entries = parse_catalogue(catalogue, source="images.yaml")
    return {f.image: f.status for f in compare(find_images(paths), entries)}


def test_every_pod_template_kind_and_container_list_is_read() -> None:
    found = find_images([DATA])
    assert sorted({(f.workload, f.text) for f in found}) == [
        ("CronJob/cleanup", "registry.k8s.io/kubectl:v1.31.0"),
        ("DaemonSet/node-agent", "public.ecr.aws/karpenter/controller:1.2.0"),
        ("Deployment/argocd-dex-server", "ghcr.io/dexidp/dex:v2.41.1@sha256:" + "a" * 64),
        ("Deployment/argocd-server", "quay.io/argoproj/argocd:v2.7.3"),
        ("Job/migrate", "index.docker.io/library/busybox"),
        ("Pod/debug", "docker.io/library/busybox:latest"),
        ("Pod/debug", "nginx"),
        ("ReplicaSet/web", "Nginx:UPPER"),
        ("StatefulSet/argocd-redis", "docker.io/oliver006/redis_exporter@sha256:" + "0123456789abcdef" * 4),
        ("StatefulSet/argocd-redis", "redis:7.0.11-alpine"),
    ]
    server = [f for f in found if f.workload == "Deployment/argocd-server"]
    assert [f.line for f in server] == [30, 33]  # the init container, then the container


def test_directories_are_read_recursively_and_only_manifest_files() -> None:
    assert [p.relative_to(DATA).as_posix() for p in manifest_files([DATA / "kustomize"])] == [
        "kustomize/build.yaml",
        "kustomize/overlay/service.json",
    ]


def test_images_are_normalized_and_compared_with_the_catalogue() -> None:
    assert statuses([DATA]) == {
        "Nginx:UPPER": "invalid",
        "docker.io/library/busybox:latest": "missing",  # Job and ephemeral container: one image
        "docker.io/library/nginx:latest": "missing",
        "docker.io/library/redis:7.0.11-alpine": "missing",
        "docker.io/oliver006/redis_exporter@sha256:" + "0123456789abcdef" * 4: "pinned",
        "ghcr.io/dexidp/dex:v2.41.1@sha256:" + "a" * 64: "selected",
        "public.ecr.aws/karpenter/controller:1.2.0": "missing",
        "quay.io/argoproj/argocd:v2.7.3": "listed",
        "registry.k8s.io/kubectl:v1.31.0": "missing",
    }


def test_digest_pins_say_why() -> None:
    findings = compare(find_images([DATA / "helm-template.yaml"]), [])
    notes = {f.image.split("@")[0]: f for f in findings}
    bare = notes["docker.io/oliver006/redis_exporter"]
    assert bare.ref is None and "cannot fill from a digest" in bare.note
    tagged = notes["ghcr.io/dexidp/dex:v2.41.1"]
    assert tagged.status == "missing" and str(tagged.ref) == "ghcr.io/dexidp/dex:v2.41.1"
    assert "once ghcr.io/dexidp/dex:v2.41.1 is warmed" in tagged.note


def test_write_appends_without_touching_the_users_lines(tmp_path: Path) -> None:
    images = tmp_path / "images.yaml"
    images.write_text(CATALOGUE)
    out = io.StringIO()
    args = argparse.Namespace(paths=[str(DATA)], images=str(images), write=True)
    assert run(args, out) == 1, "a bare digest pin and an invalid image still need a person"
    text = images.read_text()
    assert text.startswith(CATALOGUE)
    assert text[len(CATALOGUE) :] == (
        "# added by `python -m components discover --write`\n"
        "- docker.io/library/busybox:latest\n"
        "- docker.io/library/nginx:latest\n"
        "- docker.io/library/redis:7.0.11-alpine\n"
        "- public.ecr.aws/karpenter/controller:1.2.0\n"
        "- registry.k8s.io/kubectl:v1.31.0\n"
    )
    assert "added 5 images" in out.getvalue()
    assert len(load_catalogue(images)) == 7
    out = io.StringIO()
    run(argparse.Namespace(paths=[str(DATA / "kustomize")], images=str(images), write=True), out)
    assert images.read_text() == text, "nothing missing: nothing written"


def test_append_keeps_an_indented_list_indented_and_refuses_a_flow_list() -> None:
    text = "  - nginx:1.27.3\n  - redis:7.0.11"
    appended = append_entries(text, [parse_image("quay.io/a/b:v1")], source="images.yaml")
    assert appended.endswith("\n  # added by `python -m components discover --write`\n  - quay.io/a/b:v1\n")
    with pytest.raises(InputError, match="not a block list"):
        append_entries("[nginx:1.27.3]\n", [parse_image("quay.io/a/b:v1")], source="images.yaml")


def test_check_only_exits_1_when_images_are_missing(tmp_path: Path) -> None:
    images = tmp_path / "images.yaml"
    images.write_text("- public.ecr.aws/karpenter/controller:1.2.0\n")
    manifest = DATA / "kustomize" / "build.yaml"
    out = io.StringIO()
    assert run(argparse.Namespace(paths=[str(manifest)], images=str(images), write=False), out) == 1
    assert images.read_text() == "- public.ecr.aws/karpenter/controller:1.2.0\n"
    assert "1 listed, 0 selected, 2 missing, 0 pinned, 1 invalid" in out.getvalue()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"a: &x [1]\nb: *x\n", "anchors"),
        (b"kind: Pod\nspec: *x\n", "aliases are not accepted"),
        (b"kind: Pod\nspec: {containers: [\n", "YAML syntax error"),
        (b"\xff\xfe kind: Pod\n", "not UTF-8"),
        (b"[" * 100 + b"]" * 100, "nested more than 64 levels deep"),
    ],
)
def test_hostile_or_broken_manifests_are_input_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        find_images([path])
    assert caught.value.problems[0].source == str(path)


def test_oversize_input_is_refused_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("components.safe_yaml.MAX_MANIFEST_BYTES", 1024 * 1024)
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * (1024 * 1024) + b"\n")
    with pytest.raises(InputError, match="larger than 1 MiB"):
        find_images([path])


def test_a_missing_path_is_named() -> None:
    with pytest.raises(InputError, match="no such file"):
        find_images([DATA / "absent.yaml"])


def test_a_selected_digest_pin_keeps_both_notes() -> None:
    entries = parse_catalogue(CATALOGUE, source="images.yaml")
    (dex,) = [f for f in compare(find_images([DATA / "helm-template.yaml"]), entries) if "dex" in f.image]
    assert dex.status == "selected"
    assert dex.note.startswith("if the lock holds it (selector at images.yaml:3); a pull-through cache")
