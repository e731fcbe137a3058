"""`python -m components` as users run it: exit codes, one JSON object, mirrors from a stack."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.cli import warm as warm_command
from components.cli.warm_stack import routes_from_stack
from components.cli.warm_targets import WarmWork
from components.model.catalogue import CatalogueEntry, load_catalogue
from components.model.image_lock import WarmTag
from components.model.images import parse_image
from components.warm.targets import WarmResult, WarmTarget

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "components", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_validate_accepts_the_repository_stacks() -> None:
    result = run_cli("validate", "--stack", "prod")
    assert result.returncode == 0, result.stderr
    assert "stack prod: 7 cache rules" in result.stdout
    assert "pulumi config set --secret ecr-pull-through-cache:docker-hub-token" in result.stdout


def test_validate_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    images = tmp_path / "images.yaml"
    images.write_text("- quay.io/a/b:1\n- gcr.io/distroless/static:nonroot\n")
    result = run_cli("validate", "--stack", "dev", "--images", str(images))
    assert result.returncode == 2
    assert (
        f"{images}:2: gcr.io/distroless/static:nonroot: registry 'gcr.io' is not a supported upstream"
        in result.stderr
    )


def test_validate_unknown_stack() -> None:
    result = run_cli("validate", "--stack", "staging")
    assert result.returncode == 2
    assert "no stack file for stack 'staging'" in result.stderr
    assert "use one of dev, prod" in result.stderr


def test_plan_json_is_exactly_one_object_covering_every_image() -> None:
    result = run_cli("plan", "--stack", "prod", "--json")
    assert result.returncode == 0, result.stderr
    plan: dict[str, Any] = json.loads(result.stdout)
    assert set(plan) == {"resources", "outputs"}
    catalogue = {str(entry.ref) for entry in load_catalogue(ROOT / "images.yaml")}
    assert set(plan["outputs"]["images"]) == catalogue


CIPHERTEXT = "v1:RECOGNIZABLE-CIPHERTEXT-7f3a9c"


def copy_project(into: Path) -> None:
    """The program and its catalogue, without the stack files, for a test to add its own."""
    for name in ("components", "__main__.py", "Pulumi.yaml", "images.yaml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, into / name)


def plan_in(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "components", "plan", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_plan_reports_a_settings_warning_once(tmp_path: Path, json_flag: tuple[str, ...]) -> None:
    """The plan lists the settings' warnings as notes; the program logs them only under the engine."""
    copy_project(tmp_path)
    stack = (ROOT / "Pulumi.dev.yaml").read_text()
    immutable = "  ecr-pull-through-cache:templates:\n    imageTagMutability: IMMUTABLE\n"
    (tmp_path / "Pulumi.dev.yaml").write_text(stack.replace("config:\n", f"config:\n{immutable}", 1))
    result = plan_in(tmp_path, "--stack", "dev", *json_flag)
    assert result.returncode == 0, result.stderr
    assert (result.stdout + result.stderr).count("imageTagMutability is IMMUTABLE") == 1


def test_plan_never_shows_a_stack_files_secret(tmp_path: Path) -> None:
    """A stack file's secure value (ciphertext, as `pulumi config set --secret` writes it) stays out of the plan."""
    copy_project(tmp_path)
    stack = (ROOT / "Pulumi.prod.yaml").read_text()
    token = f"  ecr-pull-through-cache:docker-hub-token:\n    secure: {CIPHERTEXT}\n"
    (tmp_path / "Pulumi.prod.yaml").write_text(stack.replace("config:\n", f"config:\n{token}", 1))
    result = plan_in(tmp_path, "--stack", "prod", "--json")
    assert result.returncode == 0, result.stderr
    assert "RECOGNIZABLE" not in result.stdout + result.stderr
    plan = json.loads(result.stdout)
    version = next(
        r
        for r in plan["resources"]
        if r["name"] == "cache-credential-docker-hub" and "SecretVersion" in r["type"]
    )
    assert version["inputs"]["secretString"] == "[secret]"
    assert "docker-hub-token" not in result.stderr, "a token the stack sets is not reported missing"
    assert "ghcr-token <access token>" in result.stderr, "one it does not set is"


def test_warm_mirrors_from_a_stack_use_the_callers_account(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeSts:
        def get_caller_identity(self) -> dict[str, str]:
            return {"Account": "210987654321"}

    class FakeBoto3:
        @staticmethod
        def client(service: str, region_name: str) -> FakeSts:
            assert (service, region_name) == ("sts", "eu-west-1")
            return FakeSts()

    monkeypatch.setitem(sys.modules, "boto3", FakeBoto3)
    routes = routes_from_stack("dev", warm_command.load_settings("dev"))
    assert routes.copies == [] and routes.upstream_logins == {}, "dev copies nothing"
    mirrors = {m.upstream: m.url for m in routes.mirrors}
    assert mirrors["docker.io"] == "https://210987654321.dkr.ecr.eu-west-1.amazonaws.com/docker-hub"
    assert mirrors["quay.io"] == "https://210987654321.dkr.ecr.eu-west-1.amazonaws.com/quay"
    assert set(mirrors) == {"docker.io", "ghcr.io", "public.ecr.aws", "quay.io", "registry.k8s.io"}


def test_warm_with_a_stack_checks_the_catalogue_it_warms(tmp_path: Path) -> None:
    images = tmp_path / "images.yaml"
    images.write_text("- cgr.dev/chainguard/static:latest\n")
    result = run_cli("warm", "--stack", "dev", "--images", str(images))
    assert result.returncode == 2
    assert f"{images}:1: cgr.dev/chainguard/static:latest: upstream 'cgr.dev' is not enabled" in result.stderr


def test_warm_without_any_mirror_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    warm_command.add_arguments(parser)
    assert warm_command.run(parser.parse_args([])) == 2
    assert "pass --mirror UPSTREAM=URL, --copy UPSTREAM=URL or --stack" in capsys.readouterr().err


def test_warm_command_does_not_import_pulumi() -> None:
    code = "import sys, components.cli.warm; print(any(m.split('.')[0] == 'pulumi' for m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _fake_results() -> list[WarmResult]:
    ok = WarmResult(
        WarmTarget(parse_image("quay.io/a/b:1"), "a/b", "1"),
        digest="sha256:" + "a" * 64,
        media_type="application/vnd.oci.image.index.v1+json",
        platforms=["linux/amd64", "linux/arm64"],
        bytes_moved=1234,
        blobs=4,
    )
    failed = WarmResult(
        WarmTarget(parse_image("quay.io/a/c:1"), "a/c", "1"), error="the registry answered 503"
    )
    return [ok, failed]


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "log"])
def test_progress_on_a_terminal_one_line_per_image_otherwise(
    monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    async def fake_warm(
        work: object, args: object, report: Callable[[WarmResult], None], *_: object
    ) -> list[WarmResult]:
        results = _fake_results()
        for result in results:
            report(result)
        return results

    monkeypatch.setattr(warm_command, "warm_catalogue", fake_warm)
    out: io.StringIO = Terminal() if terminal else io.StringIO()
    recorded: list[WarmResult] = []
    tags = [
        WarmTag(CatalogueEntry(parse_image(f"quay.io/a/{name}:1"), None, "images.yaml", line), None)
        for line, name in enumerate("bc", start=1)
    ]
    prepared = warm_command._Prepared(WarmWork({}, {}), {}, tags, frozenset(), None, None, [])
    results, stopped_by = warm_command._run_with_progress(
        prepared, argparse.Namespace(), out, recorded.append
    )
    assert results is not None and stopped_by is None
    assert [r.ok for r in results] == [True, False]
    assert recorded == results, "each image is recorded (for the state) as it finishes"
    text = out.getvalue()
    assert "FAILED  quay.io/a/c:1: the registry answered 503" in text
    if terminal:
        assert "warming" in text and "2/2" in text
        assert "ok      quay.io/a/b:1" not in text, "a terminal gets the bar, not a line per image"
    else:
        assert "ok      quay.io/a/b:1 sha256:" + "a" * 64 in text
        assert "[linux/amd64,linux/arm64] 4 blobs, 1234 bytes" in text
