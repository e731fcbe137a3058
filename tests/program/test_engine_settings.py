"""The settings `pulumi up` hands the program: their warnings go to the engine's log, once."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest

from components.config.load import build_settings
from components.config.settings import StackSettings
from components.config.source import RawConfig
from components.program import engine

WARNING = "can no longer refresh a cached tag"


def immutable_settings(tmp_path: Path) -> StackSettings:
    (tmp_path / "images.yaml").write_text("- quay.io/prometheus/node-exporter:v1.8.2\n")
    values = {
        "upstreams": {"quay.io": {}},
        "endpoints": {"enabled": False},
        "templates": {"imageTagMutability": "IMMUTABLE"},
    }
    return build_settings(
        RawConfig("Pulumi.test.yaml", values, frozenset(), {"aws:region": "eu-west-1"}), root=tmp_path
    )


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the program sends to Pulumi's log as warnings."""
    messages: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_args, **_kwargs: messages.append(message))
    return messages


def test_under_pulumi_up_each_settings_warning_is_logged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logged: list[str]
) -> None:
    settings = immutable_settings(tmp_path)
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"aws:region": "eu-west-1"}))
    monkeypatch.setattr(engine, "build_settings", lambda *_args, **_kwargs: settings)
    assert engine.engine_settings() is settings
    assert [message for message in logged if WARNING in message] == [settings.warnings[0]]


def test_the_offline_plan_logs_none_it_lists_them_as_notes(tmp_path: Path, logged: list[str]) -> None:
    settings = immutable_settings(tmp_path)
    engine.use_offline_settings(settings)
    try:
        assert engine.engine_settings() is settings
    finally:
        engine.use_offline_settings(None)
    assert logged == []
    assert any(WARNING in warning for warning in settings.warnings)
