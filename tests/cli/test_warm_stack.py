"""`warm --stack S` with copied upstreams: where copies go, and the login each copy reads its
upstream with (the stack's secret, read with the caller's credentials; moto stands in for AWS)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from components.cli.warm_stack import routes_from_stack
from tests.config.test_copy_settings import copies_stack

REGION = "eu-west-1"


def test_a_stacks_copies_go_to_its_copy_prefixes_and_log_in_with_its_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    settings = copies_stack(tmp_path)
    with mock_aws():
        account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
        boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="ecr-pullthroughcache/nvcr",
            SecretString=json.dumps({"username": "$oauthtoken", "accessToken": "nvapi-from-the-secret"}),
        )
        routes = routes_from_stack("test", settings)
        registry = f"{account}.dkr.ecr.{REGION}.amazonaws.com"
        assert {c.upstream: c.url for c in routes.copies} == {
            "nvcr.io": f"https://{registry}/nvcr",
            "mcr.microsoft.com": f"https://{registry}/mcr",
        }
        assert {m.upstream for m in routes.mirrors} == {"public.ecr.aws", "quay.io"}
        assert set(routes.upstream_logins) == {"nvcr.io"}, "mcr.microsoft.com is read anonymously"
        login = routes.upstream_logins["nvcr.io"]
        assert login.credentials() == ("$oauthtoken", "nvapi-from-the-secret")
        assert login.token_realm is None, "nvcr.io hands out tokens from its own origin"
