"""`images.lock.yaml`: the tags each selector chose, with their digests, resolved explicitly.

A selector (`semver: '>=1.27 <1.28'`) means different tags as the upstream publishes; a
deployment must not. So `python -m components lock` resolves selectors once, against the
upstream itself (a pull-through cache cannot list upstream tags), and writes this file;
`plan`, `validate`, `pulumi up` and `warm` read it and never touch the network. Everything
here is pure: the network sits behind `TagSource` (components/cli/lock.py drives it).

The file is YAML written by `render_lock`: keys sorted, one layout, so resolving again with
nothing changed upstream writes the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import yaml

from components.errors import ImageRefError, InputError, Problem
from components.model.catalogue import CatalogueEntry
from components.model.images import ImageRef, parse_image
from components.safe_yaml import MAX_LOCK_BYTES, compose_documents, mapping_fields, read_file, scalar_text

LOCK_VERSION = 1
LOCK_HEADER = "# Written by `python -m components lock`; do not edit. Re-run it to follow the upstream.\n"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_LOCK_HINT = "run `python -m components lock` to write it again"


def lock_path_for(images_file: Path | str) -> Path:
    """`images.yaml` → `images.lock.yaml`, beside it: one place names the lock file."""
    path = Path(images_file)
    return path.with_name(f"{path.stem}.lock.yaml")


def lock_command(stack: str | None) -> str:
    """The command that writes the lock, as a message tells the user to run it."""
    return "python -m components lock" + (f" --stack {stack}" if stack else "")


@dataclass(frozen=True, order=True)
class LockedTag:
    tag: str
    digest: str
    chosen_by: str


@dataclass(frozen=True)
class LockedImage:
    """What one selector entry chose: `selector` is its canonical text, to notice a changed one."""

    image: str
    selector: str
    tags: tuple[LockedTag, ...]


Lock = Mapping[str, LockedImage]


def is_digest(text: str) -> bool:
    return _DIGEST.fullmatch(text) is not None


class ResolveError(ValueError):
    """One image that cannot be locked; the others still are."""


def valid_tags(ref: ImageRef, upstream_tags: Iterable[str]) -> list[str]:
    """The upstream's tags that are tags at all (the registry is not trusted): bounded length,
    the tag grammar, so no expression ever runs on an arbitrary string."""
    valid = []
    for tag in upstream_tags:
        try:
            parse_image(f"{ref.name}:{tag}")
        except ImageRefError:
            continue
        valid.append(tag)
    return valid


def select(entry: CatalogueEntry, upstream_tags: Iterable[str]) -> list[tuple[str, str]]:
    """`(tag, chosen_by)` for each upstream tag `entry`'s selector selects."""
    if entry.selector is None:
        raise ValueError(f"{entry.where}: {entry.ref} has no selector")
    return entry.selector.select(valid_tags(entry.ref, upstream_tags))


def resolve(entry: CatalogueEntry, upstream_tags: Iterable[str], digests: Mapping[str, str]) -> LockedImage:
    """Apply `entry`'s selector to the upstream's tags, with the digest of each selected tag.

    Raises ResolveError when nothing is selected, or a digest is missing or malformed.
    """
    if entry.selector is None:
        raise ValueError(f"{entry.where}: {entry.ref} has no selector")
    chosen = entry.selector.select(valid_tags(entry.ref, upstream_tags))
    if not chosen:
        raise ResolveError(f"{entry.ref}: the selector at {entry.where} matches none of the upstream's tags")
    tags = []
    for tag, reason in chosen:
        digest = digests.get(tag)
        if digest is None or not is_digest(digest):
            raise ResolveError(f"{entry.ref}:{tag}: the upstream gave no valid digest ({digest!r})")
        tags.append(LockedTag(tag, digest, reason))
    return LockedImage(entry.ref.name, entry.selector.describe(), tuple(sorted(tags)))


def render_lock(lock: Lock) -> str:
    """The lock file's text: the same lock always gives the same bytes."""
    images = {
        name: {
            "selector": image.selector,
            "tags": {t.tag: {"digest": t.digest, "chosen-by": t.chosen_by} for t in image.tags},
        }
        for name, image in sorted(lock.items())
    }
    body = yaml.safe_dump(
        {"version": LOCK_VERSION, "images": images},
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=False,
        width=1000,
    )
    return LOCK_HEADER + body


def parse_lock(data: bytes, *, source: str) -> dict[str, LockedImage]:
    """Read a lock file; raise InputError naming the line of anything malformed."""
    documents = compose_documents(data, source=source, hint=_LOCK_HINT)
    if not documents:
        return {}
    root = mapping_fields(documents[0])
    if len(documents) > 1 or scalar_text(root.get("version")) != str(LOCK_VERSION):
        raise InputError([Problem(source, f"not a version {LOCK_VERSION} image lock", _LOCK_HINT, line=1)])
    problems: list[Problem] = []
    lock: dict[str, LockedImage] = {}
    images = root.get("images")
    items = images.value if isinstance(images, yaml.MappingNode) else []
    for key, value in items:
        name, fields = scalar_text(key), mapping_fields(value)
        selector = scalar_text(fields.get("selector"))
        tags_node = fields.get("tags")
        tags = []
        for tag_key, tag_value in tags_node.value if isinstance(tags_node, yaml.MappingNode) else []:
            tag_fields = mapping_fields(tag_value)
            tag, digest = scalar_text(tag_key), scalar_text(tag_fields.get("digest"))
            chosen_by = scalar_text(tag_fields.get("chosen-by"))
            if tag is None or digest is None or not is_digest(digest) or chosen_by is None:
                problems.append(
                    Problem(
                        source,
                        f"{name}: tag {tag!r} needs 'digest: sha256:<64 hex>' and 'chosen-by'",
                        _LOCK_HINT,
                        line=tag_key.start_mark.line + 1,
                    )
                )
                continue
            tags.append(LockedTag(tag, digest, chosen_by))
        if name is None or selector is None or not tags:
            problems.append(
                Problem(
                    source,
                    f"image {name!r} needs 'selector' and at least one tag",
                    _LOCK_HINT,
                    line=key.start_mark.line + 1,
                )
            )
            continue
        lock[name] = LockedImage(name, selector, tuple(sorted(tags)))
    if problems:
        raise InputError(problems)
    return lock


def load_lock(path: Path | str) -> dict[str, LockedImage]:
    """The lock at `path`, or {} when there is none yet."""
    path = Path(path)
    try:
        data = read_file(path, max_bytes=MAX_LOCK_BYTES, source=str(path))
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise InputError(
            [Problem(str(path), f"cannot read the lock: {error.strerror}", _LOCK_HINT)]
        ) from None
    if len(data) > MAX_LOCK_BYTES:
        raise InputError([Problem(str(path), f"larger than {MAX_LOCK_BYTES:,} bytes", _LOCK_HINT)])
    return parse_lock(data, source=str(path))


@dataclass(frozen=True)
class WarmTag:
    """A concrete tag to warm; `digest` is what the lock recorded (None for a plain `tags` entry)."""

    entry: CatalogueEntry
    digest: str | None


def tags_to_warm(
    entries: Sequence[CatalogueEntry], lock: Lock, *, lock_source: str, stack: str | None = None
) -> list[WarmTag]:
    """Every tag the catalogue holds: plain entries as they are, selector entries through the lock.

    Raises InputError naming the lock command when a selector has no lock entry, or a lock entry
    was made for a different selector. A tag both listed and selected is warmed once.
    """
    problems: list[Problem] = []
    warm: dict[str, WarmTag] = {}
    for entry in entries:
        if entry.selector is None:
            warm.setdefault(str(entry.ref), WarmTag(entry, None))
            continue
        locked = lock.get(entry.ref.name)
        if locked is None or locked.selector != entry.selector.describe():
            why = "has no entry in" if locked is None else "was locked with another selector in"
            problems.append(
                Problem(
                    entry.source,
                    f"the selector for {entry.ref.name} {why} {lock_source}",
                    f"run `{lock_command(stack)}` and commit {Path(lock_source).name}",
                    line=entry.line,
                )
            )
            continue
        for locked_tag in locked.tags:
            ref = ImageRef(entry.ref.registry, entry.ref.repository, locked_tag.tag)
            concrete = replace(entry, ref=ref, selector=None)  # platforms and `signatures` carried
            warm.setdefault(str(ref), WarmTag(concrete, locked_tag.digest))
    if problems:
        raise InputError(problems)
    return [warm[key] for key in sorted(warm)]


@dataclass(frozen=True)
class LockDiff:
    """What changed between two locks, per image: for `lock --check` and for `lock`'s summary."""

    added: tuple[str, ...]  # `image:tag  digest`
    removed: tuple[str, ...]
    moved: tuple[str, ...]  # `image:tag  old -> new`
    reselected: tuple[str, ...] = ()  # `image  old selector -> new selector`

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.moved or self.reselected)

    def report(self) -> str:
        if not self.changed:
            return "the lock is up to date"
        lines = []
        for title, rows in (
            ("added", self.added),
            ("removed", self.removed),
            ("moved", self.moved),
            ("selector", self.reselected),
        ):
            lines += [f"{title:9}{row}" for row in rows]
        return "\n".join(lines)


def diff_locks(old: Lock, new: Lock) -> LockDiff:
    def flat(lock: Lock) -> dict[str, str]:
        return {f"{name}:{t.tag}": t.digest for name, image in lock.items() for t in image.tags}

    before, after = flat(old), flat(new)
    return LockDiff(
        added=tuple(f"{ref}  {after[ref]}" for ref in sorted(after.keys() - before.keys())),
        removed=tuple(f"{ref}  {before[ref]}" for ref in sorted(before.keys() - after.keys())),
        moved=tuple(
            f"{ref}  {before[ref]} -> {after[ref]}"
            for ref in sorted(before.keys() & after.keys())
            if before[ref] != after[ref]
        ),
        reselected=tuple(
            f"{name}  {old[name].selector} -> {new[name].selector}"
            for name in sorted(old.keys() & new.keys())
            if old[name].selector != new[name].selector
        ),
    )


# Docker Hub's pull limit headers: `ratelimit-limit: 100;w=21600`, `ratelimit-remaining: 76;w=21600`
# (https://docs.docker.com/docker-hub/usage/pulls/). Only a manifest GET counts as a pull; the lock
# reads digests with HEAD, which does not, but stops before the budget is spent all the same.
_RATE = re.compile(r"\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?\s*")


@dataclass(frozen=True)
class RateBudget:
    """Whether to go on, and if not, how long to wait before trying again."""

    proceed: bool
    remaining: int | None
    wait_seconds: int

    def message(self, registry: str) -> str:
        if self.proceed:
            return f"{registry}: {self.remaining} pulls left in this window"
        return (
            f"{registry}: {self.remaining} pulls left, stopping before the budget is spent; "
            f"wait {self.wait_seconds} s and run the command again"
        )


def rate_budget(headers: Mapping[str, str], *, needed: int = 1, reserve: int = 1) -> RateBudget:
    """Read `ratelimit-remaining` (and `retry-after`) from a response; header names are case-insensitive.

    Go on while `remaining - needed >= reserve`. Docker Hub's window (`w=`, seconds) is rolling
    and it does not say when a pull leaves it, so the wait is the whole window, or `retry-after`
    when the registry sends one. No header (not Docker Hub, or unlimited): go on.
    """
    lower = {name.lower(): value for name, value in headers.items()}
    retry_after = lower.get("retry-after", "")
    remaining_match = _RATE.fullmatch(lower.get("ratelimit-remaining", ""))
    if remaining_match is None:
        if retry_after.isdigit():
            return RateBudget(False, None, int(retry_after))
        return RateBudget(True, None, 0)
    remaining = int(remaining_match.group(1))
    limit_match = _RATE.fullmatch(lower.get("ratelimit-limit", ""))
    window = remaining_match.group(2) or (limit_match.group(2) if limit_match else None)
    if remaining - needed >= reserve:
        return RateBudget(True, remaining, 0)
    wait = int(retry_after) if retry_after.isdigit() else int(window or 3600)
    return RateBudget(False, remaining, wait)


class BudgetSpent(Exception):
    """Raised by a TagSource when `rate_budget` says stop: the lock keeps what it had, and says why."""

    def __init__(self, registry: str, budget: RateBudget) -> None:
        super().__init__(budget.message(registry))
        self.budget = budget


class TagSource(Protocol):
    """The upstream registry, read directly (never through the cache, which cannot list upstream tags).

    Implementations: anonymous or a read-only token from the environment; `list_tags` follows
    `tags/list?n=` and its `Link: <...>; rel="next"` pages; every request has a deadline and every
    body a size cap. Raise ResolveError for one image that fails, BudgetSpent to stop everything.
    """

    def list_tags(self, registry: str, repository: str) -> list[str]: ...

    def resolve_digest(self, registry: str, repository: str, tag: str) -> str: ...
