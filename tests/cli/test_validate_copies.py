"""`validate` on a stack with copied upstreams: counted apart from the rules, and their missing tokens noted."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from components.cli.main import _validate
from components.config.load import build_settings
from components.config.settings import StackSettings
from tests.config.test_settings import raw


def test_validate_counts_the_copies_and_notes_their_missing_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "images.yaml").write_text("- quay.io/a/b:1\n- nvcr.io/nvidia/cuda:12.4.1-base\n")
    values = {
        "upstreams": {"quay.io": {}, "nvcr.io": {"mode": "copy", "prefix": "nvcr", "username": "$oauthtoken"}}
    }
    settings = build_settings(raw(values), placeholder_secrets=True, root=tmp_path)

    def load(stack: str, *, images_file: object = None) -> StackSettings:
        return settings

    monkeypatch.setattr("components.config.load.load_stack_settings", load)
    assert _validate(argparse.Namespace(stack="test", images=None)) == 0
    out = capsys.readouterr().out
    assert "stack test: 1 cache rules, 1 copied upstreams, 2 images, region eu-west-1: valid" in out
    assert (
        "note: secret not set; before `pulumi up` run: pulumi config set --secret ecr-pull-through-cache:nvcr-token"
        in out
    )
