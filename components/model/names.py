"""Logical names that never collide, and the names earlier versions used, kept as aliases.

Two different keys must never give one logical name: the engine refuses duplicate URNs at
preview. Earlier versions flattened prefixes (`team/k8s` and `team-k8s` both became
`team-k8s`; `ROOT` became `root`) and image references (`quay.io/a/b:1` and `quay.io/a-b:1`
both became `quay.io-a-b-1`). The names here keep each key as written, so they are
one-to-one; each resource also answers to its old name wherever that name was unambiguous,
so stacks deployed with the old names keep their resources (https://www.pulumi.com/docs/iac/concepts/options/aliases/).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from components.model.arns import Arn
from components.model.images import ImageRef

Key = TypeVar("Key")


def prefix_name(prefix: str) -> str:
    """The logical-name part for an ECR prefix: the prefix itself, which is unique per registry."""
    return prefix


def legacy_prefix_name(prefix: str) -> str:
    return prefix.replace("/", "-").lower()


def image_name(ref: ImageRef) -> str:
    """`<registry>/<repository>:<tag>`: a reference without its digest, unique per catalogue tag."""
    return f"{ref.registry}/{ref.repository}:{ref.tag}"


def legacy_image_name(ref: ImageRef) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{ref.registry}/{ref.repository}-{ref.tag}")


def principal_name(role_arn: str) -> str:
    """`<account>/<role path and name>`: one per role ARN, the partition being the stack's own."""
    arn = Arn.parse(role_arn)
    return f"{arn.account}/{arn.resource.removeprefix('role/')}"


def repository_name(repository: str) -> str:
    return repository


def legacy_repository_name(repository: str) -> str:
    return repository.replace("/", "-")


def names_with_aliases(
    keys: Iterable[Key], name: Callable[[Key], str], legacy: Callable[[Key], str]
) -> Mapping[Key, tuple[str, list[str]]]:
    """Each key's name, and its legacy name as an alias when no other key has or had that name."""
    keys = list(keys)
    names = {key: name(key) for key in keys}
    legacy_counts = Counter(legacy(key) for key in keys)
    current = set(names.values())
    result: dict[Key, tuple[str, list[str]]] = {}
    for key in keys:
        old = legacy(key)
        unambiguous = old != names[key] and legacy_counts[old] == 1 and old not in current
        result[key] = (names[key], [old] if unambiguous else [])
    return result
