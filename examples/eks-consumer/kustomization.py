"""A `kustomization.yaml` whose pods all run from the cache: the `kustomize_images` output as its `images`.

For EKS Auto Mode and Fargate, whose nodes take no containerd configuration: the references the pods
carry must name the cache. Kustomize rewrites them at build time, nothing runs in the cluster.
`kustomize_images` has one entry per spelling of each catalogue image (`nginx:1.27`,
`docker.io/library/nginx:1.27`, ...) with its tag, so kustomize changes only the tags the cache
holds, to the digest the cache was warmed at. Copy this file into your project; it needs PyYAML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml


def kustomization(resources: Sequence[str], images: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """A `kustomize.config.k8s.io/v1beta1` Kustomization of `resources` with the cache's `images`."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(resources),
        "images": [dict(entry) for entry in images],
    }


def kustomization_yaml(resources: Sequence[str], images: Sequence[Mapping[str, str]]) -> str:
    """The same as YAML, for `pulumi stack output kustomization > overlays/through-cache/kustomization.yaml`."""
    header = "# Written from the ecr-pull-through-cache stack's kustomize_images output; do not edit.\n"
    return header + yaml.safe_dump(kustomization(resources, images), sort_keys=False)
