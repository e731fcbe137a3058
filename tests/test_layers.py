"""The layers a newcomer sees are the layers the code has: imports go one way, modules stay small.

model <- config, policies <- resources <- program; the warm package imports model and the base
modules only; nothing imports the CLI but components/__main__.py. Every import counts, including
those inside functions (the CLI imports lazily). Checked statically, with `ast`.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = ROOT / "components"
BASE = {"errors", "safe_yaml", "redaction"}

# What each layer may import from `components.`; the layer of a module is its first package part.
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "model": {"model"},
    "policies": {"model", "policies"},
    "config": {"model", "policies", "config"},
    "resources": {"model", "policies", "resources"},
    "program": {"model", "policies", "config", "resources", "program", "warm"},
    "warm": {"model", "warm"},
    "cli": {"model", "policies", "config", "resources", "program", "warm", "cli"},
    "__main__": {"cli"},
    # The old path of warm/operations.py, kept for providers pickled in deployed stacks' state.
    "warm_operations": {"warm"},
}
THIRD_PARTY_REFUSED = {
    "model": {"pulumi", "pulumi_aws", "aiohttp", "pydantic", "boto3"},
    "policies": {"pulumi", "pulumi_aws", "aiohttp", "pydantic", "boto3"},
    "resources": {"pydantic", "aiohttp", "boto3"},
    "warm": {"pulumi", "pulumi_aws"},
}
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 60
WHY_LONGER = re.compile(r"#\s*longer than 60 lines because")


def _modules() -> list[Path]:
    return sorted(p for p in COMPONENTS.rglob("*.py") if "__pycache__" not in p.parts)


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> str:
    parts = module.split(".")[1:]
    if not parts:
        return "base"
    if parts[0] in BASE:
        return "base"
    return parts[0]


def _imports_of(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every module `source` imports, absolute, function-local and relative imports included."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append(base)
            if base == "components":
                found += [f"components.{alias.name}" for alias in node.names]
    return found


def _imports(path: Path) -> list[str]:
    return _imports_of(path.read_text(), _module_name(path), path.name == "__init__.py")


@pytest.mark.parametrize("path", _modules(), ids=_relative)
def test_imports_go_one_way(path: Path) -> None:
    layer = _layer(_module_name(path))
    allowed = ALLOWED.get(layer, set())
    for imported in _imports(path):
        if not imported.startswith("components.") or imported == "components":
            continue
        target = _layer(imported)
        if target == "base":
            continue
        first = imported.split(".")[1]
        assert first in allowed, f"{_relative(path)} ({layer}) imports {imported}"


@pytest.mark.parametrize("path", _modules(), ids=_relative)
def test_layers_leave_out_the_libraries_of_other_layers(path: Path) -> None:
    layer = _layer(_module_name(path))
    refused = THIRD_PARTY_REFUSED.get(layer, set())
    if _relative(path) in {"components/warm/provider.py", "components/warm/operations.py"}:
        refused = set()
    for imported in _imports(path):
        assert imported.split(".")[0] not in refused, f"{_relative(path)} ({layer}) imports {imported}"


def test_nothing_but_the_entry_point_imports_the_cli() -> None:
    for path in _modules():
        if _layer(_module_name(path)) in {"cli", "__main__"}:
            continue
        for imported in _imports(path):
            assert not imported.startswith("components.cli"), f"{_relative(path)} imports {imported}"


@pytest.mark.parametrize("path", _modules(), ids=_relative)
def test_no_module_over_350_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{_relative(path)} has {lines} lines"


@pytest.mark.parametrize("path", _modules(), ids=_relative)
def test_no_function_over_60_lines_unless_a_comment_says_why(path: Path) -> None:
    source = path.read_text().splitlines()
    for node in ast.walk(ast.parse("\n".join(source))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        explained = first >= 2 and WHY_LONGER.search(source[first - 2])
        assert length <= MAX_FUNCTION_LINES or explained, (
            f"{_relative(path)}:{node.lineno} {node.name}: {length}"
        )


def test_no_reference_is_taken_apart_by_splitting_outside_the_grammar_modules() -> None:
    grammar = {"components/model/images.py", "components/model/ecr.py"}
    splitting = re.compile(r'split\("/"|rsplit\(":"')
    offenders = [
        f"{_relative(path)}:{number}"
        for path in _modules()
        if _relative(path) not in grammar
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if splitting.search(line)
    ]
    assert offenders == []


def test_the_checks_see_function_local_and_relative_imports() -> None:
    """The CLI imports lazily; an import inside a function counts as much as one at the top."""
    source = "def f() -> None:\n    from components.cli.main import main\n    from ..cli import doctor\n"
    found = _imports_of(source, "components.program.stack")
    assert "components.cli.main" in found and "components.cli" in found


def test_the_warm_command_starts_without_pydantic() -> None:
    """pydantic and its models were a quarter of `warm`'s start-up (bench/README.md), paid before
    the first request; the manifest shapes are checked by hand (components/warm/manifests.py)."""
    imports = "import sys, components.cli.main, components.cli.warm; print(sorted(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", imports], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "'components.warm.warmer'" in loaded, "the warm engine is what the command runs"
    assert "'pydantic" not in loaded
