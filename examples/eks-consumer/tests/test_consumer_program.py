"""The example program under Pulumi's mock runtime, with the cache stack's outputs mocked."""

from __future__ import annotations

import asyncio
import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks
from pulumi.runtime.settings import get_root_resource, reset_options
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

EXAMPLE = Path(__file__).resolve().parent.parent
POLICY_ARN = "arn:aws:iam::123456789012:policy/node-pull-policy-1a2b3c"
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
AL2023_USER_DATA = (
    'Content-Type: multipart/mixed; boundary="//b//"\nMIME-Version: 1.0\n\n--//b//\n'
    "Content-Type: application/node.eks.aws\n\napiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\n"
    "--//b//--\n"
)
BOTTLEROCKET_SETTINGS = (
    '[[settings.container-registry.mirrors]]\nregistry = "docker.io"\n'
    f'endpoint = ["https://{REGISTRY}/v2/docker-hub"]\n'
)
KUSTOMIZE_IMAGES = [
    {
        "name": "nginx:1\\.27",
        "newName": f"{REGISTRY}/docker-hub/library/nginx",
        "newTag": "1.27",
        "digest": "sha256:" + "a" * 64,
    },
    {"name": "quay\\.io/argoproj/argocd:v2\\.13\\.3", "newName": f"{REGISTRY}/quay/argoproj/argocd"},
]
CACHE_OUTPUTS = {
    "kustomize_images": KUSTOMIZE_IMAGES,
    "al2023_user_data": AL2023_USER_DATA,
    "bottlerocket_settings": BOTTLEROCKET_SETTINGS,
    "registry": REGISTRY,
    "node_pull_policy_arn": POLICY_ARN,
    "cache_prefixes": {
        "docker.io": f"{REGISTRY}/docker-hub",
        "quay.io": f"{REGISTRY}/quay",
        "registry.k8s.io": f"{REGISTRY}/k8s",
        "public.ecr.aws": f"{REGISTRY}/ecr-public",
        "ghcr.io": f"{REGISTRY}/ghcr",
    },
}


class CacheStackMocks(Mocks):
    def __init__(self) -> None:
        self.resources: dict[str, MockResourceArgs] = {}  # the last resource of each type
        self.named: dict[str, MockResourceArgs] = {}  # by logical name

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources[args.typ] = args
        self.named[args.name] = args
        if args.typ == "pulumi:pulumi:StackReference":
            return args.name, {**args.inputs, "outputs": CACHE_OUTPUTS, "secretOutputNames": []}
        return f"{args.name}-id", {
            **args.inputs,
            "arn": f"arn:aws:iam::123456789012:role/{args.name}",
            "name": args.name,
        }

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


def run_example() -> tuple[CacheStackMocks, dict[str, Any]]:
    asyncio.set_event_loop(asyncio.new_event_loop())
    reset_options(project="eks-consumer", stack="dev")
    mocks = CacheStackMocks()
    pulumi.runtime.set_mocks(mocks, project="eks-consumer", stack="dev", preview=False)
    pulumi.runtime.set_all_config({"eks-consumer:cacheStack": "acme/ecr-pull-through-cache/dev"})

    def program() -> None:
        runpy.run_path(str(EXAMPLE / "__main__.py"), run_name="__main__")

    _sync_await(run_pulumi_func(program))
    exported = dict(getattr(get_root_resource(), "outputs", {}))

    async def resolve() -> dict[str, Any]:
        return {name: await pulumi.Output.from_input(value).future() for name, value in exported.items()}

    return mocks, _sync_await(resolve())


def test_reads_the_cache_stack_named_in_config() -> None:
    mocks, _ = run_example()
    assert mocks.resources["pulumi:pulumi:StackReference"].name == "acme/ecr-pull-through-cache/dev"


def test_node_role_gets_the_node_pull_policy() -> None:
    mocks, _ = run_example()
    attachment = mocks.named["eks-nodes-pull-through-cache"]
    assert attachment.inputs["policyArn"] == POLICY_ARN and attachment.inputs["role"] == "eks-nodes"
    trust = json.loads(mocks.named["eks-nodes"].inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


def test_helm_values_are_rewritten_to_the_cache() -> None:
    _, outputs = run_example()
    values = outputs["helm_values"]
    assert values["grafana"]["image"] == f"{REGISTRY}/docker-hub/grafana/grafana:11.4.0"
    assert values["argo-cd"]["dex"]["image"] == f"{REGISTRY}/ghcr/dexidp/dex:v2.41.1"
    assert values["argo-cd"]["redis"]["image"]["registry"] == REGISTRY
    assert values["argo-cd"]["redis"]["image"]["repository"] == "ecr-public/docker/library/redis"
    assert values["metrics-server"]["image"]["repository"] == "k8s/metrics-server/metrics-server"
