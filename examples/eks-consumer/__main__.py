"""An EKS project's view of the cache: node pull access, Helm values, node user data, and for EKS Auto
Mode and Fargate a kustomization that points the pods themselves at it."""

import base64
import json

import pulumi
import pulumi_aws as aws

from helm_images import rewrite_helm_values
from kustomization import kustomization_yaml
from node_classes import node_classes_yaml

SAMPLE_VALUES = {
    "metrics-server": {
        "image": {"repository": "registry.k8s.io/metrics-server/metrics-server", "tag": "v0.7.2"}
    },
    "argo-cd": {
        "global": {"image": {"repository": "quay.io/argoproj/argocd", "tag": "v2.13.3"}},
        "redis": {
            "image": {
                "registry": "public.ecr.aws",
                "repository": "docker/library/redis",
                "tag": "7.0.15-alpine",
            }
        },
        "dex": {"image": "ghcr.io/dexidp/dex:v2.41.1"},
    },
    "grafana": {"image": "grafana/grafana:11.4.0"},
}

config = pulumi.Config()
cache = pulumi.StackReference(config.require("cacheStack"))
cluster_name = config.get("clusterName") or "eks"

node_role = aws.iam.Role(
    "eks-nodes",
    assume_role_policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    ),
)
aws.iam.RolePolicyAttachment(
    "eks-nodes-pull-through-cache",
    role=node_role.name,
    policy_arn=cache.require_output("node_pull_policy_arn"),
)

pulumi.export("node_role_arn", node_role.arn)
pulumi.export(
    "helm_values",
    cache.require_output("cache_prefixes").apply(
        lambda prefixes: rewrite_helm_values(SAMPLE_VALUES, prefixes)
    ),
)

# A managed node group's launch template (AL2023): EKS adds its own NodeConfig part to this user
# data; ours writes the containerd mirrors and kubelet's credential provider config.
al2023_user_data = cache.require_output("al2023_user_data")
launch_template = aws.ec2.LaunchTemplate(
    "nodes-al2023",
    user_data=al2023_user_data.apply(lambda text: base64.b64encode(text.encode()).decode()),
    metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
        http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=2
    ),
    update_default_version=True,
)
pulumi.export("node_launch_template_id", launch_template.id)
pulumi.export(
    "karpenter_node_classes",
    pulumi.Output.all(node_role.name, al2023_user_data, cache.require_output("bottlerocket_settings")).apply(
        lambda values: node_classes_yaml(
            role=values[0], cluster=cluster_name, al2023_user_data=values[1], bottlerocket_settings=values[2]
        )
    ),
)

# EKS Auto Mode and Fargate nodes take no containerd configuration: the pods' own references must
# name the cache. A GitOps overlay gets this kustomization (its `images` is the cache stack's
# `kustomize_images` output) over the rendered base; `kustomize build` writes the cache references.
pulumi.export(
    "kustomization",
    cache.require_output("kustomize_images").apply(lambda images: kustomization_yaml(["../../base"], images)),
)

# Fargate's pod execution role pulls for the pods. Its managed policy lacks
# ecr:BatchImportUpstreamImage, which a pull through the cache needs: attach the cache's policy too.
fargate_pods = aws.iam.Role(
    "fargate-pods",
    assume_role_policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "eks-fargate-pods.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    ),
)
aws.iam.RolePolicyAttachment(
    "fargate-pods-execution",
    role=fargate_pods.name,
    policy_arn=aws.iam.ManagedPolicy.AMAZON_EKS_FARGATE_POD_EXECUTION_ROLE_POLICY,
)
aws.iam.RolePolicyAttachment(
    "fargate-pods-pull-through-cache",
    role=fargate_pods.name,
    policy_arn=cache.require_output("node_pull_policy_arn"),
)
pulumi.export("fargate_pod_execution_role_arn", fargate_pods.arn)
