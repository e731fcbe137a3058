"""The top-level files Pulumi reads: Pulumi.yaml against Pulumi's schema, the stacks' shape."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT.parent / "shared" / "reference" / "pulumi-project.schema.json"
README = (ROOT / "README.md").read_text()


@pytest.fixture
def schema() -> Any:
    if not SCHEMA.is_file():
        pytest.skip(f"Pulumi's project schema is not at {SCHEMA} (it lives outside the repository)")
    return json.loads(SCHEMA.read_text())


def test_pulumi_yaml_validates_against_pulumis_schema(schema: Any) -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    jsonschema.validate(project, schema)
    assert project["name"] == "ecr-pull-through-cache"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    assert project["description"]


def test_a_wrong_config_declaration_fails_the_schema_check(schema: Any) -> None:
    """The schema check above has teeth: our own file with one declaration's type broken fails it."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    project["config"]["imagesFile"]["type"] = "map"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(project, schema)


def _readme_table_names(heading: str) -> set[str]:
    """First-column names of the table under a README heading."""
    section = README.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return {line.split("|")[1].strip().strip("`") for line in section.splitlines() if line.startswith("| `")}


def test_readme_documents_every_config_key() -> None:
    from pydantic import BaseModel

    from components.config.schema import ProjectConfig

    keys = {str(field.alias) for field in ProjectConfig.model_fields.values()}
    documented = _readme_table_names("Configuration")
    assert keys <= documented, f"undocumented: {sorted(keys - documented)}"
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]

    def models(annotation: Any) -> list[type[BaseModel]]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return [annotation]
        return [model for arg in typing.get_args(annotation) for model in models(arg)]

    sections: list[type[BaseModel]] = [ProjectConfig]
    nested: set[str] = set()
    while sections:
        for field in sections.pop().model_fields.values():
            nested.add(str(field.alias))
            sections += models(field.annotation)
    missing = sorted(key for key in nested if f"{key}" not in section)
    assert not missing, f"the README's configuration section does not mention {missing}"


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
