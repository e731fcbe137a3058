"""The top-level files Pulumi reads: Pulumi.yaml against Pulumi's schema, the stacks' shape."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT.parent / "shared" / "reference" / "pulumi-project.schema.json"


def test_pulumi_yaml_validates_against_pulumis_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    jsonschema.validate(project, schema)
    assert project["name"] == "ecr-pull-through-cache"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    assert project["description"]


def test_schema_check_can_fail() -> None:
    schema = json.loads(SCHEMA.read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "runtime": "python", "config": {"k": {"type": "map"}}}, schema)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_carry_no_ciphertext(stack: str) -> None:
    text = (ROOT / f"Pulumi.{stack}.yaml").read_text()
    assert "secure:" not in text
    assert "encryptionsalt" not in text


def test_requirements_are_pinned() -> None:
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            if line and not line.startswith(("#", "-r")):
                assert "==" in line, f"{name}: {line} is not pinned"
    pinned = (ROOT / "requirements.txt").read_text()
    for package in ("pulumi==", "pulumi-aws==", "pulumi-docker==", "pulumi-command==", "PyYAML=="):
        assert package in pinned
