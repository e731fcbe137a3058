"""Endpoint service names, the S3 gateway policy and network value checks."""

from __future__ import annotations

import pytest

from components.errors import NetworkValueError
from components.policies.network import (
    endpoint_service_name,
    s3_gateway_policy,
    validate_cidr,
    validate_route_table_id,
    validate_subnet_id,
    validate_vpc_id,
)


@pytest.mark.parametrize(
    ("region", "service", "name"),
    [
        ("us-east-1", "ecr.api", "com.amazonaws.us-east-1.ecr.api"),
        ("us-east-1", "ecr.dkr", "com.amazonaws.us-east-1.ecr.dkr"),
        ("us-east-1", "s3", "com.amazonaws.us-east-1.s3"),
        ("ap-northeast-2", "ecr.dkr", "com.amazonaws.ap-northeast-2.ecr.dkr"),
        ("ap-northeast-2", "eks-auth", "com.amazonaws.ap-northeast-2.eks-auth"),
        ("eu-west-1", "sts", "com.amazonaws.eu-west-1.sts"),
        ("eu-west-1", "elasticloadbalancing", "com.amazonaws.eu-west-1.elasticloadbalancing"),
    ],
)
def test_service_names_follow_region_and_partition(region: str, service: str, name: str) -> None:
    assert endpoint_service_name(region, service) == name


def test_s3_policy_only_reads_the_layer_bucket() -> None:
    policy = s3_gateway_policy(region="eu-west-1")
    (statement,) = policy["Statement"]
    assert statement["Action"] == "s3:GetObject"
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == ["arn:aws:s3:::prod-eu-west-1-starport-layer-bucket/*"]


def test_layer_bucket_arn_is_in_the_regions_partition() -> None:
    (statement,) = s3_gateway_policy(region="us-iso-east-1")["Statement"]
    assert statement["Resource"] == ["arn:aws-iso:s3:::prod-us-iso-east-1-starport-layer-bucket/*"]


def test_s3_policy_extra_buckets() -> None:
    policy = s3_gateway_policy(region="us-east-1", extra_bucket_arns=["arn:aws:s3:::acme-artifacts"])
    assert policy["Statement"][0]["Resource"] == [
        "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/*",
        "arn:aws:s3:::acme-artifacts/*",
    ]
    with pytest.raises(NetworkValueError, match="not an S3 bucket ARN"):
        s3_gateway_policy(region="us-east-1", extra_bucket_arns=["acme-artifacts"])


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0"])
def test_the_whole_internet_is_refused(cidr: str) -> None:
    with pytest.raises(NetworkValueError, match="whole internet"):
        validate_cidr(cidr)


@pytest.mark.parametrize("cidr", ["10.0.0.0/33", "10.0.0.1/16", "ten", ""])
def test_malformed_cidrs(cidr: str) -> None:
    with pytest.raises(NetworkValueError, match="is not a CIDR network"):
        validate_cidr(cidr)


def test_valid_values_pass() -> None:
    assert validate_cidr("10.20.0.0/16") == "10.20.0.0/16"
    assert validate_cidr("2600:1f18::/56") == "2600:1f18::/56"
    assert validate_vpc_id("vpc-0a1b2c3d4e5f60718") == "vpc-0a1b2c3d4e5f60718"
    assert validate_subnet_id("subnet-1a2b3c4d") == "subnet-1a2b3c4d"
    assert validate_route_table_id("rtb-0a1b2c3d4e5f60001") == "rtb-0a1b2c3d4e5f60001"


@pytest.mark.parametrize(
    ("validate", "value", "message"),
    [
        (validate_vpc_id, "vpc-123", "is not a VPC ID"),
        (validate_vpc_id, "vpc-123456789", "is not a VPC ID"),
        (validate_subnet_id, "subnet-0a1b2c3d4e5f6071", "is not a subnet ID"),
        (validate_vpc_id, "subnet-0a1b2c3d4e5f60718", "is not a VPC ID"),
        (validate_subnet_id, "sn-1a2b3c4d", "is not a subnet ID"),
        (validate_route_table_id, "rt-1a2b3c4d", "is not a route table ID"),
    ],
)
def test_malformed_ids(validate: object, value: str, message: str) -> None:
    with pytest.raises(NetworkValueError, match=message):
        validate(value)  # type: ignore[operator]
