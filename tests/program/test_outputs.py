"""The outputs contract: one list (components/program/outputs.py), exported, documented and read as listed."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from components.program.outputs import OUTPUTS, StackOutputs
from components.program.plan import plan_stack

ROOT = Path(__file__).resolve().parents[2]
NAMES = [spec.name for spec in OUTPUTS]


def test_the_outputs_type_has_one_field_per_output_in_order() -> None:
    assert [f.name for f in dataclasses.fields(StackOutputs)] == NAMES


def test_the_program_exports_exactly_the_contract() -> None:
    assert set(plan_stack("dev").outputs) == set(NAMES)


def test_the_readme_documents_exactly_the_contract() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Outputs: the contract with the EKS project", 1)[1].split("\n## ", 1)[0]
    documented = {
        line.split("|")[1].strip().strip("`") for line in section.splitlines() if line.startswith("| `")
    }
    assert documented == set(NAMES)


def test_the_example_consumer_reads_only_outputs_of_the_contract() -> None:
    """The example is its own project and does not import components; its output names must exist."""
    tree = ast.parse((ROOT / "examples" / "eks-consumer" / "__main__.py").read_text())
    read = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"require_output", "get_output"}
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    assert read and read <= set(NAMES)
