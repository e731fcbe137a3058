"""`python -m components lock [--stack S] [--images F] [--lock L] [--check]`: resolve selectors.

The logic runs against `TagSource` (components/model/image_lock.py), so it is tested with a fake;
the upstream client that implements it is passed in by `__main__`.

Exit codes: 0 the lock is written (or, with `--check`, up to date); 1 with `--check` the
upstream moved, or some image could not be resolved (each named; the others are locked, and a
failed image keeps its previous lock entry), or the rate-limit budget ran out; 2 bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from components.cli.mirrors import add_upstream_argument, check_token_realms, upstream_endpoints
from components.errors import InputError
from components.model.catalogue import CatalogueEntry, load_catalogue
from components.model.image_lock import (
    BudgetSpent,
    Lock,
    LockedImage,
    ResolveError,
    TagSource,
    diff_locks,
    load_lock,
    lock_path_for,
    render_lock,
    resolve,
    select,
)

EXIT_OK = 0
EXIT_CHANGED_OR_FAILED = 1
EXIT_BAD_INPUT = 2


@dataclass
class LockRun:
    """A resolved lock, what failed (named), and why it stopped early, if it did."""

    lock: dict[str, LockedImage] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    stopped: str | None = None


def lock_images(entries: Sequence[CatalogueEntry], source: TagSource, previous: Lock) -> LockRun:
    """Resolve every selector entry; an image that fails, or is not reached, keeps its previous entry."""
    run = LockRun()
    selectors = sorted((e for e in entries if e.selector is not None), key=lambda e: e.ref.name)
    for entry in selectors:
        name = entry.ref.name
        if run.stopped is None:
            try:
                tags = source.list_tags(entry.ref.registry, entry.ref.repository)
                digests = {
                    tag: source.resolve_digest(entry.ref.registry, entry.ref.repository, tag)
                    for tag, _ in select(entry, tags)
                }
                run.lock[name] = resolve(entry, tags, digests)
                continue
            except ResolveError as error:
                run.failures.append(str(error))
            except BudgetSpent as error:
                run.stopped = str(error)
        if name in previous:
            run.lock[name] = previous[name]
    return run


def run_lock(
    entries: Sequence[CatalogueEntry], source: TagSource, lock_path: Path, *, check: bool, out: TextIO
) -> int:
    """Resolve, then write the lock (only when its bytes change) or, with `check`, compare it."""
    previous = load_lock(lock_path)
    if not previous and not any(entry.selector for entry in entries):
        print("no entry has a selector: nothing to lock", file=out)
        return EXIT_OK
    run = lock_images(entries, source, previous)
    text = render_lock(run.lock)
    existing = lock_path.read_bytes() if lock_path.exists() else None
    differs = existing != text.encode("utf-8")
    diff = diff_locks(previous, run.lock)
    print(diff.report(), file=out)
    for failure in run.failures:
        print(f"failed  {failure}", file=out)
    if run.stopped:
        print(f"stopped {run.stopped}", file=out)
    if check:
        if differs:
            print(f"{lock_path} is out of date: run `python -m components lock`", file=out)
        return EXIT_CHANGED_OR_FAILED if differs or run.failures or run.stopped else EXIT_OK
    if differs:
        lock_path.write_text(text, encoding="utf-8")
        print(f"wrote {lock_path}", file=out)
    return EXIT_CHANGED_OR_FAILED if run.failures or run.stopped else EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default=None, help="check the catalogue against Pulumi.<stack>.yaml")
    parser.add_argument(
        "--images", default=None, help="image catalogue (default: the stack's imagesFile, else images.yaml)"
    )
    parser.add_argument("--lock", type=Path, default=None, help="lock file (default: beside --images)")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when the upstream moved (for CI)"
    )
    add_upstream_argument(parser)


def lock_endpoints(args: argparse.Namespace) -> dict[str, str]:
    """Where each upstream is read (`--upstream`), once the logins' token realms are checked."""
    check_token_realms(os.environ)
    return upstream_endpoints(args.upstream)


def run(args: argparse.Namespace, make_source: Callable[[], TagSource], out: TextIO = sys.stdout) -> int:
    """The command: load and check the catalogue, then `run_lock` with the upstream client."""
    try:
        if args.stack:
            from components.config.load import load_stack_settings

            settings = load_stack_settings(args.stack, images_file=args.images)
            entries: Sequence[CatalogueEntry] = settings.images
            default_lock = settings.lock_path  # beside the catalogue `validate` and `plan` read
        else:
            images = args.images or "images.yaml"
            entries, default_lock = load_catalogue(images), lock_path_for(images)
        return run_lock(entries, make_source(), args.lock or default_lock, check=args.check, out=out)
    except InputError as error:
        print(f"error: the input needs fixing:\n{error}", file=sys.stderr)
        return EXIT_BAD_INPUT
