"""Where stack settings come from: the Pulumi engine, or a stack file read offline.

Both give the same thing, a `RawConfig`: the project's keys with their values,
which of them are secret, and (offline) the line each key path sits on, so an
error can point at it. A secure value read offline is never decrypted: it
becomes `SECRET_PLACEHOLDER`, so ciphertext never reaches a plan or a message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.errors import InputError, Problem
from components.safe_yaml import MAX_STACK_FILE_BYTES, describe_kind, node_line, read_yaml, to_python

PROJECT = "ecr-pull-through-cache"
SECRET_PLACEHOLDER = "[secret]"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RawConfig:
    """Config values of one stack, keyed without the project namespace.

    `provider` holds other namespaces' keys (`aws:region`, ...), keyed in full.
    `lines` maps a key path such as `("templates", "encryption")` to its line in `source`.
    """

    source: str
    values: Mapping[str, Any]
    secret_keys: frozenset[str]
    provider: Mapping[str, Any] = field(default_factory=dict)
    lines: Mapping[tuple[str, ...], int] = field(default_factory=dict)
    from_file: bool = False

    def line_of(self, path: tuple[str, ...]) -> int | None:
        """The line of the deepest part of `path` that the file has."""
        for depth in range(len(path), 0, -1):
            line = self.lines.get(path[:depth])
            if line is not None:
                return line
        return None


def stack_file(stack: str, root: Path = PROJECT_ROOT) -> Path:
    return root / f"Pulumi.{stack}.yaml"


def _read_mapping(path: Path, source: str) -> tuple[dict[Any, Any], yaml.MappingNode | None]:
    """A Pulumi YAML file whose top level must be a mapping: its values and its root node."""
    root = read_yaml(path, max_bytes=MAX_STACK_FILE_BYTES, source=source, hint="fix the YAML syntax")
    if root is None:
        return {}, None
    if not isinstance(root, yaml.MappingNode):
        raise InputError(
            [
                Problem(
                    source,
                    f"the top level must be a mapping, not {describe_kind(root)}",
                    "start the file with 'config:' and the keys under it"
                    if source.startswith("Pulumi.") and source != "Pulumi.yaml"
                    else "start the file with 'name:', 'runtime:' and 'config:'",
                    line=node_line(root),
                )
            ]
        )
    document: dict[Any, Any] = to_python(root, source=source)
    return document, root


def _config_line(root: yaml.MappingNode | None) -> int | None:
    for key_node, value_node in root.value if root is not None else ():
        if key_node.value == "config":
            return node_line(value_node)
    return None


def project_defaults(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """Defaults declared in Pulumi.yaml's `config:` block, as the engine would apply them."""
    project, project_root = _read_mapping(root / "Pulumi.yaml", "Pulumi.yaml")
    declarations = project.get("config") or {}
    if not isinstance(declarations, dict):
        raise InputError(
            [
                Problem(
                    "Pulumi.yaml",
                    "'config' must be a mapping of keys to declarations",
                    "declare each key as '<key>: {type: string, default: <value>}'",
                    line=_config_line(project_root),
                )
            ]
        )
    defaults: dict[str, Any] = {}
    for key, declaration in declarations.items():
        if isinstance(declaration, dict) and "default" in declaration:
            defaults[str(key).removeprefix(f"{PROJECT}:")] = declaration["default"]
    return defaults


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _mask_secure(value: Any) -> tuple[Any, bool]:
    """Replace every `{secure: ...}` in a value by the placeholder; say whether there was one."""
    if _is_secure(value):
        return SECRET_PLACEHOLDER, True
    if isinstance(value, dict):
        masked: dict[str, Any] = {}
        any_secret = False
        for key, item in value.items():
            masked[key], secret = _mask_secure(item)
            any_secret = any_secret or secret
        return masked, any_secret
    if isinstance(value, list):
        pairs = [_mask_secure(item) for item in value]
        return [item for item, _ in pairs], any(secret for _, secret in pairs)
    return value, False


def _key_lines(node: yaml.Node, prefix: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = (*prefix, str(key_node.value))
            lines[path] = key_node.start_mark.line + 1
            _key_lines(value_node, path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = (*prefix, str(index))
            lines[path] = item.start_mark.line + 1
            _key_lines(item, path, lines)


def read_stack_file(stack: str, root: Path = PROJECT_ROOT) -> RawConfig:
    """Read `Pulumi.<stack>.yaml` offline, with Pulumi.yaml's defaults under it."""
    path = stack_file(stack, root)
    source = path.name
    if not path.is_file():
        available = sorted(
            p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml")
        )
        raise InputError(
            [
                Problem(
                    source,
                    f"no stack file for stack {stack!r}",
                    f"use one of {', '.join(available)} or run 'pulumi stack init {stack}'",
                )
            ]
        )
    document, root_node = _read_mapping(path, source)
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise InputError(
            [
                Problem(
                    source,
                    "'config' must be a mapping of keys to values",
                    "write each key under 'config:' as 'ecr-pull-through-cache:<key>: <value>'",
                    line=_config_line(root_node) or 1,
                )
            ]
        )

    lines: dict[tuple[str, ...], int] = {}
    for key_node, value_node in root_node.value if root_node is not None else ():
        if key_node.value == "config":
            _key_lines(value_node, (), lines)
    values: dict[str, Any] = project_defaults(root)
    provider: dict[str, Any] = {}
    secret_keys: set[str] = set()
    normalized_lines: dict[tuple[str, ...], int] = {}
    for full_key, raw_value in config.items():
        namespace, _, name = str(full_key).partition(":")
        value, secret = _mask_secure(raw_value)
        key_line = {path[1:]: line for path, line in lines.items() if path[0] == full_key}
        if namespace == PROJECT and name:
            values[name] = value
            if secret:
                secret_keys.add(name)
            normalized_lines.update({(name, *path): line for path, line in key_line.items()})
        else:
            provider[str(full_key)] = value
    return RawConfig(source, values, frozenset(secret_keys), provider, normalized_lines, from_file=True)


def read_engine_config(all_config: Mapping[str, Any], secret_keys: frozenset[str]) -> RawConfig:
    """Config as the Pulumi engine hands it to the program: strings, with objects as JSON text."""
    values: dict[str, Any] = {}
    provider: dict[str, Any] = {}
    secrets: set[str] = set()
    for full_key, raw in all_config.items():
        namespace, _, name = full_key.partition(":")
        value = raw
        if isinstance(raw, str) and raw[:1] in "[{":
            try:
                value = json.loads(raw)
            except (json.JSONDecodeError, RecursionError):
                value = raw  # left as text, for the key's own check to report
        if namespace == PROJECT:
            values[name] = value
            if full_key in secret_keys:
                secrets.add(name)
        else:
            provider[full_key] = value
    return RawConfig("Pulumi config", values, frozenset(secrets), provider)
