"""What `__main__.py` needs from outside the components: its settings and its outputs' names.

Under `pulumi up` the settings come from the engine's config. The offline plan
hands in settings it read from the stack file instead; nothing else can, so a
real deployment never runs on placeholder secrets.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pulumi
from pulumi.runtime import config as runtime_config

from components.config_source import read_engine_config
from components.errors import InputError
from components.settings import StackSettings, build_settings, check_role_for_account

_offline_settings: StackSettings | None = None

# The outputs contract with the EKS project: names are stable; see the README.
REGISTRY = "registry"
CACHE_PREFIXES = "cache_prefixes"
IMAGES = "images"
RULES = "rules"
CREDENTIAL_SECRET_ARNS = "credential_secret_arns"
NODE_PULL_POLICY_ARN = "node_pull_policy_arn"
VPC_ENDPOINT_IDS = "vpc_endpoint_ids"
VPC_ENDPOINT_SECURITY_GROUP_ID = "vpc_endpoint_security_group_id"
KUBELET_CREDENTIAL_PROVIDER_CONFIG = "kubelet_credential_provider_config"
CONTAINERD_HOSTS = "containerd_hosts"
ALERTS_TOPIC_ARN = "alerts_topic_arn"
AMAZON_LINUX_USER_DATA = "al2023_user_data"
BOTTLEROCKET_SETTINGS = "bottlerocket_settings"


def use_offline_settings(settings: StackSettings | None) -> None:
    global _offline_settings
    _offline_settings = settings


@contextmanager
def _input_errors_end_the_program() -> Iterator[None]:
    """Under `pulumi up`, bad input stops the program with its problems listed and no traceback.

    `pulumi.RunError` is the SDK's public way to end a program with a message instead of the
    engine's unhandled-exception report (its docstring says so). Offline, the InputError itself
    goes on to `python -m components`, which exits 2 with the same problems.
    """
    try:
        yield
    except InputError as error:
        if _offline_settings is not None:
            raise
        raise pulumi.RunError(f"the input needs fixing:\n{error}") from None


def program_settings() -> StackSettings:
    if _offline_settings is not None:
        return _offline_settings
    all_config = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = frozenset(runtime_config.get_config_secret_keys_env()) | {
        key for key in all_config if runtime_config.is_config_secret(key)
    }
    with _input_errors_end_the_program():
        return build_settings(read_engine_config(all_config, secret_keys))


def check_account(settings: StackSettings, account_id: str) -> None:
    """The settings checks that need the deploying account (see `check_role_for_account`)."""
    with _input_errors_end_the_program():
        check_role_for_account(settings, account_id)
