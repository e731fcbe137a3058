"""Shared helpers: build settings from a dict and run the real program under mocks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockResourceArgs

from components.config.load import build_settings
from components.config.settings import StackSettings
from components.config.source import RawConfig
from components.program.plan import Plan, StandInMocks, run_plan

WARMED_DIGEST = "sha256:" + "d" * 64


class CapturingMocks(StandInMocks):
    """The plan's stand-ins, also keeping every resource's raw inputs (secrets still wrapped)."""

    def __init__(self, settings: StackSettings) -> None:
        super().__init__(settings)
        self.registered: list[MockResourceArgs] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        """Records the inputs; a warmed or copied image 'serves' a fixed digest, as the provider's create would."""
        self.registered.append(args)
        resource_id, state = super().new_resource(args)
        if args.typ.endswith((":WarmedImage", ":CopiedImage")):
            state["digest"] = WARMED_DIGEST
        return resource_id, state


@dataclass
class ProgramRun:
    plan: Plan
    mocks: CapturingMocks
    settings: StackSettings
    raw_inputs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[tuple[str, dict[str, Any]]]:
        return [(name, inputs) for (t, name), inputs in self.raw_inputs.items() if t == type_]

    def inputs(self, type_: str, name: str) -> dict[str, Any]:
        return self.raw_inputs[(type_, name)]

    def planned(self, type_: str, name: str) -> dict[str, Any]:
        return next(r.inputs for r in self.plan.resources if r.type == type_ and r.name == name)


def unwrap(value: Any) -> Any:
    return rpc.unwrap_rpc_secret(value)


RunProgram = Callable[..., ProgramRun]


@pytest.fixture
def run_program(tmp_path: Path) -> RunProgram:
    """Run `__main__.py` for settings given as a stack's config values."""

    def run(
        values: dict[str, Any],
        *,
        images: str = "",
        secrets: dict[str, str] | None = None,
        region: str = "eu-west-1",
        stack: str = "test",
        placeholder_secrets: bool = False,
    ) -> ProgramRun:
        (tmp_path / "images.yaml").write_text(images)
        secrets = secrets or {}
        config = RawConfig(
            "Pulumi.test.yaml", {**values, **secrets}, frozenset(secrets), {"aws:region": region}
        )
        settings = build_settings(config, root=tmp_path, placeholder_secrets=placeholder_secrets)
        mocks = CapturingMocks(settings)
        plan = run_plan(settings, stack, mocks=mocks)
        raw = {(args.typ, args.name): args.inputs for args in mocks.registered}
        return ProgramRun(plan, mocks, settings, raw)

    return run
