"""The node outputs take copy upstreams from the settings: containerd and kubelet get them, Bottlerocket does not."""

from __future__ import annotations

import tomllib

import pytest
import yaml

from components.config.settings import StackSettings
from components.policies.node_userdata import HOSTS_DIR
from components.program.plan import PLAN_ACCOUNT_ID, plan_stack

COPIES = {"nvcr.io": "nvcr", "mcr.microsoft.com": "mcr"}


def test_copy_upstreams_reach_containerd_and_kubelet_but_not_bottlerocket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(StackSettings, "copy_prefixes", lambda _settings: dict(COPIES))
    outputs = plan_stack("dev").as_json()["outputs"]
    registry = outputs["registry"]
    assert registry.startswith(f"{PLAN_ACCOUNT_ID}.dkr.ecr.")
    hosts = outputs["containerd_hosts"]
    assert set(COPIES) <= set(hosts)
    for upstream, prefix in COPIES.items():
        copy = f"https://{registry}/v2/{prefix}"
        written = tomllib.loads(hosts[upstream])
        assert written["server"] == copy and list(written["host"]) == [copy], "no fallback to the upstream"
    assert all(f"{HOSTS_DIR}/{upstream}/hosts.toml" in outputs["al2023_user_data"] for upstream in COPIES)
    (provider,) = yaml.safe_load(outputs["kubelet_credential_provider_config"])["providers"]
    assert set(COPIES) <= set(provider["matchImages"])
    bottlerocket = tomllib.loads(outputs["bottlerocket_settings"])["settings"]
    mirrored = {mirror["registry"] for mirror in bottlerocket["container-registry"]["mirrors"]}
    patterns = bottlerocket["kubernetes"]["credential-providers"]["ecr-credential-provider"]["image-patterns"]
    assert mirrored and not mirrored & set(COPIES), (
        "Bottlerocket would fall back to the upstream with the login"
    )
    assert not set(patterns) & set(COPIES)
    assert mirrored == set(hosts) - set(COPIES), "the cache upstreams are mirrored as before"
