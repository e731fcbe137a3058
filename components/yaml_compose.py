"""Compose YAML documents from files we do not control, with limits.

Rendered manifests and lock files are read as node trees (`yaml.SafeLoader` composition, so
every value keeps its line), but with what SafeLoader leaves open closed: a size cap, a nesting
limit, and no anchors or aliases (an alias "billion laughs" expands exponentially, and neither
Kubernetes manifests nor our files need them). This is the one place discovery and the lock
read YAML; it is meant to merge with the catalogue's reader.
"""

from __future__ import annotations

from typing import Any

import yaml

from components.errors import InputError, Problem, yaml_syntax_problem

MAX_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64


class _LimitedLoader(yaml.SafeLoader):
    """SafeLoader's composer, refusing anchors and aliases and nesting past MAX_DEPTH."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted", event.start_mark
            )
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors (&name) are not accepted", event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nesting deeper than {MAX_DEPTH} levels", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def compose_documents(data: bytes, *, source: str, hint: str) -> list[yaml.Node]:
    """Every document of a YAML stream as a node tree; empty documents are left out.

    Raises InputError naming `source` and the line for oversize input, undecodable bytes,
    syntax errors, anchors, aliases and deep nesting.
    """
    if len(data) > MAX_BYTES:
        raise InputError([Problem(source, f"larger than {MAX_BYTES // (1024 * 1024)} MiB", hint)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            [Problem(source, f"not UTF-8 text (byte {error.start})", "save the file as UTF-8")]
        ) from None
    loader = _LimitedLoader(text)
    documents: list[yaml.Node] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                documents.append(node)
    except yaml.YAMLError as error:
        raise InputError([yaml_syntax_problem(error, source, hint)]) from None
    finally:
        loader.dispose()
    return documents


def mapping_fields(node: yaml.Node | None) -> dict[str, yaml.Node]:
    """A mapping node's values by their scalar keys; {} for anything else, or nothing."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {key.value: value for key, value in node.value if isinstance(key, yaml.ScalarNode)}


def scalar_text(node: yaml.Node | None) -> str | None:
    """A scalar node's text, or None for anything else (null, a list, a mapping)."""
    if isinstance(node, yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:null":
        return str(node.value)
    return None
