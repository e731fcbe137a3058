"""Karpenter `EC2NodeClass` manifests whose user data makes nodes pull through the cache.

Karpenter merges `spec.userData` with its own: for `AL2023` it adds its `NodeConfig` part to the
MIME document, for `Bottlerocket` it merges its TOML settings into ours
(https://karpenter.sh/docs/concepts/nodeclasses/#specuserdata). No dependencies, so you can copy it.
"""

from __future__ import annotations

from typing import Any

import yaml

# The AMI families this file writes, and the alias Karpenter v1 resolves to the latest AMI of each.
AMI_ALIASES = {"AL2023": "al2023@latest", "Bottlerocket": "bottlerocket@latest"}


def ec2_node_class(*, name: str, family: str, role: str, cluster: str, user_data: str) -> dict[str, Any]:
    """One `karpenter.k8s.aws/v1` EC2NodeClass, discovering subnets and security groups by cluster tag."""
    if family not in AMI_ALIASES:
        raise ValueError(f"{family!r} is not one of {sorted(AMI_ALIASES)}")
    discovery = [{"tags": {"karpenter.sh/discovery": cluster}}]
    return {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": name},
        "spec": {
            "role": role,
            "amiSelectorTerms": [{"alias": AMI_ALIASES[family]}],
            "subnetSelectorTerms": discovery,
            "securityGroupSelectorTerms": discovery,
            "userData": user_data,
        },
    }


def node_classes_yaml(*, role: str, cluster: str, al2023_user_data: str, bottlerocket_settings: str) -> str:
    """Both node classes as one YAML stream, for `kubectl apply -f -` or your Kubernetes provider."""
    classes = [
        ec2_node_class(
            name="pull-through-cache-al2023",
            family="AL2023",
            role=role,
            cluster=cluster,
            user_data=al2023_user_data,
        ),
        ec2_node_class(
            name="pull-through-cache-bottlerocket",
            family="Bottlerocket",
            role=role,
            cluster=cluster,
            user_data=bottlerocket_settings,
        ),
    ]
    return yaml.safe_dump_all(classes, sort_keys=False)
