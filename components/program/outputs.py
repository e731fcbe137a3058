"""The outputs contract with the EKS project: each output's name and type, in one place.

`__main__.py` exports exactly these (through `export`), the README's table lists exactly these
(tests/program/test_outputs.py checks both), and consumers read them with a StackReference.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import pulumi


@dataclass(frozen=True)
class OutputSpec:
    name: str
    type: str


OUTPUTS: tuple[OutputSpec, ...] = (
    OutputSpec("registry", "string"),
    OutputSpec("cache_prefixes", "map: upstream registry -> <registry>/<prefix>, cached and copied"),
    OutputSpec("copy_prefixes", "map: copied upstream registry -> <registry>/<prefix>"),
    OutputSpec("images", "map: catalogue reference -> cache reference"),
    OutputSpec("kustomize_images", "list of {name, newName[, newTag, digest]} for kustomize's images"),
    OutputSpec("rules", "map: ECR prefix -> upstream registry URL"),
    OutputSpec("credential_secret_arns", "map: ECR prefix -> Secrets Manager ARN"),
    OutputSpec("node_pull_policy_arn", "string"),
    OutputSpec("vpc_endpoint_ids", "map: service -> VPC endpoint ID"),
    OutputSpec("vpc_endpoint_security_group_id", "string or null"),
    OutputSpec("kubelet_credential_provider_config", "string (YAML)"),
    OutputSpec("alerts_topic_arn", "string or null"),
    OutputSpec("warm_schedule_function_arn", "string or null"),
    OutputSpec("containerd_hosts", "map: upstream registry -> hosts.toml"),
    OutputSpec("al2023_user_data", "string (MIME multi-part)"),
    OutputSpec("bottlerocket_settings", "string (TOML)"),
)


@dataclass(frozen=True)
class StackOutputs:
    """One field per `OUTPUTS` entry, same names, same order."""

    registry: pulumi.Input[str]
    cache_prefixes: pulumi.Input[dict[str, str]]
    copy_prefixes: pulumi.Input[dict[str, str]]
    images: pulumi.Input[dict[str, str]]
    kustomize_images: pulumi.Input[list[dict[str, str]]]
    rules: pulumi.Input[dict[str, str]]
    credential_secret_arns: pulumi.Input[dict[str, str]]
    node_pull_policy_arn: pulumi.Input[str]
    vpc_endpoint_ids: pulumi.Input[dict[str, str]]
    vpc_endpoint_security_group_id: pulumi.Input[str] | None
    kubelet_credential_provider_config: pulumi.Input[str]
    alerts_topic_arn: pulumi.Input[str] | None
    warm_schedule_function_arn: pulumi.Input[str] | None
    containerd_hosts: pulumi.Input[dict[str, str]]
    al2023_user_data: pulumi.Input[str]
    bottlerocket_settings: pulumi.Input[str]


def export(outputs: StackOutputs) -> None:
    values: dict[str, Any] = {f.name: getattr(outputs, f.name) for f in fields(outputs)}
    for spec in OUTPUTS:
        pulumi.export(spec.name, values[spec.name])
