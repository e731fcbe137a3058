"""The settings `pulumi up` runs on: the engine's config, or what the offline plan handed in.

The offline plan hands in settings it read from the stack file; nothing else can, so a real
deployment never runs on placeholder secrets.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pulumi
from pulumi.runtime import get_config_env, get_config_secret_keys_env, is_config_secret

from components.config.load import build_settings
from components.config.settings import StackSettings
from components.config.source import read_engine_config
from components.errors import BadInputError

_offline_settings: StackSettings | None = None


def use_offline_settings(settings: StackSettings | None) -> None:
    global _offline_settings
    _offline_settings = settings


def is_offline() -> bool:
    """True under the offline plan and the mock tests: nothing may be fetched from the network."""
    return _offline_settings is not None


def engine_settings() -> StackSettings:
    """The whole config bag the language host passes in `PULUMI_CONFIG`, secrets marked as such.

    `pulumi.Config(project)` reads one key at a time and cannot list them; the program must see
    every key to refuse unknown ones, hence the public `get_config_env()`. The settings' warnings
    go to the engine's log here; the offline plan, which brings its own settings, lists them as
    notes (logging them from the program as well printed each twice).
    """
    if _offline_settings is not None:
        return _offline_settings
    all_config = get_config_env()
    secret_keys = frozenset(get_config_secret_keys_env()) | {
        key for key in all_config if is_config_secret(key)
    }
    settings = build_settings(read_engine_config(all_config, secret_keys), stack=pulumi.get_stack())
    for warning in settings.warnings:
        pulumi.log.warn(warning)
    return settings


@contextlib.contextmanager
def input_errors_reported() -> Iterator[None]:
    """Under `pulumi up`, bad input ends the run with its message and no traceback.

    `pulumi.RunError` is Pulumi's documented way to stop a program cleanly
    (pulumi/errors.py). The offline plan lets the original error through, so the CLI
    reports it and exits 2.
    """
    try:
        yield
    except BadInputError as error:
        if _offline_settings is not None:
            raise
        raise pulumi.RunError(f"the input needs fixing:\n{error}") from None
