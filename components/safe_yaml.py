"""The one way this project reads YAML someone gave it: bounded, and every failure an InputError.

Files (`read_yaml`) and multi-document streams (`compose_documents`): a byte cap, UTF-8 decoded
here, no anchors or aliases, a nesting and node limit counted while composing. Why each:
docs/yaml-safety.md.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, NodeEvent
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from components.errors import InputError, Problem, yaml_syntax_problem

KIB = 1024
MIB = 1024 * KIB
# A stack file or Pulumi.yaml is a few KiB; 1 MiB is hundreds of times that.
MAX_STACK_FILE_BYTES = 1 * MIB
# About 40,000 catalogue entries of typical length (the README's benchmarks use 3,000).
MAX_CATALOGUE_BYTES = 2 * MIB
# A lock entry (reference, digest, platforms) is about 200 bytes; MAX_NODES binds first, at about
# 10,000 images.
MAX_LOCK_BYTES = 4 * MIB
# Deeper than any file here needs (a stack file nests 4 or 5 levels), far below the recursion limit.
MAX_DEPTH = 64
# Values per document: about 10,000 locked images (8 values each), some 70 MB composed; bounds
# memory whatever the byte count allows.
MAX_NODES = 100_000
# Rendered manifests of a large platform (`helm template` of many charts, CRDs included).
MAX_MANIFEST_BYTES = 16 * MIB


class _Refused(yaml.MarkedYAMLError):
    """A document this reader will not compose, at the mark where it stopped."""


class _GuardedLoader(Reader, Scanner, Parser, Composer, SafeConstructor, Resolver):
    """`yaml.SafeLoader`, refusing anchors, aliases, deep nesting and too many nodes as it composes."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._depth = 0
        self._nodes = 0

    def reset_count(self) -> None:
        """A new document of a stream: MAX_NODES counts per document."""
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # PyYAML's stubs leave it untyped
        mark = event.start_mark if isinstance(event.start_mark, yaml.Mark) else None
        if isinstance(event, AliasEvent) or (isinstance(event, NodeEvent) and event.anchor is not None):
            raise _Refused(problem="YAML anchors and aliases are not accepted", problem_mark=mark)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Refused(problem=f"the document has more than {MAX_NODES:,} values", problem_mark=mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    problem=f"values are nested more than {MAX_DEPTH} levels deep", problem_mark=mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _line_of(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def read_file(path: Path | str, *, max_bytes: int, source: str) -> bytes:
    """At most `max_bytes` + 1 bytes of a regular file, so that a caller can tell it is too large.

    Opened without blocking, and refused (InputError) unless it is a regular file: a FIFO with no
    writer would hang the open, and a device or a pipe can stream without end. OSError (a missing
    file among them) is the caller's to report.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise InputError(
                [
                    Problem(
                        source,
                        "is not a regular file",
                        "pass the path of a file; save a command's output to one first",
                    )
                ]
            )
        return stream.read(max_bytes + 1)


def read_yaml(path: Path | str, *, max_bytes: int, source: str | None = None, hint: str) -> yaml.Node | None:
    """The composed document of a file (None when empty); InputError for anything it will not read.

    `source` names the file in problems (default: the path as given); `hint` says how to fix a
    syntax error in this kind of file.
    """
    path = Path(path)
    source = str(path) if source is None else source
    try:
        data = read_file(path, max_bytes=max_bytes, source=source)
    except OSError as error:
        raise InputError(
            [Problem(source, f"cannot read the file: {error.strerror or error}", hint)]
        ) from None
    if len(data) > max_bytes:
        raise InputError(
            [
                Problem(
                    source,
                    f"the file is larger than {max_bytes:,} bytes, the most this reader accepts",
                    "check that this is the right file; split it if it really is this large",
                )
            ]
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            [
                Problem(
                    source,
                    f"byte {error.start} is not UTF-8 text ({error.reason}): the file is binary or in another encoding",
                    "save the file as UTF-8 YAML text",
                    line=data.count(b"\n", 0, error.start) + 1,
                )
            ]
        ) from None
    return compose_yaml(text, source=source, hint=hint)


@contextlib.contextmanager
def _input_errors(text: str, source: str, hint: str) -> Iterator[None]:
    """Every way composing can fail, as an InputError naming `source` and the line."""
    try:
        yield
    except yaml.reader.ReaderError as error:
        raise InputError(
            [
                Problem(
                    source,
                    f"character #x{error.character:04x} is not allowed in YAML: the file is binary or damaged"
                    if isinstance(error.character, int)
                    else f"the text cannot be read as YAML: {error.reason}",
                    "save the file as UTF-8 YAML text, without control characters",
                    line=_line_of(text, error.position),
                )
            ]
        ) from None
    except _Refused as error:
        refusal_hint = (
            "write each value out in full instead of using '&anchor' and '*alias'"
            if "anchors" in str(error.problem)
            else "flatten the document: no file of this project nests or grows this far"
        )
        mark = error.problem_mark
        raise InputError(
            [Problem(source, str(error.problem), refusal_hint, line=mark.line + 1 if mark else None)]
        ) from None
    except yaml.YAMLError as error:
        raise InputError([yaml_syntax_problem(error, source, hint)]) from None


def compose_yaml(text: str, *, source: str, hint: str) -> yaml.Node | None:
    """The composed document of YAML text, with the same refusals as `read_yaml` (but no size cap)."""
    loader: _GuardedLoader | None = None
    with _input_errors(text, source, hint):
        try:
            # The Reader checks every character as it starts, so it stays inside the handler.
            loader = _GuardedLoader(text.removeprefix("\ufeff"))
            node: yaml.Node | None = loader.get_single_node()
            return node
        finally:
            if loader is not None:
                loader.dispose()


def compose_documents(data: bytes, *, source: str, hint: str) -> list[yaml.Node]:
    """Every document of a YAML stream (a rendered manifest, a lock file); empty documents left out.

    The same refusals as `read_yaml`, `MAX_NODES` counted per document, `MAX_MANIFEST_BYTES` in all.
    """
    return compose_stream(decode_stream(data, source=source, hint=hint), source=source, hint=hint)


def decode_stream(data: bytes, *, source: str, hint: str) -> str:
    """A YAML stream's text: at most `MAX_MANIFEST_BYTES`, UTF-8 (a byte-order mark is kept)."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise InputError([Problem(source, f"larger than {MAX_MANIFEST_BYTES // MIB} MiB", hint)])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            [Problem(source, f"not UTF-8 text (byte {error.start})", "save the file as UTF-8")]
        ) from None


def compose_stream(text: str, *, source: str, hint: str) -> list[yaml.Node]:
    """`compose_documents` of decoded text. Each node's marks index into `text` less its
    byte-order mark, so a caller can find a value's characters where the file has them."""
    loader: _GuardedLoader | None = None
    documents: list[yaml.Node] = []
    with _input_errors(text, source, hint):
        try:
            loader = _GuardedLoader(text.removeprefix("\ufeff"))
            while loader.check_node():
                loader.reset_count()
                node = loader.get_node()
                if node is not None:
                    documents.append(node)
        finally:
            if loader is not None:
                loader.dispose()
    return documents


def to_python(node: yaml.Node, *, source: str) -> Any:
    """Plain Python values for a composed node, as `yaml.safe_load` would give them.

    Construction is linear here, since `compose_yaml` let no alias through.
    """
    constructor = SafeConstructor()
    try:
        return constructor.construct_document(node)
    except yaml.MarkedYAMLError as error:
        raise InputError(
            [yaml_syntax_problem(error, source, "write plain strings, numbers and lists")]
        ) from None
    except (yaml.YAMLError, ValueError) as error:
        # A scalar Python refuses to convert, such as an integer longer than 4,300 digits or 2026-13-40.
        raise InputError(
            [Problem(source, f"a value cannot be read: {error}", "write plain strings, numbers and lists")]
        ) from None


def node_line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def describe_kind(node: yaml.Node) -> str:
    """What a node is, for 'must be a mapping, not a list' messages."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "a single value"


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
