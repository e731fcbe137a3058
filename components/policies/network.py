"""VPC endpoint names, the S3 gateway policy and checks on network IDs: pure, no Pulumi.

Sources: https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html and
https://docs.aws.amazon.com/eks/latest/userguide/private-clusters.html.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Any

from components.errors import NetworkValueError
from components.model.ecr import layer_bucket

INTERFACE_SERVICES_REQUIRED = ("ecr.api", "ecr.dkr")
INTERFACE_SERVICES_OPTIONAL = (
    "sts",
    "eks",
    "eks-auth",
    "ec2",
    "logs",
    "elasticloadbalancing",
    "ssm",
    "xray",
    "autoscaling",
)

_BUCKET_ARN = re.compile(r"arn:aws(?:-[a-z-]+)?:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_WHOLE_INTERNET = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


def partition_of_region(region: str) -> str:
    """The partition of a region settings accept: China and GovCloud regions are refused there."""
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    if region.startswith("us-iso-"):
        return "aws-iso"
    return "aws"


def endpoint_service_name(region: str, service: str) -> str:
    """`com.amazonaws.<region>.<service>`.

    China's `cn.com.amazonaws.` form is not needed: settings refuse the China regions, which
    have no pull-through cache (see `UNSUPPORTED_REGIONS` in components/model/ecr.py).
    """
    return f"com.amazonaws.{region}.{service}"


def layer_bucket_arn(region: str, partition: str = "aws") -> str:
    """The bucket ECR keeps image layers in; pulls fetch layers from it through the S3 gateway."""
    return f"arn:{partition}:s3:::{layer_bucket(region)}"


def validate_bucket_arn(value: str) -> str:
    if not isinstance(value, str) or not _BUCKET_ARN.fullmatch(value):
        raise NetworkValueError(f"{value!r} is not an S3 bucket ARN; write arn:aws:s3:::<bucket>")
    return value


def s3_gateway_policy(*, region: str, extra_bucket_arns: Sequence[str] = ()) -> dict[str, Any]:
    """Only `s3:GetObject`, only on the layer bucket (plus buckets the stack names)."""
    partition = partition_of_region(region)
    buckets = [layer_bucket_arn(region, partition), *(validate_bucket_arn(b) for b in extra_bucket_arns)]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PullImageLayers",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": [f"{bucket}/*" for bucket in buckets],
            }
        ],
    }


def _validate_id(value: str, prefix: str, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(rf"{prefix}-(?:[0-9a-f]{{8}}|[0-9a-f]{{17}})", value):
        raise NetworkValueError(f"{value!r} is not a {what} ID; expected {prefix}- and 8 or 17 hex digits")
    return value


def validate_vpc_id(value: str) -> str:
    return _validate_id(value, "vpc", "VPC")


def validate_subnet_id(value: str) -> str:
    return _validate_id(value, "subnet", "subnet")


def validate_route_table_id(value: str) -> str:
    return _validate_id(value, "rtb", "route table")


def validate_cidr(value: str) -> str:
    """A VPC network in CIDR form; the whole internet is refused, since endpoints serve the VPC only."""
    try:
        network = ipaddress.ip_network(value, strict=True)
    except (TypeError, ValueError) as error:
        raise NetworkValueError(
            f"{value!r} is not a CIDR network ({error}); write for example 10.0.0.0/16"
        ) from None
    if network in _WHOLE_INTERNET:
        raise NetworkValueError(f"{value!r} opens the endpoints to the whole internet; give the VPC's CIDR")
    return value
