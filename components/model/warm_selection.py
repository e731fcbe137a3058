"""What a catalogue warms: its listed tags, and its selectors' tags as `images.lock.yaml` records them.

One function for every reader (the stack's settings for `validate`, `plan` and `pulumi up`, and
the `warm` command), so each reads the same lock the same way, offline. The lock is read only
when some entry has a selector: a catalogue of plain tags needs none.

`warm` also keeps a digest state of its own (`--state FILE`: what it warmed last, so unchanged
tags are skipped). That file is not the selector lock, which only `lock` writes and which you
commit; `check_state_file` keeps the one from overwriting the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from components.errors import InputError, Problem
from components.model.catalogue import CatalogueEntry, load_catalogue
from components.model.image_lock import LOCK_HEADER, WarmTag, load_lock, lock_path_for, tags_to_warm
from components.safe_yaml import read_file


def warm_tags_for(
    entries: Sequence[CatalogueEntry],
    images_file: Path | str,
    *,
    stack: str | None = None,
    signatures: bool = False,
) -> list[WarmTag]:
    """Every concrete tag to warm, sorted; `signatures` (the stack's `warm.signatures`) turns them on for all.

    Raises InputError naming `python -m components lock [--stack S]` when a selector has no lock
    entry, or its lock entry was made for another selector.
    """
    lock_path = lock_path_for(images_file)
    lock = load_lock(lock_path) if any(entry.selector for entry in entries) else {}
    tags = tags_to_warm(entries, lock, lock_source=str(lock_path), stack=stack)
    if not signatures:
        return tags
    return [WarmTag(replace(tag.entry, signatures=True), tag.digest) for tag in tags]


def catalogue_to_warm(
    images_file: Path | str, *, stack: str | None = None, signatures: bool = False
) -> list[WarmTag]:
    """What `warm --images F` warms: the catalogue at `images_file`, through the lock beside it."""
    return warm_tags_for(load_catalogue(images_file), images_file, stack=stack, signatures=signatures)


def check_state_file(path: Path, images_file: Path | str, *, option: str = "--state") -> None:
    """Refuse to write `warm`'s digest state over the selector lock (by its name, or by its header)."""
    lock_path = lock_path_for(images_file)
    is_lock_name = path.resolve() == lock_path.resolve()
    header = LOCK_HEADER.encode("utf-8")
    try:
        is_lock_text = read_file(path, max_bytes=len(header), source=option).startswith(header)
    except (OSError, InputError):  # absent, or not a file warm can read: it ignores it, and replaces it
        is_lock_text = False
    if is_lock_name or is_lock_text:
        raise InputError(
            [
                Problem(
                    option,
                    f"{path} is the selector lock that `python -m components lock` writes, "
                    "not a file for warm's digest state",
                    "pass another file, for example --state images.warm-state.yaml",
                )
            ]
        )
