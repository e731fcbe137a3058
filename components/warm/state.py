"""The warm CLI's `--lock` file: reference -> digest and platforms, so unchanged tags are skipped.

A file the user may edit or corrupt: it is read through the one YAML reader with a size cap, and
anything but the shape `write_lock` writes is an input error that names the file and line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from components.errors import InputError, Problem
from components.safe_yaml import MAX_LOCK_BYTES, describe_kind, node_line, read_yaml, to_python
from components.warm.warmer import WarmResult

_LOCK_HINT = "delete the lock file to warm every tag again; the next run writes a new one"


def read_lock(path: Path | None) -> dict[str, dict[str, Any]]:
    """The lock `write_lock` wrote: reference -> {digest, platforms}; anything else is an InputError."""
    if path is None or not path.exists():
        return {}
    source = str(path)
    root = read_yaml(path, max_bytes=MAX_LOCK_BYTES, source=source, hint=_LOCK_HINT)
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise InputError(
            [
                Problem(
                    source,
                    f"a lock file maps image references to digests, not {describe_kind(root)}",
                    _LOCK_HINT,
                    line=node_line(root),
                )
            ]
        )
    lock: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    for key, value in root.value:
        entry = to_python(value, source=source)
        if _is_lock_entry(entry):
            lock[str(key.value)] = entry
        else:
            problems.append(
                Problem(
                    source,
                    f"the entry for {str(key.value)[:200]!r} must be a mapping with 'digest' and 'platforms'",
                    _LOCK_HINT,
                    line=node_line(key),
                )
            )
    if problems:
        raise InputError(problems)
    return lock


def _is_lock_entry(value: Any) -> bool:
    platforms = value.get("platforms", []) if isinstance(value, dict) else None
    return (
        isinstance(value, dict)
        and isinstance(value.get("digest"), str)
        and isinstance(platforms, list)
        and all(isinstance(p, str) for p in platforms)
    )


def write_lock(path: Path, results: Sequence[WarmResult], previous: Mapping[str, Any]) -> None:
    """Sorted, stable YAML: reference -> digest and platforms. Failed images keep their old entry."""
    lock = dict(previous)
    for result in results:
        if result.ok and result.digest:
            entry: dict[str, Any] = {"digest": result.digest}
            old_platforms = (previous.get(str(result.target.source)) or {}).get("platforms", [])
            entry["platforms"] = result.platforms or old_platforms
            lock[str(result.target.source)] = entry
    path.write_text(yaml.safe_dump(dict(sorted(lock.items())), sort_keys=True, default_flow_style=False))
