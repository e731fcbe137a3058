"""warm's state file (`warm.state`): atomic replacement, merging with another writer, batched writes."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest
import yaml

from components.model.images import parse_image
from components.warm.state import StateFile, StateWriter, parse_state
from components.warm.targets import WarmResult, WarmTarget

DIGEST = "sha256:" + "a" * 64


def entry(digest: str = DIGEST) -> dict[str, object]:
    return {"digest": digest, "platforms": ["linux/amd64"]}


def result(reference: str, digest: str = DIGEST) -> WarmResult:
    ref = parse_image(reference)
    return WarmResult(
        WarmTarget(ref, ref.repository, ref.tag or "latest"), digest=digest, platforms=["linux/amd64"]
    )


def test_a_save_adds_to_what_another_writer_put_there_since(tmp_path: Path) -> None:
    path = tmp_path / "state.yaml"
    ours, theirs = StateFile(path), StateFile(path)
    assert ours.load() is None and theirs.load() is None
    ours.save({"quay.io/a/mine:1": entry()})
    theirs.save({"quay.io/a/theirs:1": entry()})  # it read nothing at start; it finds ours now
    ours.save({"quay.io/a/mine:2": entry()})
    assert set(parse_state(path)) == {"quay.io/a/mine:1", "quay.io/a/theirs:1", "quay.io/a/mine:2"}


def test_a_save_keeps_the_files_mode_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "state.yaml"
    path.write_text("{}\n")
    path.chmod(0o640)
    state = StateFile(path)
    state.load()
    state.save({"quay.io/a/b:1": entry()})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["state.yaml"]
    assert yaml.safe_load(path.read_text()) == {"quay.io/a/b:1": entry()}


def test_a_failed_save_leaves_the_previous_file_and_no_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.yaml"
    path.write_text("quay.io/a/old:1: {digest: 'sha256:%s', platforms: []}\n" % ("b" * 64))
    before = path.read_bytes()
    state = StateFile(path)
    state.load()

    def full_disk(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        state.save({"quay.io/a/b:1": entry()})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["state.yaml"]


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"- a list\n", "it is a list"),
        (
            b"quay.io/a/b:1: sha256:abc\n",
            "'quay.io/a/b:1' is not a mapping with 'digest' and 'platforms' (line 1)",
        ),
        (b"quay.io/a/b:1: {digest: [\n", "YAML syntax error"),
    ],
)
def test_a_state_it_cannot_read_is_a_reason_not_an_error(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "state.yaml"
    path.write_bytes(content)
    state = StateFile(path)
    problem = state.load()
    assert problem is not None and reason in problem
    assert state.entries == {}
    state.save({"quay.io/a/b:1": entry()})
    assert parse_state(path) == {"quay.io/a/b:1": entry()}, "replaced"


def test_the_writer_batches_finished_images_and_the_last_write_holds_them_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.yaml"
    state = StateFile(path)
    state.load()
    saves: list[int] = []
    save = state.save

    def counted(finished: dict[str, dict[str, object]]) -> None:
        saves.append(len(finished))
        save(finished)

    monkeypatch.setattr(state, "save", counted)
    references = [f"quay.io/a/image-{n}:1" for n in range(5)]
    writer = StateWriter(state, frozenset(references), interval=60)

    async def finish_five() -> None:
        for reference in references:
            writer.record(result(reference))
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)

    asyncio.run(finish_five())
    assert saves == [1], "the first image is written at once, the rest wait for the interval"
    writer.finish()
    assert saves == [1, 5] and set(parse_state(path)) == set(references)
    writer.finish()
    assert saves == [1, 5], "nothing new: no write"


def test_the_writer_records_catalogue_images_only_and_failed_ones_keep_their_entry(tmp_path: Path) -> None:
    path = tmp_path / "state.yaml"
    path.write_text(f"quay.io/a/failed:1: {{digest: '{DIGEST}', platforms: [linux/arm64]}}\n")
    state = StateFile(path)
    state.load()
    writer = StateWriter(state, frozenset({"quay.io/a/failed:1", "quay.io/a/ok:1"}), interval=0)
    failed = result("quay.io/a/failed:1")
    failed.error = "the registry answered 503"

    async def report() -> None:
        writer.record(failed)
        writer.record(result("quay.io/a/ok:1"))
        writer.record(result("quay.io/a/ok:sha256-" + "c" * 64 + ".sig"))  # a signature: not recorded

    asyncio.run(report())
    writer.finish()
    assert parse_state(path) == {
        "quay.io/a/failed:1": {"digest": DIGEST, "platforms": ["linux/arm64"]},
        "quay.io/a/ok:1": entry(),
    }
    assert writer.failure is None


def test_the_writer_says_why_the_last_write_failed(tmp_path: Path) -> None:
    path = tmp_path / "missing-folder" / "state.yaml"
    state = StateFile(path)
    state.load()
    writer = StateWriter(state, frozenset({"quay.io/a/b:1"}))

    async def report() -> None:
        writer.record(result("quay.io/a/b:1"))

    asyncio.run(report())
    writer.finish()
    assert writer.failure == f"cannot write {path}: No such file or directory"
