"""`rewrite` on a corpus of rendered manifests (tests/data/rewrite): what changed, and that nothing else did.

The corpus has every workload kind `discover` reads, every container list, every Docker Hub
spelling, digest pins that match and that do not, and strings that look like images but are not
a container's image. What changed is checked against a table written by hand; that nothing else
changed is checked two ways that do not use the code under test: the documents as PyYAML (or
`json`) loads them, with the image fields masked, and the text, line by line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.errors import InputError
from components.model import rewrite as rewrite_module
from components.model.image_map import parse_image_map
from components.model.rewrite import RewrittenManifest, rewrite_manifests, rewrite_text

DATA = Path(__file__).resolve().parents[1] / "data" / "rewrite"
MANIFESTS = DATA / "manifests"
IMAGES: dict[str, str] = json.loads((DATA / "outputs.json").read_text())["images"]
IMAGE_MAP = parse_image_map(IMAGES, source="outputs.json")
NGINX_127 = IMAGES["docker.io/library/nginx:1.27"]
NGINX_126 = IMAGES["docker.io/library/nginx:1.26"]
BUSYBOX = IMAGES["docker.io/library/busybox:latest"]
D1 = "sha256:" + "1" * 64
D9 = "sha256:" + "9" * 64

# (file, line) -> (the image as written, what it becomes). Nothing else in the corpus may change.
EXPECTED: dict[tuple[str, int], tuple[str, str]] = {
    ("workloads.yaml", 14): ("busybox", BUSYBOX),  # init container; no tag means latest
    ("workloads.yaml", 17): ("nginx:1.27", NGINX_127),  # double-quoted
    ("workloads.yaml", 21): ("docker.io/library/busybox:latest", BUSYBOX),  # ephemeral, single-quoted
    ("workloads.yaml", 36): ("quay.io/argoproj/argocd:v2.13.3", IMAGES["quay.io/argoproj/argocd:v2.13.3"]),
    ("workloads.yaml", 37): ("grafana/grafana:11.4.0", IMAGES["docker.io/grafana/grafana:11.4.0"]),  # flow
    ("workloads.yaml", 49): (
        "public.ecr.aws/docker/library/redis:7.0.15-alpine",
        IMAGES["public.ecr.aws/docker/library/redis:7.0.15-alpine"],
    ),
    ("workloads.yaml", 62): ("registry.k8s.io/pause:3.10", IMAGES["registry.k8s.io/pause:3.10"]),
    ("workloads.yaml", 65): ("nginx:1.26", NGINX_126),
    ("workloads.yaml", 76): ("library/nginx:1.27", NGINX_127),
    ("workloads.yaml", 87): ("index.docker.io/library/busybox", BUSYBOX),
    ("workloads.yaml", 102): ("docker.io/nginx:1.27", NGINX_127),  # CronJob
    ("workloads.yaml", 114): ("registry-1.docker.io/library/nginx:1.26", NGINX_126),  # ReplicationController
    ("workloads.yaml", 124): (
        "ghcr.io/dexidp/dex:v2.41.1",
        IMAGES[f"ghcr.io/dexidp/dex:v2.41.1@sha256:{'6' * 64}"],
    ),
    ("lookalikes.yaml", 29): ("nginx:1.27", NGINX_127),  # the one real image in the Deployment
    ("lookalikes.yaml", 60): ("nginx:1.27", NGINX_127),  # a Pod inside a List
    ("pins.yaml", 11): (f"nginx:1.27@{D1}", NGINX_127),  # the digest the cache holds
    ("pins.yaml", 13): (
        f"nginx@{D1}",
        NGINX_127.replace(":1.27@", "@"),
    ),  # digest only: the cache's repository
    ("pins.yaml", 21): (
        f"ghcr.io/dexidp/dex:v2.41.1@sha256:{'6' * 64}",
        IMAGES[f"ghcr.io/dexidp/dex:v2.41.1@sha256:{'6' * 64}"],
    ),
    ("app.json", 9): ("nginx:1.27", NGINX_127),
    ("app.json", 10): ("docker.io/grafana/grafana:11.4.0", IMAGES["docker.io/grafana/grafana:11.4.0"]),
    ("nested/team/more.yml", 10): ("index.docker.io/nginx:1.27", NGINX_127),
}
LEFT = {
    ("docker.io/oliver006/redis_exporter:v1.62.0", "not in the catalogue"),
    ("ghcr.io/acme/tool:v1", "not in the catalogue"),
    (f"nginx:1.27@{D9}", f"pinned to {D9}, but the cache holds {D1} for this tag"),
    (f"docker.io/library/nginx@{D9}", "pinned to a digest the cache holds for no catalogue tag"),
    (f"registry.k8s.io/pause:3.10@{D9}", f"pinned to {D9}, but no digest is known for this tag (not warmed)"),
}
CONTAINER_LISTS = {"containers", "initContainers", "ephemeralContainers"}


@pytest.fixture(scope="module")
def results() -> dict[str, RewrittenManifest]:
    return {r.path.relative_to(MANIFESTS).as_posix(): r for r in rewrite_manifests([MANIFESTS], IMAGE_MAP)}


def test_exactly_the_expected_images_change(results: dict[str, RewrittenManifest]) -> None:
    replaced = {
        (name, place.line): (old, new) for name, r in results.items() for old, new, place in r.replaced
    }
    assert replaced == EXPECTED


def test_images_not_in_the_catalogue_are_listed_with_the_reason(
    results: dict[str, RewrittenManifest],
) -> None:
    left = {(u.image, u.reason) for r in results.values() for u in r.unmatched}
    assert {entry for entry in left if not entry[0].startswith("Nginx")} == LEFT
    assert any(image == "Nginx:UPPER" and "not an image reference" in why for image, why in left)


def _load(name: str, text: str) -> list[Any]:
    return [json.loads(text)] if name.endswith(".json") else list(yaml.safe_load_all(text))


def _differences(before: Any, after: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path at which two loaded documents differ."""
    if isinstance(before, dict) and isinstance(after, dict) and before.keys() == after.keys():
        return [p for key in before for p in _differences(before[key], after[key], (*path, key))]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            p
            for i, (b, a) in enumerate(zip(before, after, strict=True))
            for p in _differences(b, a, (*path, i))
        ]
    return [] if before == after else [path]


@pytest.mark.parametrize(
    "name", ["workloads.yaml", "lookalikes.yaml", "pins.yaml", "app.json", "nested/team/more.yml"]
)
def test_the_parsed_documents_differ_only_in_image_fields(
    name: str, results: dict[str, RewrittenManifest]
) -> None:
    before, after = _load(name, results[name].original), _load(name, results[name].text)
    assert len(before) == len(after)
    differences = [
        (i, p) for i, (b, a) in enumerate(zip(before, after, strict=True)) for p in _differences(b, a)
    ]
    for _, path in differences:
        assert path[-1] == "image" and path[-3] in CONTAINER_LISTS, f"{name}: {path} changed"
    assert len(differences) == sum(1 for (file, _) in EXPECTED if file == name)


@pytest.mark.parametrize(
    "name", ["workloads.yaml", "lookalikes.yaml", "pins.yaml", "app.json", "nested/team/more.yml"]
)
def test_the_text_outside_image_values_is_unchanged(name: str, results: dict[str, RewrittenManifest]) -> None:
    before = results[name].original.splitlines(keepends=True)
    after = results[name].text.splitlines(keepends=True)
    assert len(before) == len(after)
    for number, (old_line, new_line) in enumerate(zip(before, after, strict=True), start=1):
        if (name, number) in EXPECTED:
            old, new = EXPECTED[(name, number)]
            assert new_line == old_line.replace(old, new, 1), f"{name}:{number}"
        else:
            assert new_line == old_line, f"{name}:{number} changed"


def test_json_stays_json(results: dict[str, RewrittenManifest]) -> None:
    document = json.loads(results["app.json"].text)
    assert document["spec"]["template"]["spec"]["containers"][0]["image"] == NGINX_127
    assert document["metadata"]["annotations"]["image"] == "nginx:1.27"


def test_rewriting_its_own_output_changes_nothing_and_reports_the_same(
    results: dict[str, RewrittenManifest],
) -> None:
    for name, result in results.items():
        again = rewrite_text(result.text, IMAGE_MAP, source=name)
        assert again.text == result.text and again.replaced == []
        assert [(u.image, u.reason) for u in again.unmatched] == [
            (u.image, u.reason) for u in result.unmatched
        ]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("image: nginx:1.27  # keep\n", f"image: {NGINX_127}  # keep\n"),
        ("image: 'nginx:1.27'\n", f"image: '{NGINX_127}'\n"),
        ('image: "nginx:1.27"\n', f'image: "{NGINX_127}"\n'),
        ("image: |-\n  nginx:1.27\nname: x\n", f'image: "{NGINX_127}"\nname: x\n'),
        ("image: >-\n  nginx:1.27\n\nname: x\n", f'image: "{NGINX_127}"\n\nname: x\n'),
        ('image: "docker.io/library/\\\n  nginx:1.27"\nname: x\n', f'image: "{NGINX_127}"\nname: x\n'),
        ("image:\n  nginx:1.27\n", f"image:\n  {NGINX_127}\n"),
        ("image: nginx:1.27\r\nname: x\r\n", f"image: {NGINX_127}\r\nname: x\r\n"),
    ],
)
def test_every_scalar_style_keeps_its_style_and_its_surroundings(written: str, expected: str) -> None:
    """Block scalars become double-quoted (one line); every other style stays as written."""
    prefix = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - "
    indented = written.replace("\n  ", "\n      ").replace("\nname", "\n    name")
    indented_expected = expected.replace("\n  ", "\n      ").replace("\nname", "\n    name")
    result = rewrite_text(prefix + indented, IMAGE_MAP, source="styles.yaml")
    assert result.text == prefix + indented_expected


def test_a_cache_reference_a_plain_scalar_cannot_hold_is_written_double_quoted() -> None:
    """The grammar allows an IPv6 host, whose `[` would start a flow sequence in a plain scalar."""
    odd = parse_image_map({"nginx:1.27": "[::1]:5000/docker-hub/library/nginx:1.27"}, source="outputs.json")
    text = "kind: Pod\nspec:\n  containers:\n  - {name: a, image: nginx:1.27}\n  - image: 'nginx:1.27'\n"
    result = rewrite_text(text, odd, source="ipv6.yaml")
    quoted = '"[::1]:5000/docker-hub/library/nginx:1.27"'
    assert (
        result.text
        == f"kind: Pod\nspec:\n  containers:\n  - {{name: a, image: {quoted}}}\n  - image: {quoted}\n"
    )


def test_a_byte_order_mark_and_document_markers_are_kept() -> None:
    text = "\ufeff%YAML 1.1\n---\nkind: Pod\nspec:\n  containers:\n  - image: nginx:1.26\n...\n"
    assert rewrite_text(text, IMAGE_MAP, source="bom.yaml").text == text.replace("nginx:1.26", NGINX_126)


def test_a_rewrite_that_would_change_anything_else_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The result is composed again before it is used: a value written wrongly stops the rewrite."""
    monkeypatch.setattr(rewrite_module, "_scalar", lambda value, style: f"{value}\n    injected: true")
    with pytest.raises(RuntimeError, match="more than the image values"):
        rewrite_text("kind: Pod\nspec:\n  containers:\n  - image: nginx:1.27\n", IMAGE_MAP, source="x.yaml")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("kind: Pod\nspec: [unclosed\n", "YAML syntax error"),
        ("kind: Pod\nspec: &a {containers: [{image: nginx:1.27}]}\nother: *a\n", "anchors and aliases"),
        ("kind: Pod\nx: " + "[" * 70 + "]" * 70 + "\n", "nested more than 64"),
    ],
)
def test_hostile_or_broken_yaml_is_bad_input_naming_the_file(text: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem) as raised:
        rewrite_text(text, IMAGE_MAP, source="bad.yaml")
    assert raised.value.problems[0].source == "bad.yaml"
