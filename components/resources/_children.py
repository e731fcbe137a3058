"""Options for a component's child: scoped to its parent, answering to every name it had before.

`pulumi.Alias(name=old)` leaves type, parent, stack and project as the child's own, so the old URN
is the child's URN with the old name (https://www.pulumi.com/docs/iac/concepts/options/aliases/):
an existing stack keeps the resource, with no replacement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pulumi


def child_opts(
    parent: pulumi.Resource, name: str, old_names: Iterable[str] = (), **options: Any
) -> pulumi.ResourceOptions:
    aliases: Sequence[pulumi.Input[str | pulumi.Alias]] = [
        pulumi.Alias(name=old) for old in dict.fromkeys(old_names) if old != name
    ]
    return pulumi.ResourceOptions(parent=parent, aliases=list(aliases), **options)
