"""What a user sees when something unexpected fails: one line and exit 1, the traceback only on request."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest

from components.cli import main as cli
from components.config.load import build_settings
from components.config.settings import StackSettings
from components.config.source import RawConfig
from components.config.upstream_checks import check_role_for_account
from components.errors import InputError, Problem
from components.program import engine as program

SECRET = "hunter2-not-for-logs"


def _fails(error: BaseException) -> Callable[[argparse.Namespace], int]:
    def handler(_: argparse.Namespace) -> int:
        raise error

    return handler


@pytest.fixture
def broken_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    error = RuntimeError(f"cannot reach https://AWS:{SECRET}@cache.example/v2/\nwhile checking")
    monkeypatch.setattr(cli, "_validate", _fails(error))


def test_an_unexpected_error_is_one_redacted_line_and_exit_1(
    broken_validate: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["validate", "--stack", "dev"]) == cli.EXIT_FAILED
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "error: RuntimeError: cannot reach https://***@cache.example/v2/ while checking "
        "(run again with --debug for the traceback)\n"
    )


@pytest.mark.parametrize(
    "argv", [["--debug", "validate"], ["validate", "--debug"]], ids=["before", "after the command"]
)
def test_debug_shows_the_traceback_still_redacted(
    broken_validate: None, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert cli.main(argv) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "in handler" in err
    assert err.splitlines()[-1].startswith("error: RuntimeError: cannot reach https://***@cache.example")
    assert SECRET not in err


def test_without_debug_the_flag_defaults_off() -> None:
    assert cli._parser(["validate"]).parse_args(["validate"]).debug is False


def test_input_errors_still_exit_2_with_their_problems(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    error = InputError([Problem("images.yaml", "bad entry", "fix it", line=3)])
    monkeypatch.setattr(cli, "_validate", _fails(error))
    assert cli.main(["validate"]) == cli.EXIT_BAD_INPUT
    assert (
        capsys.readouterr().err
        == "error: the input needs fixing:\nimages.yaml:3: bad entry\n    fix: fix it\n"
    )


def test_an_interrupt_is_one_line_and_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_validate", _fails(KeyboardInterrupt()))
    assert cli.main(["validate"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


@pytest.fixture
def engine_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Config as `pulumi up` hands it to the program (PULUMI_CONFIG): a region and none of the required keys."""
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"aws:region": "eu-west-1"}))


def test_under_pulumi_up_bad_input_ends_the_program_with_a_run_error(engine_config: None) -> None:
    """pulumi.RunError is what the engine reports as a message, without the program's traceback."""
    with (
        pytest.raises(pulumi.RunError, match="the input needs fixing:\nPulumi config") as caught,
        program.input_errors_reported(),
    ):
        program.engine_settings()
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def _cross_account_settings(tmp_path: Path) -> StackSettings:
    """An ECR upstream in another account with no role: refused once the deploying account is known."""
    (tmp_path / "images.yaml").write_text("")
    ecr = "333333333333.dkr.ecr.us-east-1.amazonaws.com"
    config = RawConfig(
        "Pulumi.test.yaml",
        {"upstreams": {ecr: {}}, "endpoints": {"enabled": False}},
        frozenset(),
        {"aws:region": "eu-west-1"},
    )
    return build_settings(config, root=tmp_path)


def test_under_pulumi_up_an_account_check_ends_the_program_with_a_run_error(tmp_path: Path) -> None:
    with pytest.raises(pulumi.RunError, match="roleArn is required"), program.input_errors_reported():
        check_role_for_account(_cross_account_settings(tmp_path), "123456789012")


def test_offline_the_input_error_goes_on_to_the_cli_which_exits_2(tmp_path: Path) -> None:
    settings = _cross_account_settings(tmp_path)
    program.use_offline_settings(settings)
    try:
        with pytest.raises(InputError, match="roleArn is required"), program.input_errors_reported():
            check_role_for_account(settings, "123456789012")
    finally:
        program.use_offline_settings(None)
