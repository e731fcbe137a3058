"""A map of outputs as one output, `{}` when empty: `pulumi.Output.all()` of nothing is a list, `[]`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi


def output_map(values: Mapping[str, pulumi.Input[Any]]) -> pulumi.Output[dict[str, Any]]:
    """`pulumi.Output.all(**values)`, except that no values give `{}`: a stack without a secret (or a
    rule) exports an empty map, as the outputs contract says, not an empty list."""
    if not values:
        return pulumi.Output.from_input({})
    combined: pulumi.Output[dict[str, Any]] = pulumi.Output.all(**values)
    return combined
