"""One hierarchy for input a user can fix: the CLI exits 2 on any of it, `pulumi up` stops cleanly."""

from __future__ import annotations

import pulumi
import pytest

from components.cli import main as cli
from components.errors import (
    BadInputError,
    CredentialSecretError,
    ImageRefError,
    InputError,
    LifecyclePolicyError,
    NetworkValueError,
    PolicyInputError,
    UnsupportedUpstreamError,
)
from components.policies.access import Consumers
from components.program import engine as program


@pytest.mark.parametrize(
    "error",
    [
        InputError,
        PolicyInputError,
        LifecyclePolicyError,
        ImageRefError,
        NetworkValueError,
        UnsupportedUpstreamError,
        CredentialSecretError,
    ],
)
def test_every_input_error_shares_one_base(error: type[Exception]) -> None:
    assert issubclass(error, BadInputError)


def test_bad_consumer_input_stops_pulumi_up_without_a_traceback() -> None:
    """Under the engine (no offline settings) a PolicyInputError becomes pulumi.RunError, Pulumi's clean stop."""
    program.use_offline_settings(None)
    with pytest.raises(pulumi.RunError) as caught, program.input_errors_reported():
        Consumers(account_ids=("12345",))
    assert "the input needs fixing" in str(caught.value)
    assert "'12345' is not a 12-digit AWS account ID" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_cli_exits_2_on_any_input_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def bad_policy(*_: object, **__: object) -> None:
        raise PolicyInputError("the registry policy is too long")

    monkeypatch.setattr("components.config.load.load_stack_settings", bad_policy)
    assert cli.main(["validate", "--stack", "dev"]) == cli.EXIT_BAD_INPUT
    assert "the registry policy is too long" in capsys.readouterr().err
