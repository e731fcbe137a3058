"""VPC endpoints so nodes in private subnets pull from ECR without a NAT gateway."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.policies.network import (
    INTERFACE_SERVICES_REQUIRED,
    endpoint_service_name,
    s3_gateway_policy,
    validate_cidr,
)
from components.resources._children import child_opts

COMPONENT_TYPE = "ecr-pull-through-cache:index:PrivateEndpoints"
S3_SERVICE = "s3"
HTTPS_PORT = 443


def checked_cidrs(cidrs: Sequence[str]) -> list[str]:
    """Network-stack values arrive at deploy time, so they are checked then; never the whole internet."""
    if not cidrs:
        raise ValueError("the VPC has no CIDR to allow HTTPS from; set endpoints.vpcCidrs")
    for cidr in cidrs:
        validate_cidr(cidr)
    return sorted(cidrs)


@dataclass(frozen=True)
class VpcPlacement:
    """Where endpoints go; values may come from config or from a network stack's outputs."""

    vpc_id: pulumi.Input[str]
    vpc_cidrs: pulumi.Input[Sequence[str]]
    subnet_ids: pulumi.Input[Sequence[str]]
    route_table_ids: pulumi.Input[Sequence[str]] | None  # None: no S3 gateway (the VPC has one)


@dataclass(frozen=True)
class PrivateEndpointsArgs:
    region: str
    placement: VpcPlacement
    services: Sequence[str]
    extra_s3_bucket_arns: Sequence[str] = ()


class PrivateEndpoints(pulumi.ComponentResource):
    """Interface endpoints (ecr.api, ecr.dkr and the chosen EKS ones), the S3 gateway, and their security group.

    AWS allows one S3 gateway endpoint per route table, so a VPC that has one keeps it
    (`route_table_ids` None) rather than this stack colliding with it.
    """

    endpoint_ids: pulumi.Output[dict[str, str]]
    security_group_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: PrivateEndpointsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        region, placement = args.region, args.placement
        group = self._security_group(f"{name}-security-group", placement.vpc_id, placement.vpc_cidrs)
        ids: dict[str, pulumi.Output[str]] = {}
        for service in [
            *INTERFACE_SERVICES_REQUIRED,
            *sorted(set(args.services) - set(INTERFACE_SERVICES_REQUIRED)),
        ]:
            endpoint = aws.ec2.VpcEndpoint(
                f"{name}-{service}",
                vpc_id=placement.vpc_id,
                service_name=endpoint_service_name(region, service),
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=placement.subnet_ids,
                security_group_ids=[group.id],
                tags={"Name": f"{pulumi.get_stack()}-{service}"},
                opts=child_opts(self, f"{name}-{service}", [service]),
            )
            ids[service] = endpoint.id
        if placement.route_table_ids is not None:
            gateway = aws.ec2.VpcEndpoint(
                f"{name}-{S3_SERVICE}",
                vpc_id=placement.vpc_id,
                service_name=endpoint_service_name(region, S3_SERVICE),
                vpc_endpoint_type="Gateway",
                route_table_ids=placement.route_table_ids,
                policy=json.dumps(
                    s3_gateway_policy(region=region, extra_bucket_arns=args.extra_s3_bucket_arns),
                    sort_keys=True,
                ),
                tags={"Name": f"{pulumi.get_stack()}-{S3_SERVICE}"},
                opts=child_opts(self, f"{name}-{S3_SERVICE}", [S3_SERVICE]),
            )
            ids[S3_SERVICE] = gateway.id
        self.endpoint_ids = pulumi.Output.all(**ids)
        self.security_group_id = group.id
        self.register_outputs(
            {"endpoint_ids": self.endpoint_ids, "security_group_id": self.security_group_id}
        )

    def _security_group(
        self,
        name: str,
        vpc_id: pulumi.Input[str],
        vpc_cidrs: pulumi.Input[Sequence[str]],
    ) -> aws.ec2.SecurityGroup:
        """HTTPS in from the VPC's own CIDRs (IPv4 and IPv6), checked when they arrive."""
        cidrs = pulumi.Output.from_input(vpc_cidrs).apply(checked_cidrs)
        return aws.ec2.SecurityGroup(
            name,
            vpc_id=vpc_id,
            description="HTTPS from the VPC to its interface endpoints",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="HTTPS from the VPC",
                    protocol="tcp",
                    from_port=HTTPS_PORT,
                    to_port=HTTPS_PORT,
                    cidr_blocks=cidrs.apply(lambda c: [x for x in c if ":" not in x]),
                    ipv6_cidr_blocks=cidrs.apply(lambda c: [x for x in c if ":" in x]),
                )
            ],
            tags={"Name": f"{pulumi.get_stack()}-vpc-endpoints"},
            opts=child_opts(self, name, ["endpoints"]),
        )
