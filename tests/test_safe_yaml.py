"""The bounded YAML reader: what it refuses, where it says the problem is, and what it still reads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.config.source import read_stack_file
from components.errors import InputError, Problem
from components.safe_yaml import MAX_DEPTH, MAX_NODES, compose_yaml, read_yaml, to_python


def refusal(text: str) -> Problem:
    with pytest.raises(InputError) as caught:
        compose_yaml(text, source="f.yaml", hint="the hint")
    (problem,) = caught.value.problems
    return problem


def load(text: str) -> object:
    node = compose_yaml(text, source="f.yaml", hint="the hint")
    return None if node is None else to_python(node, source="f.yaml")


def test_reads_what_safe_load_reads() -> None:
    text = "a: 1\nb: [x, 2.5, true, null]\nc: {d: '2026-01-01', e: 2026-01-01}\n"
    assert load(text) == yaml.safe_load(text)
    assert load("") is None
    assert load("\ufeffa: 1\n") == {"a": 1}


@pytest.mark.parametrize(
    "text, line",
    [
        ("a: &x [1]\nb: *x\n", 1),
        ("a: 1\nb: &x 2\n", 2),
        ("a: 1\nb:\n  - *x\n", 3),
        ("base: {k: 1}\nother:\n  <<: *base\n", 3),
    ],
    ids=["anchor and alias", "an anchor alone", "an alias alone", "a merge key"],
)
def test_refuses_anchors_and_aliases_at_their_line(text: str, line: int) -> None:
    problem = refusal(text)
    assert (problem.source, problem.line) == ("f.yaml", line)
    assert "anchors and aliases are not accepted" in problem.message
    assert problem.hint and "write each value out in full" in problem.hint


def test_nesting_up_to_the_limit_is_read_and_one_more_level_is_refused() -> None:
    assert load("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    problem = refusal("a: 1\nb: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert problem.line == 2
    assert f"nested more than {MAX_DEPTH} levels deep" in problem.message


def test_a_nesting_far_beyond_the_recursion_limit_is_refused_not_a_recursion_error() -> None:
    assert "nested more than" in refusal("{a: " * 50_000 + "}" * 50_000).message


def test_refuses_more_than_max_nodes_values() -> None:
    assert len(load("[" + ",".join(["a"] * (MAX_NODES - 1)) + "]")) == MAX_NODES - 1  # type: ignore[arg-type]
    assert f"more than {MAX_NODES:,} values" in refusal("[" + ",".join(["a"] * MAX_NODES) + "]").message


def test_control_characters_are_reported_with_their_line() -> None:
    problem = refusal("a: 1\nb: 2\nc: \x00\x07\n")
    assert problem.line == 3
    assert "#x0000 is not allowed" in problem.message


def test_a_syntax_error_keeps_the_callers_hint() -> None:
    problem = refusal("a: [1, 2\nb: 3\n")
    assert problem.message.startswith("YAML syntax error")
    assert problem.hint == "the hint"


def test_a_scalar_python_cannot_convert_is_an_input_error() -> None:
    node = compose_yaml("a: " + "9" * 5000 + "\n", source="f.yaml", hint="h")
    assert node is not None
    with pytest.raises(InputError, match="a value cannot be read"):
        to_python(node, source="f.yaml")


def test_a_file_over_the_cap_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a: [" + b"1," * 100)
    with pytest.raises(InputError, match="larger than 100 bytes") as caught:
        read_yaml(path, max_bytes=100, hint="h")
    assert caught.value.problems[0].source == str(path)
    path.write_bytes(b"a: 1\n")
    assert read_yaml(path, max_bytes=5, hint="h") is not None


def test_undecodable_bytes_give_their_offset_and_line(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a: 1\nb: 2\nc: \xff\xfe\n")
    with pytest.raises(InputError) as caught:
        read_yaml(path, max_bytes=1000, source="named.yaml", hint="h")
    (problem,) = caught.value.problems
    assert (problem.source, problem.line) == ("named.yaml", 3)
    assert "byte 13 is not UTF-8 text" in problem.message
    assert problem.hint == "save the file as UTF-8 YAML text"


def test_an_unreadable_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the file"):
        read_yaml(tmp_path, max_bytes=1000, hint="h")


def test_stack_files_still_give_each_key_its_line(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: ecr-pull-through-cache\nruntime: python\n")
    (tmp_path / "Pulumi.s.yaml").write_text(
        "config:\n  aws:region: eu-west-1\n  ecr-pull-through-cache:templates:\n    encryption: KMS\n"
    )
    raw = read_stack_file("s", tmp_path)
    assert raw.values["templates"] == {"encryption": "KMS"}
    assert raw.line_of(("templates", "encryption")) == 4
    assert raw.line_of(("templates", "encryption", "missing")) == 4


@pytest.mark.parametrize(
    "text, message, line",
    [
        ("- config: {}\n", "the top level must be a mapping, not a list", 1),
        ("\n\nplain words\n", "the top level must be a mapping, not a single value", 3),
        ("config:\n  - a\n", "'config' must be a mapping of keys to values", 2),
    ],
)
def test_stack_files_of_the_wrong_shape_are_named(tmp_path: Path, text: str, message: str, line: int) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: ecr-pull-through-cache\n")
    (tmp_path / "Pulumi.s.yaml").write_text(text)
    with pytest.raises(InputError) as caught:
        read_stack_file("s", tmp_path)
    (problem,) = caught.value.problems
    assert (problem.source, problem.line) == ("Pulumi.s.yaml", line)
    assert message in problem.message
    assert problem.hint


def test_a_pulumi_yaml_config_block_of_the_wrong_shape_is_named(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: ecr-pull-through-cache\nconfig: [a]\n")
    (tmp_path / "Pulumi.s.yaml").write_text("config: {}\n")
    with pytest.raises(InputError, match="'config' must be a mapping of keys to declarations") as caught:
        read_stack_file("s", tmp_path)
    assert caught.value.problems[0].line == 2
    assert caught.value.problems[0].hint
