"""The re-layout moved code, not resources: every resource's type and inputs equal the recorded plans.

`tests/data/plans/{dev,prod}.json` are `plan --json` before the re-layout, plus the resources added
deliberately since, each recorded as the plan registered it, in a commit of its own (prod: the alerts,
their alarms, scheduled re-warming and a pull-time exclusion, when `Pulumi.prod.yaml` began to
re-warm the catalogue it archives). Each resource of today's plan
is looked up there by its name or one of its `aliases` (the names it had), so a renamed child still
compares; a changed tag, property or policy fails here. The plan's stand-in IDs and ARNs end with a
resource's logical name, so references to a renamed resource are compared under its old name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.program.plan import plan_stack

PLANS = Path(__file__).parents[1] / "data" / "plans"


def _recorded(stack: str) -> dict[tuple[str, str, str | None], dict[str, Any]]:
    resources = json.loads((PLANS / f"{stack}.json").read_text())["resources"]
    return {(r["type"], r["name"], r["parent"]): r["inputs"] for r in resources}


def _under_old_names(value: Any, renamed: dict[str, str]) -> Any:
    """Stand-in IDs (`<name>-id`) and ARNs (`...:<name>`) of renamed resources, as they were."""
    if isinstance(value, dict):
        return {k: _under_old_names(v, renamed) for k, v in value.items()}
    if isinstance(value, list):
        return [_under_old_names(v, renamed) for v in value]
    if isinstance(value, str):
        for new, old in renamed.items():
            if value == f"{new}-id":
                return f"{old}-id"
            if value.endswith(f":{new}"):
                return value[: -len(new)] + old
    return value


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_resource_keeps_its_type_and_inputs(stack: str) -> None:
    recorded = _recorded(stack)
    planned = plan_stack(stack).as_json()["resources"]
    keys: dict[int, tuple[str, str, str | None]] = {}
    for index, resource in enumerate(planned):
        names = [resource["name"], *resource["aliases"]]
        key = next(
            (k for n in names if (k := (resource["type"], n, resource["parent"])) in recorded),
            None,
        )
        assert key is not None, f"{resource['type']} {resource['name']} is new since the recorded plan"
        keys[index] = key
    renamed = {r["name"]: keys[i][1] for i, r in enumerate(planned) if keys[i][1] != r["name"]}
    for index, resource in enumerate(planned):
        inputs = _under_old_names(resource["inputs"], renamed)
        assert inputs == recorded[keys[index]], f"{resource['type']} {resource['name']} changed"
    assert set(recorded) - set(keys.values()) == set(), "these resources would be deleted"


def test_the_json_plan_lists_each_resources_old_names() -> None:
    planned = plan_stack("prod").as_json()["resources"]
    assert all(isinstance(r["aliases"], list) for r in planned)
    assert any(r["aliases"] for r in planned), "prod has renamed resources; their old names show"
