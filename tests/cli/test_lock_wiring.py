"""Issue 12 wired end to end, offline: `validate` and `plan` read the selector lock, `lock` and
`discover` are commands, `signatures` is parsed and checked, and warm's state keeps off the lock."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from components.cli.lock import run as run_lock_command
from components.config.load import load_stack_settings
from components.errors import InputError
from components.model.catalogue import CatalogueEntry, parse_catalogue
from components.model.image_lock import LockedImage, LockedTag, lock_path_for, render_lock
from components.model.warm_selection import catalogue_to_warm, check_state_file, warm_tags_for
from components.program.plan import plan_stack
from tests.cli.test_cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
SELECTOR_CATALOGUE = (
    "- quay.io/jetstack/cert-manager-webhook:v1.16.2\n"
    "- image: quay.io/argoproj/argocd\n"
    "  semver: '>=2.13 <2.14'\n"
    "  latest: 2\n"
    "  signatures: true\n"
)
SELECTOR = "semver '>=2.13 <2.14'; latest 2"


def write_lock(images: Path, selector: str = SELECTOR) -> Path:
    tags = (LockedTag("v2.13.2", DIGEST_A, selector), LockedTag("v2.13.3", DIGEST_B, selector))
    locked = LockedImage("quay.io/argoproj/argocd", selector, tags)
    path = lock_path_for(images)
    path.write_text(render_lock({locked.image: locked}))
    return path


@pytest.fixture
def images(tmp_path: Path) -> Path:
    path = tmp_path / "images.yaml"
    path.write_text(SELECTOR_CATALOGUE)
    return path


def test_validate_reads_the_lock_for_a_selector(images: Path) -> None:
    write_lock(images)
    result = run_cli("validate", "--stack", "dev", "--images", str(images))
    assert result.returncode == 0, result.stderr
    assert "3 tags to warm, 2 of them from images.lock.yaml" in result.stdout


def test_validate_without_a_lock_exits_2_naming_the_lock_command(images: Path) -> None:
    result = run_cli("validate", "--stack", "dev", "--images", str(images))
    assert result.returncode == 2, result.stdout
    assert f"{images}:2: the selector for quay.io/argoproj/argocd has no entry in" in result.stderr
    assert "run `python -m components lock --stack dev` and commit images.lock.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_refuses_a_lock_made_for_another_selector(images: Path) -> None:
    write_lock(images, selector="latest 2")
    result = run_cli("validate", "--stack", "dev", "--images", str(images))
    assert result.returncode == 2
    assert "was locked with another selector in" in result.stderr


def test_plan_warms_each_locked_tag_and_never_the_bare_selector(images: Path) -> None:
    write_lock(images)
    plan = plan_stack("dev", images_file=images)
    sources = sorted(r.inputs["source"] for r in plan.resources if r.type.endswith(":WarmedImage"))
    assert sources == [
        "quay.io/argoproj/argocd:v2.13.2",
        "quay.io/argoproj/argocd:v2.13.3",
        "quay.io/jetstack/cert-manager-webhook:v1.16.2",
    ]


def test_plan_without_a_lock_exits_2_before_any_resource(images: Path) -> None:
    result = run_cli("plan", "--stack", "dev", "--images", str(images), "--json")
    assert result.returncode == 2
    assert "python -m components lock --stack dev" in result.stderr
    assert result.stdout == ""


def test_a_catalogue_of_plain_tags_needs_no_lock(tmp_path: Path) -> None:
    images = tmp_path / "images.yaml"
    images.write_text("- quay.io/a/b:1\n")
    lock_path_for(images).write_text("this is not a lock, and nobody reads it: {")
    assert [str(t.entry.ref) for t in catalogue_to_warm(images)] == ["quay.io/a/b:1"]


@pytest.mark.parametrize("command", ["lock", "discover"])
def test_lock_and_discover_are_commands(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert ("--check" if command == "lock" else "--write") in result.stdout


def test_discover_runs_on_a_rendered_manifest(tmp_path: Path) -> None:
    images = tmp_path / "images.yaml"
    images.write_text("- quay.io/a/b:1\n")
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(
        "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: quay.io/a/b:1}\n"
        "  - {name: c, image: quay.io/c/d:2}\n"
    )
    result = run_cli("discover", str(manifest), "--images", str(images))
    assert result.returncode == 1, result.stderr
    assert f"missing  quay.io/c/d:2  ({manifest}:6 Pod/p)" in result.stdout


class FakeUpstream:
    """A TagSource with fixed tags: `lock --stack` resolves against it."""

    def list_tags(self, registry: str, repository: str) -> list[str]:
        return ["v2.12.9", "v2.13.2", "v2.13.3", "latest"]

    def resolve_digest(self, registry: str, repository: str, tag: str) -> str:
        return {"v2.13.2": DIGEST_A, "v2.13.3": DIGEST_B}[tag]


def test_lock_with_a_stack_writes_the_lock_validate_then_reads(images: Path) -> None:
    args = argparse.Namespace(stack="dev", images=str(images), lock=None, check=False)
    out = io.StringIO()
    assert run_lock_command(args, FakeUpstream, out=out) == 0, out.getvalue()
    assert f"wrote {lock_path_for(images)}" in out.getvalue()
    warm = load_stack_settings("dev", images_file=images).warm_tags()
    assert {str(t.entry.ref): t.digest for t in warm} == {
        "quay.io/argoproj/argocd:v2.13.2": DIGEST_A,
        "quay.io/argoproj/argocd:v2.13.3": DIGEST_B,
        "quay.io/jetstack/cert-manager-webhook:v1.16.2": None,
    }


def _entries(text: str) -> list[CatalogueEntry]:
    return parse_catalogue(text, source="images.yaml")


def test_signatures_is_parsed_per_entry_and_carried_through_the_lock(images: Path) -> None:
    write_lock(images)
    by_ref = {str(t.entry.ref): t.entry.signatures for t in catalogue_to_warm(images)}
    assert by_ref == {
        "quay.io/argoproj/argocd:v2.13.2": True,
        "quay.io/argoproj/argocd:v2.13.3": True,
        "quay.io/jetstack/cert-manager-webhook:v1.16.2": False,
    }
    listed = _entries("- image: quay.io/a/b\n  tags: [1, 2]\n  signatures: true\n- image: quay.io/c/d:3\n")
    assert [(str(e.ref), e.signatures) for e in listed] == [
        ("quay.io/a/b:1", True),
        ("quay.io/a/b:2", True),
        ("quay.io/c/d:3", False),
    ]


def test_signatures_must_be_true_or_false_with_file_and_line() -> None:
    with pytest.raises(InputError) as raised:
        _entries("- quay.io/c/d:3\n- image: quay.io/a/b\n  tags: [1]\n  signatures: sometimes\n")
    assert "images.yaml:4: 'signatures' must be true or false" in str(raised.value)


def test_the_stack_wide_setting_turns_signatures_on_for_every_tag(images: Path) -> None:
    write_lock(images)
    entries = _entries(SELECTOR_CATALOGUE.replace("  signatures: true\n", ""))
    assert not any(t.entry.signatures for t in warm_tags_for(entries, images))
    assert all(t.entry.signatures for t in warm_tags_for(entries, images, signatures=True))


def test_warm_signatures_in_the_stack_file_is_checked_with_its_line(tmp_path: Path) -> None:
    stack = (ROOT / "Pulumi.dev.yaml").read_text()
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "images.yaml").write_text("- quay.io/a/b:1\n")
    (tmp_path / "Pulumi.sig.yaml").write_text(
        stack + "  ecr-pull-through-cache:warm:\n    signatures: sometimes\n"
    )
    with pytest.raises(InputError) as raised:
        load_stack_settings("sig", root=tmp_path)
    line = len(stack.splitlines()) + 2
    assert f"Pulumi.sig.yaml:{line}" in str(raised.value)
    assert "signatures" in str(raised.value)
    (tmp_path / "Pulumi.sig.yaml").write_text(
        stack + "  ecr-pull-through-cache:warm:\n    signatures: true\n"
    )
    assert load_stack_settings("sig", root=tmp_path).warm.signatures


def test_warm_state_may_not_be_the_selector_lock(images: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is the selector lock"):
        check_state_file(lock_path_for(images), images)  # by its name, before it exists
    elsewhere = tmp_path / "other" / "pinned.yaml"
    elsewhere.parent.mkdir()
    write_lock(elsewhere)
    with pytest.raises(InputError, match="--state"):
        check_state_file(lock_path_for(elsewhere), images)  # by its header, whatever its name
    check_state_file(tmp_path / "images.warm-state.yaml", images)
    state = tmp_path / "state.yaml"
    state.write_text(json.dumps({"quay.io/a/b:1": {"digest": DIGEST_A, "platforms": []}}))
    check_state_file(state, images)
