"""The kustomize route for EKS Auto Mode and Fargate: a kustomization from `kustomize_images`, and the
Fargate pod execution role that may pull through the cache."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_consumer_program import KUSTOMIZE_IMAGES, POLICY_ARN, REGISTRY, run_example

from kustomization import kustomization_yaml


def test_the_exported_kustomization_carries_the_kustomize_images_output_unchanged() -> None:
    _, outputs = run_example()
    document = yaml.safe_load(outputs["kustomization"])
    assert document["kind"] == "Kustomization" and document["resources"] == ["../../base"]
    assert document["images"] == KUSTOMIZE_IMAGES


def test_the_fargate_pod_execution_role_gets_the_cache_policy_beside_its_managed_one() -> None:
    mocks, _ = run_example()
    trust = json.loads(mocks.named["fargate-pods"].inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "eks-fargate-pods.amazonaws.com"}
    assert mocks.named["fargate-pods-pull-through-cache"].inputs["policyArn"] == POLICY_ARN
    assert (
        mocks.named["fargate-pods-execution"]
        .inputs["policyArn"]
        .endswith(":policy/AmazonEKSFargatePodExecutionRolePolicy")
    )


def test_kustomize_builds_the_pods_with_cache_references(tmp_path: Path) -> None:
    """The real `kubectl kustomize`, where installed: only the tags the cache holds change."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: this test runs `kubectl kustomize`")
    (tmp_path / "base").mkdir()
    containers = [
        {"name": "web", "image": "nginx:1.27"},
        {"name": "old", "image": "nginx:1.26"},
        {"name": "argocd", "image": "quay.io/argoproj/argocd:v2.13.3"},
    ]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app"}, "spec": {"containers": containers}}
    (tmp_path / "base" / "pod.yaml").write_text(yaml.safe_dump(pod))
    (tmp_path / "base" / "kustomization.yaml").write_text(yaml.safe_dump({"resources": ["pod.yaml"]}))
    overlay = tmp_path / "overlays" / "through-cache"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text(kustomization_yaml(["../../base"], KUSTOMIZE_IMAGES))
    built = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    images = [c["image"] for c in yaml.safe_load(built.stdout)["spec"]["containers"]]
    assert images == [
        f"{REGISTRY}/docker-hub/library/nginx:1.27@sha256:{'a' * 64}",
        "nginx:1.26",
        f"{REGISTRY}/quay/argoproj/argocd:v2.13.3",
    ]
