"""`warm` reads the selector lock and never writes its state over it: checked before any request
(the mirror is a loopback port nothing listens on)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pytest

from components.cli import warm as warm_command
from components.model.image_lock import lock_path_for
from tests.cli.test_cli import run_cli
from tests.cli.test_lock_wiring import SELECTOR_CATALOGUE, write_lock

MIRROR = ("--mirror", "quay.io=http://127.0.0.1:9", "--plain-http")


@pytest.fixture
def images(tmp_path: Path) -> Path:
    path = tmp_path / "images.yaml"
    path.write_text(SELECTOR_CATALOGUE)
    return path


def test_warm_a_selector_without_a_lock_exits_2_naming_the_lock_command(images: Path) -> None:
    result = run_cli("warm", "--images", str(images), *MIRROR)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{images}:2: the selector for quay.io/argoproj/argocd has no entry in" in result.stderr
    assert "run `python -m components lock` and commit images.lock.yaml" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("option", ["--state", "--lock"])
def test_warm_refuses_the_selector_lock_as_its_state(images: Path, option: str) -> None:
    lock = write_lock(images)
    before = lock.read_bytes()
    result = run_cli("warm", "--images", str(images), *MIRROR, option, str(lock))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{option}: {lock} is the selector lock that `python -m components lock` writes" in result.stderr
    assert "for example --state images.warm-state.yaml" in result.stderr
    assert ("--lock is deprecated" in result.stderr) == (option == "--lock")
    assert lock.read_bytes() == before, "the selector lock is left as it was"


def test_warm_refuses_the_selector_lock_before_it_exists(tmp_path: Path) -> None:
    images = tmp_path / "images.yaml"
    images.write_text("- quay.io/a/b:1\n")
    lock = lock_path_for(images)
    result = run_cli("warm", "--images", str(images), *MIRROR, "--lock", str(lock))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "is the selector lock" in result.stderr
    assert not lock.exists()


def test_warm_with_a_stack_loads_its_settings_once(
    monkeypatch: pytest.MonkeyPatch, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import components.config.load as load

    class FakeSts:
        def get_caller_identity(self) -> dict[str, str]:
            return {"Account": "210987654321"}

    class FakeBoto3:
        @staticmethod
        def client(service: str, region_name: str) -> FakeSts:
            return FakeSts()

    loads: list[str] = []
    real = load.load_stack_settings

    def counting(stack: str, **kwargs: Any) -> Any:
        loads.append(stack)
        return real(stack, **kwargs)

    monkeypatch.setitem(sys.modules, "boto3", FakeBoto3)
    monkeypatch.setattr(load, "load_stack_settings", counting)
    lock = write_lock(images)
    parser = argparse.ArgumentParser()
    warm_command.add_arguments(parser)
    args = parser.parse_args(["--stack", "dev", "--images", str(images), "--state", str(lock)])
    assert warm_command.run(args) == 2, "refused before any request: the state is the selector lock"
    assert loads == ["dev"]
    assert "is the selector lock" in capsys.readouterr().err
