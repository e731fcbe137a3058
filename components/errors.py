"""Errors for input a user can fix: each says where the problem is and how to fix it.

Every error a user can fix derives from one base, so the CLI (exit 2) and the program under
`pulumi up` (a `pulumi.RunError`, which Pulumi reports without a traceback) catch exactly one class:

    BadInputError (ValueError)
    ├── InputError               every problem in the settings and images.yaml, by file, key and line
    ├── PolicyInputError         an account, organization or prefix no policy can be built for
    ├── LifecyclePolicyError     a lifecycle policy AWS would reject, or a rule that can never act
    ├── ImageRefError            an image reference no registry would accept
    ├── NetworkValueError        a VPC, subnet, route table, CIDR or bucket value AWS would refuse
    ├── UnsupportedUpstreamError a registry ECR pull-through cache cannot use as an upstream
    ├── CredentialSecretError    an existing secret ECR cannot read (a customer-managed KMS key)
    └── DigestMismatchError      images.yaml pins a digest the cache no longer serves for that tag

Modules raise them from here, so no module's error sits outside the tree.
"""

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


class BadInputError(ValueError):
    """Input a user can fix; the base every CLI command and the program catch."""


class PolicyInputError(BadInputError):
    """An account, organization or prefix no policy can be built for."""


class LifecyclePolicyError(BadInputError):
    """A lifecycle policy AWS would reject, or a retention setting that cannot become one."""


class ImageRefError(BadInputError):
    """An image reference that no registry would accept."""


class NetworkValueError(BadInputError):
    """A VPC, subnet, route table or CIDR value AWS would not accept here."""


class UnsupportedUpstreamError(BadInputError):
    """A registry that ECR pull-through cache cannot use as an upstream."""


class CredentialSecretError(BadInputError):
    """An existing credential secret ECR cannot read."""


class DigestMismatchError(BadInputError):
    """A catalogue entry's pinned digest differs from the digest the cache served for its tag."""


class InputError(BadInputError):
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
