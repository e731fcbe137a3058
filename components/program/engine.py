"""What `__main__.py` needs from outside the components: its settings and its outputs' names.

Under `pulumi up` the settings come from the engine's config. The offline plan
hands in settings it read from the stack file instead; nothing else can, so a
real deployment never runs on placeholder secrets.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pulumi
from pulumi.runtime import config as runtime_config

from components.config.load import build_settings
from components.config.settings import StackSettings
from components.config.source import read_engine_config
from components.errors import BadInputError

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


def program_settings() -> StackSettings:
    if _offline_settings is not None:
        return _offline_settings
    all_config = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = frozenset(runtime_config.get_config_secret_keys_env()) | {
        key for key in all_config if runtime_config.is_config_secret(key)
    }
    return build_settings(read_engine_config(all_config, secret_keys))


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
