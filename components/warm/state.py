"""warm's state file (`--state`): reference -> digest and platforms, so a re-warm skips unchanged tags.

Machine state, kept so that nothing done to a run can poison the next one:
- It is written while the warm runs, as images finish (`StateWriter`), so a kill loses only the
  images in flight and those finished in the last `WRITE_INTERVAL`.
- Every write is atomic: a temporary file in the same directory, flushed and fsync'd, renamed
  over the old file, then the directory fsync'd. A kill, a full disk or a read-only directory
  leaves the previous file whole (https://lwn.net/Articles/457667/ on why each step is needed).
- Writers merge: under an exclusive lock on the directory (the file itself is replaced by each
  write, so a lock on it would hold the old inode), a write reads what is on disk when another
  writer changed it, and adds this run's finished entries to it. Two warms sharing one file end
  with every entry either of them finished.
- A file warm cannot read (cut short, not YAML, the wrong shape, not a regular file) is not bad
  input: the caller warns once, warms every tag, and the next write replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.errors import InputError
from components.safe_yaml import MAX_LOCK_BYTES, describe_kind, node_line, read_yaml, to_python
from components.warm.targets import WarmResult

Entry = dict[str, Any]  # {"digest": "sha256:...", "platforms": ["linux/amd64", ...]}
# At most one write starts per interval. A write renders every entry, so writing after each image
# grows with the square of the tags: for 300 tags, 4.1 s of CPU, as much as the rest of the warm
# (4.5 s), against 0.3 s once a second (bench/state_writes.py; numbers in bench/README.md).
WRITE_INTERVAL = 1.0


def _is_entry(value: Any) -> bool:
    platforms = value.get("platforms", []) if isinstance(value, dict) else None
    return (
        isinstance(value, dict)
        and isinstance(value.get("digest"), str)
        and isinstance(platforms, list)
        and all(isinstance(p, str) for p in platforms)
    )


def parse_state(path: Path) -> dict[str, Entry]:
    """The entries of a state file (none when it does not exist); ValueError says why it cannot be used."""
    if not path.exists() and not path.is_symlink():
        return {}
    source = str(path)
    try:
        root = read_yaml(path, max_bytes=MAX_LOCK_BYTES, source=source, hint="")
        if root is None:
            return {}
        if not isinstance(root, yaml.MappingNode):
            raise ValueError(f"it maps no image references to digests: it is {describe_kind(root)}")
        entries = {
            str(key.value): (to_python(value, source=source), node_line(key)) for key, value in root.value
        }
    except InputError as error:
        problem = error.problems[0]
        where = f" (line {problem.line})" if problem.line is not None else ""
        raise ValueError(f"{problem.message}{where}") from None
    for reference, (value, line) in entries.items():
        if not _is_entry(value):
            raise ValueError(
                f"the entry for {reference[:200]!r} is not a mapping with 'digest' and 'platforms' (line {line})"
            )
    return {reference: value for reference, (value, _) in entries.items()}


def render_state(entries: Mapping[str, Entry]) -> str:
    """Sorted, stable YAML (libyaml's emitter when PyYAML has it: a state write is on the warm's path)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(dict(sorted(entries.items())), Dumper=dumper, sort_keys=True, default_flow_style=False)


def entry_for(result: WarmResult, previous: Mapping[str, Entry]) -> Entry | None:
    """What the state records of a finished image; None for a failed one, which keeps its old entry."""
    if not result.ok or not result.digest:
        return None
    old_platforms = (previous.get(str(result.target.source)) or {}).get("platforms", [])
    return {"digest": result.digest, "platforms": result.platforms or old_platforms}


@dataclass
class StateFile:
    """The state at `path`: read once, then replaced atomically by each `save`."""

    path: Path
    entries: dict[str, Entry] = field(default_factory=dict)
    _seen: tuple[int, int, int] | None = None  # inode, mtime and size of the file as last read or written

    def load(self) -> str | None:
        """Read the file; why it cannot be used (then it is ignored, and replaced), or None."""
        self._seen = self._signature()
        try:
            self.entries = parse_state(self.path)
        except ValueError as error:
            self.entries = {}
            return str(error)
        return None

    def save(self, finished: Mapping[str, Entry]) -> None:
        """Add `finished` to what is on disk and replace the file atomically; OSError when it cannot."""
        with self._directory_locked():
            if self._signature() != self._seen:  # another warm wrote it since
                with contextlib.suppress(ValueError):
                    self.entries = parse_state(self.path)
            merged = {**self.entries, **finished}
            self._replace(render_state(merged).encode())
            self.entries = merged
            self._seen = self._signature()

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            status = os.stat(self.path)
        except OSError:
            return None
        return status.st_ino, status.st_mtime_ns, status.st_size

    @contextlib.contextmanager
    def _directory_locked(self) -> Iterator[None]:
        directory = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(directory, fcntl.LOCK_EX)
            yield
        finally:
            os.close(directory)  # closing the descriptor releases the lock

    def _replace(self, data: bytes) -> None:
        # Created as any new file is (0666 under the umask), then given the old file's mode if any.
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(data)
                stream.flush()
                with contextlib.suppress(OSError):
                    os.fchmod(stream.fileno(), os.stat(self.path).st_mode & 0o777)
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        directory = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


class StateWriter:
    """Keeps a `StateFile` up to date as images finish: one write at a time, each with every image
    finished so far, at most one starting per `interval`. `failure` says why the last write failed."""

    def __init__(
        self, state: StateFile, references: frozenset[str], interval: float = WRITE_INTERVAL
    ) -> None:
        self.state = state
        self.failure: str | None = None
        self._references = references  # the catalogue's: signatures and attestations are not recorded
        self._previous = dict(state.entries)
        self._finished: dict[str, Entry] = {}
        self._interval = interval
        self._recorded = 0  # how many finished images were recorded, and how many of them written
        self._written = 0
        self._last_write = -interval
        self._writing: asyncio.Task[None] | None = None

    def record(self, result: WarmResult) -> None:
        """Called on the event loop as each image finishes."""
        reference = str(result.target.source)
        entry = entry_for(result, self._previous)
        if reference not in self._references or entry is None:
            return
        self._finished[reference] = entry
        self._recorded += 1
        if self._writing is None or self._writing.done():
            self._writing = asyncio.ensure_future(self._write_while_behind())

    async def _write_while_behind(self) -> None:
        loop = asyncio.get_running_loop()
        while self._written < self._recorded:
            await asyncio.sleep(max(0.0, self._last_write + self._interval - loop.time()))
            self._last_write = loop.time()
            await asyncio.to_thread(self._save, dict(self._finished), self._recorded)

    def finish(self) -> None:
        """The last write, after the event loop ended or was stopped (a write it cancelled may never
        have started), unless an earlier one holds everything recorded."""
        if self._written < self._recorded:
            self._save(dict(self._finished), self._recorded)

    def _save(self, finished: dict[str, Entry], recorded: int) -> None:
        try:
            self.state.save(finished)
        except OSError as error:
            self.failure = f"cannot write {self.state.path}: {error.strerror or error}"
            return
        self.failure = None
        self._written = max(self._written, recorded)
