"""Errors for input a user can fix: each says where the problem is and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one place in a file or a config key."""

    source: str
    message: str
    hint: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        text = f"{where}: {self.message}"
        if self.hint:
            text += f"\n    fix: {self.hint}"
        return text


class InputError(ValueError):
    """Every problem found in the user's input, raised before any resource is registered.

    Collecting them all, rather than stopping at the first, saves a round trip per mistake.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def raise_if_any(problems: Iterable[Problem]) -> None:
    collected = list(problems)
    if collected:
        raise InputError(collected)


def yaml_syntax_problem(error: Exception, source: str, hint: str) -> Problem:
    """A YAML parser error as a Problem, at the line the parser stopped."""
    mark = getattr(error, "problem_mark", None)
    return Problem(
        source,
        f"YAML syntax error: {getattr(error, 'problem', None) or error}",
        hint,
        line=mark.line + 1 if mark else None,
    )
