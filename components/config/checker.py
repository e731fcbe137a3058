"""One way to record a problem with the config: against its key, pointing at the stack file's line."""

from __future__ import annotations

from pydantic import ValidationError

from components.config.source import PROJECT, RawConfig
from components.errors import Problem


class Checker:
    """Collects problems against config keys, pointing at lines when the config came from a file."""

    def __init__(self, raw: RawConfig) -> None:
        self.raw = raw
        self.problems: list[Problem] = []

    def key(self, *path: str) -> str:
        return f"{PROJECT}:{'.'.join(path)}"

    def add(self, path: tuple[str, ...], message: str, hint: str | None = None) -> None:
        self.problems.append(
            Problem(self.raw.source, f"{self.key(*path)}: {message}", hint, self.raw.line_of(path))
        )

    def at(self, source: str, message: str, hint: str | None = None, line: int | None = None) -> None:
        """A problem in a file the key only points to (the stack file without a key, a catalogue entry)."""
        self.problems.append(Problem(source, message, hint, line))


def pydantic_problems(error: ValidationError, check: Checker) -> None:
    for detail in error.errors():
        path = tuple(str(part) for part in detail["loc"])
        if detail["type"] == "extra_forbidden":
            check.add(path, "unknown config key", "remove it, or check its spelling against the README")
        else:
            check.add(path, detail["msg"], "see the README's configuration reference")
