"""AL2023 and Bottlerocket user data: every artifact parses, and says what containerd_hosts says."""

from __future__ import annotations

import email
import email.policy
import os
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from components.policies.node_config import containerd_hosts, kubelet_credential_provider_config
from components.policies.node_userdata import (
    CREDENTIAL_PROVIDER_CONFIG,
    HOSTS_DIR,
    NODEADM_CONFIG_PATH,
    NODEADM_MATCH_IMAGES,
    NODECONFIG_MEDIA_TYPE,
    ROOT_VARIABLE,
    al2023_files,
    al2023_shell_script,
    al2023_user_data,
    bottlerocket_settings,
)

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
PREFIXES = {
    "docker.io": f"{REGISTRY}/docker-hub",
    "quay.io": f"{REGISTRY}/quay",
    "public.ecr.aws": f"{REGISTRY}/ecr-public",
    "333333333333.dkr.ecr.us-east-1.amazonaws.com": f"{REGISTRY}/ecr-333333333333-use1",
}


def al2023() -> str:
    return al2023_user_data(cache_prefixes=PREFIXES, registry_host=REGISTRY, region="eu-west-1")


def parts(user_data: str) -> list[email.message.EmailMessage]:
    message = email.message_from_string(user_data, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    assert message.get_content_type() == "multipart/mixed"
    return [part for part in message.iter_parts() if isinstance(part, email.message.EmailMessage)]


def test_al2023_user_data_is_a_nodeconfig_then_a_shell_script() -> None:
    node_config, script = parts(al2023())
    assert node_config.get_content_type() == NODECONFIG_MEDIA_TYPE
    assert script.get_content_type() == "text/x-shellscript"
    assert {node_config["Content-Transfer-Encoding"], script["Content-Transfer-Encoding"]} == {"7bit"}
    document = yaml.safe_load(node_config.get_content())
    assert document["apiVersion"] == "node.eks.aws/v1alpha1" and document["kind"] == "NodeConfig"
    assert document["spec"] == {
        "kubelet": {"flags": [f"--image-credential-provider-config={CREDENTIAL_PROVIDER_CONFIG}"]}
    }, "only the flag: the cluster's fields come from EKS, Karpenter or the launch template's author"
    assert str(script.get_content()).startswith("#!/bin/bash\n")


def run_shell_part(user_data: str, root: Path) -> None:
    (_, script) = parts(user_data)
    path = root.parent / "user-data.sh"
    path.write_text(str(script.get_content()))
    subprocess.run(["bash", str(path)], env={ROOT_VARIABLE: str(root)}, check=True, timeout=30)


def written_files(root: Path) -> dict[str, str]:
    return {"/" + str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


def test_the_shell_part_writes_exactly_the_hosts_files_and_the_credential_provider_config(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    run_shell_part(al2023(), root)
    files = written_files(root)
    hosts = containerd_hosts(cache_prefixes=PREFIXES)
    assert files == {
        **{f"{HOSTS_DIR}/{upstream}/hosts.toml": text for upstream, text in hosts.items()},
        CREDENTIAL_PROVIDER_CONFIG: kubelet_credential_provider_config(
            registry_host=REGISTRY, region="eu-west-1", upstreams=PREFIXES, also_match=NODEADM_MATCH_IMAGES
        ),
    }
    (provider,) = yaml.safe_load(files[CREDENTIAL_PROVIDER_CONFIG])["providers"]
    assert provider["matchImages"][0] == REGISTRY
    assert provider["matchImages"][-2:] == ["docker.io", "quay.io"]
    assert set(NODEADM_MATCH_IMAGES) <= set(provider["matchImages"]), "nothing nodeadm matched is lost"
    assert len(provider["matchImages"]) == len(set(provider["matchImages"]))
    assert set(hosts) == {"docker.io", "quay.io"}, "ECR Public and ECR upstreams are pulled by cache name"
    assert files == al2023_files(cache_prefixes=PREFIXES, registry_host=REGISTRY, region="eu-west-1")
    for path in root.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o644
    run_shell_part(al2023(), root)
    assert written_files(root) == files, "running it again changes nothing"


def test_nodeadms_two_entry_config_path_read_as_one_directory_leads_to_the_hosts_files(
    tmp_path: Path,
) -> None:
    """containerd 2's transfer pull reads `config_path` as one directory (tests/nodes/test_containerd2_cri.py)."""
    root = tmp_path / "root"
    run_shell_part(al2023(), root)
    link = root / NODEADM_CONFIG_PATH.lstrip("/")
    assert NODEADM_CONFIG_PATH == "/etc/containerd/certs.d:/etc/docker/certs.d", "nodeadm's, both templates"
    assert link.is_symlink() and link.resolve() == (root / HOSTS_DIR.lstrip("/")).resolve()
    assert (link / "docker.io" / "hosts.toml").read_text() == containerd_hosts(cache_prefixes=PREFIXES)[
        "docker.io"
    ]
    run_shell_part(al2023(), root)
    assert link.is_symlink() and not (root / HOSTS_DIR.lstrip("/") / "certs.d").exists(), "no link in a link"


def test_the_shell_part_writes_under_slash_when_the_root_variable_is_unset() -> None:
    script = al2023_shell_script({"/etc/x/y.toml": "a = 1\n"})
    assert f'root="${{{ROOT_VARIABLE}:-}}"' in script
    assert "cat > \"$root\"/etc/x/y.toml <<'PTC_EOF'\na = 1\nPTC_EOF\n" in script
    assert ROOT_VARIABLE not in os.environ


def test_text_holding_the_heredoc_marker_is_refused() -> None:
    with pytest.raises(ValueError, match="heredoc marker"):
        al2023_shell_script({"/etc/x": "PTC_EOF\nrm -rf /\n"})


def test_the_shell_part_writes_copy_upstreams_files_and_matches_them(tmp_path: Path) -> None:
    copies = {"nvcr.io": f"{REGISTRY}/nvcr"}
    root = tmp_path / "root"
    user_data = al2023_user_data(
        cache_prefixes=PREFIXES, copy_prefixes=copies, registry_host=REGISTRY, region="eu-west-1"
    )
    run_shell_part(user_data, root)
    files = written_files(root)
    hosts = containerd_hosts(cache_prefixes=PREFIXES, copy_prefixes=copies)
    assert set(hosts) == {"docker.io", "quay.io", "nvcr.io"}
    assert {path: text for path, text in files.items() if path.startswith(HOSTS_DIR)} == {
        f"{HOSTS_DIR}/{upstream}/hosts.toml": text for upstream, text in hosts.items()
    }
    (provider,) = yaml.safe_load(files[CREDENTIAL_PROVIDER_CONFIG])["providers"]
    assert provider["matchImages"][-3:] == ["docker.io", "nvcr.io", "quay.io"]


def test_bottlerocket_settings_mirror_each_upstream_and_authenticate_it() -> None:
    settings = tomllib.loads(
        bottlerocket_settings(cache_prefixes=PREFIXES, registry_host=REGISTRY, region="eu-west-1")
    )["settings"]
    assert settings["container-registry"]["mirrors"] == [
        {"registry": "docker.io", "endpoint": [f"https://{REGISTRY}/v2/docker-hub"]},
        {"registry": "quay.io", "endpoint": [f"https://{REGISTRY}/v2/quay"]},
    ], "the array form; the endpoint carries /v2/<prefix>, which containerd's CRI keeps as the path"
    provider = settings["kubernetes"]["credential-providers"]["ecr-credential-provider"]
    assert provider == {
        "enabled": True,
        "cache-duration": "12h",
        "image-patterns": [
            REGISTRY,
            "*.dkr.ecr.*.amazonaws.com",
            "docker.io",
            "quay.io",
        ],
        "environment": {"AWS_REGION": "eu-west-1"},
    }


def test_the_stack_exports_both_node_artifacts() -> None:
    from components.program.plan import plan_stack

    outputs = plan_stack("dev").as_json()["outputs"]
    assert {"al2023_user_data", "bottlerocket_settings"} <= set(outputs)
    node_config, _ = parts(outputs["al2023_user_data"])
    assert node_config.get_content_type() == NODECONFIG_MEDIA_TYPE
    mirrors = tomllib.loads(outputs["bottlerocket_settings"])["settings"]["container-registry"]["mirrors"]
    assert {mirror["registry"] for mirror in mirrors} == set(outputs["containerd_hosts"])
