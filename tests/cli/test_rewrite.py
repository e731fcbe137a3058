"""`python -m components rewrite`: where the result goes, exit codes, and bad input refused in one line."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
import yaml

from components.cli.main import main
from tests.bounded import run_cli

DATA = Path(__file__).resolve().parents[1] / "data" / "rewrite"
OUTPUTS = DATA / "outputs.json"
IMAGES: dict[str, str] = json.loads(OUTPUTS.read_text())["images"]
NGINX = IMAGES["docker.io/library/nginx:1.27"]
DEPLOYMENT = "kind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n"


def manifest(*images: str) -> str:
    return DEPLOYMENT + "".join(
        f"      - name: c{i}\n        image: {image}\n" for i, image in enumerate(images)
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the corpus, to write into."""
    return Path(shutil.copytree(DATA / "manifests", tmp_path / "rendered"))


def test_without_write_or_out_the_result_goes_to_stdout_as_one_stream(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    assert main(["rewrite", str(tree), "--outputs", str(OUTPUTS)]) == 0
    printed = capsys.readouterr()
    documents = [d for d in yaml.safe_load_all(printed.out) if d]
    assert len(documents) == 16, "every document of the five files, in one YAML stream"
    assert f"image: {NGINX}" in printed.out
    assert {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()} == before, "nothing written"
    assert "left     ghcr.io/acme/tool:v1  (" in printed.err and "not in the catalogue" in printed.err
    assert printed.err.rstrip().endswith("21 images replaced in 5 of 5 files, 6 left as written")


def test_write_replaces_changed_files_atomically_and_keeps_their_mode(tree: Path) -> None:
    target, untouched = tree / "app.json", tree / "unchanged.yaml"
    untouched.write_text(manifest("ghcr.io/acme/tool:v1"))
    os.chmod(target, 0o640)
    os.utime(untouched, (1_000_000_000, 1_000_000_000))
    assert main(["rewrite", str(tree), "--outputs", str(OUTPUTS), "--write"]) == 0
    assert NGINX in target.read_text() and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert untouched.stat().st_mtime == 1_000_000_000, "a file with nothing to replace is not rewritten"
    assert not [p for p in tree.rglob(".*.tmp")], "no temporary file is left behind"
    assert main(["rewrite", str(tree), "--outputs", str(OUTPUTS), "--write", "--strict"]) == 1


def test_out_mirrors_the_input_tree_and_leaves_the_input_alone(tree: Path, tmp_path: Path) -> None:
    original = (tree / "nested" / "team" / "more.yml").read_text()
    out = tmp_path / "through-cache"
    assert (
        main(["rewrite", str(tree), str(DATA / "outputs.json"), "--outputs", str(OUTPUTS), "--out", str(out)])
        == 0
    )
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == [
        "app.json",
        "lookalikes.yaml",
        "nested/team/more.yml",
        "outputs.json",  # a file given by name goes to the top
        "pins.yaml",
        "workloads.yaml",
    ]
    assert NGINX in (out / "nested" / "team" / "more.yml").read_text()
    assert (tree / "nested" / "team" / "more.yml").read_text() == original


def test_out_inside_an_input_directory_is_refused_before_anything_is_written(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rewrite", str(tree), "--outputs", str(OUTPUTS), "--out", str(tree / "out")]) == 2
    assert not (tree / "out").exists()
    assert f"error: {tree / 'out'}: is inside the input directory" in capsys.readouterr().err


def test_strict_exits_1_when_an_image_is_left_and_0_when_every_image_is_in_the_catalogue(
    tmp_path: Path,
) -> None:
    rendered = tmp_path / "app.yaml"
    rendered.write_text(manifest("nginx:1.27", "docker.io/library/nginx:1.26"))
    assert main(["rewrite", str(rendered), "--outputs", str(OUTPUTS), "--strict"]) == 0
    rendered.write_text(manifest("nginx:1.27", "nginx:1.25"))
    assert main(["rewrite", str(rendered), "--outputs", str(OUTPUTS)]) == 0
    assert main(["rewrite", str(rendered), "--outputs", str(OUTPUTS), "--strict"]) == 1


def test_its_own_output_is_left_as_it_is_without_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rendered = tmp_path / "app.yaml"
    rendered.write_text(manifest("nginx:1.27", f"nginx@sha256:{'1' * 64}"))
    assert main(["rewrite", str(rendered), "--outputs", str(OUTPUTS), "--write"]) == 0
    once = rendered.read_text()
    capsys.readouterr()
    assert main(["rewrite", str(rendered), "--outputs", str(OUTPUTS), "--write", "--strict"]) == 0
    assert rendered.read_text() == once
    assert capsys.readouterr().err.strip() == "0 images replaced in 0 of 1 files, 0 left as written"


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ('{"registry": "x"}', "has no `images` output"),
        ("not json", "not JSON"),
        ('{"images": ["nginx"]}', "`images` is not a map"),
        ('{"images": {"nginx:1.27": "Not A Reference"}}', "images['nginx:1.27']: image reference"),
        ('{"images": {"nginx:1.27": 7}}', "images['nginx:1.27']: the cache reference is not a string"),
        ("[" * 100_000 + "]" * 100_000, "not JSON: nested too deeply"),
    ],
)
def test_a_bad_outputs_file_is_one_line_naming_it_and_the_fix(
    tmp_path: Path, outputs: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "outputs.json").write_text(outputs)
    (tmp_path / "app.yaml").write_text(manifest("nginx:1.27"))
    assert main(["rewrite", str(tmp_path / "app.yaml"), "--outputs", str(tmp_path / "outputs.json")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {tmp_path / 'outputs.json'}: ")
    assert message in lines[0] and "; fix: " in lines[0] and "pulumi stack output --json" in lines[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"kind: Pod\nspec: [unclosed\n", "YAML syntax error"),
        (b"kind: Pod\nspec: &a {}\nother: *a\n", "anchors and aliases are not accepted"),
        (b"kind: Pod\nname: \xff\xfe\n", "not UTF-8 text"),
        (b"kind: Pod\nname: \x07\n", "character #x0007 is not allowed"),
    ],
)
def test_a_bad_manifest_is_one_line_naming_it_and_nothing_is_written(
    tmp_path: Path, content: bytes, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "a-good.yaml", tmp_path / "b-bad.yaml"
    good.write_text(manifest("nginx:1.27"))
    bad.write_bytes(content)
    assert main(["rewrite", str(tmp_path), "--outputs", str(OUTPUTS), "--write"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {bad}") and message in line and "; fix: " in line
    assert good.read_text() == manifest("nginx:1.27"), "the good file was not written either"


def test_a_missing_path_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rewrite", str(tmp_path / "absent.yaml"), "--outputs", str(OUTPUTS)]) == 2
    assert f"error: {tmp_path / 'absent.yaml'}: no such file or directory; fix:" in capsys.readouterr().err


def test_write_and_out_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["rewrite", str(tmp_path), "--outputs", str(OUTPUTS), "--write", "--out", str(tmp_path / "o")])
    assert raised.value.code == 2


@pytest.mark.parametrize("kind", ["fifo", "oversized"])
def test_a_fifo_or_an_oversized_manifest_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    """Through the real CLI, bounded: a FIFO with no writer is not waited on; 16 MiB is the cap."""
    rendered = tmp_path / "rendered.yaml"
    if kind == "fifo":
        os.mkfifo(rendered)
    else:
        with rendered.open("wb") as stream:
            stream.truncate(16 * 1024 * 1024 + 1)
    outcome = run_cli("rewrite", str(rendered), "--outputs", str(OUTPUTS), deadline_s=60)
    assert outcome.returncode == 2, outcome.output
    assert f"error: {rendered}: " in outcome.stderr and "; fix: " in outcome.stderr
    assert "Traceback" not in outcome.output
