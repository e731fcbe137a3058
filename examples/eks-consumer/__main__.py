"""An EKS project's view of the cache: node pull access and Helm values that pull through it."""

import json

import pulumi
import pulumi_aws as aws

from helm_images import rewrite_helm_values

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
