"""Node user data that makes EKS nodes pull through the cache and from copies, from the model behind
`containerd_hosts`.

Amazon Linux 2023 (nodeadm, read in awslabs/amazon-eks-ami at `EKS_AMI` below) and Bottlerocket
(https://bottlerocket.dev/en/os/1.20.x/api/settings/container-registry/). Why a config file of our
own beside nodeadm's, a kubelet flag, and this order of work: docs/node-config.md.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Iterable, Mapping
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP

import yaml

from components.policies.node_config import (
    CREDENTIAL_CACHE_DURATION,
    NO_COPIES,
    containerd_hosts,
    credential_provider_match_images,
    kubelet_credential_provider_config,
    mirror_endpoint,
    mirrorable,
)

EKS_AMI = "https://github.com/awslabs/amazon-eks-ami/blob/81fec2e895854f599974fe4d3d72f61c0a9aaffa"
HOSTS_DIR = "/etc/containerd/certs.d"  # AL2023 containerd config_path (first entry)
# nodeadm's containerd `config_path`, both templates (nodeadm/internal/containerd/config.template.toml
# and config2.template.toml, the containerd 2 one). containerd 2.1 and 2.2 pull through their transfer
# service unless a CRI option forces the local pull, and that path reads config_path as ONE directory
# (`registry.WithHostDir(c.config.Registry.ConfigPath)`, internal/cri/server/images/image_pull.go,
# v2.1.9 L311; core/transfer/registry/registry.go L127-L128), where the local pull splits the list
# (same image_pull.go, L490-L496): https://github.com/containerd/containerd/issues/12415 and #12808,
# unfixed in 2.2.7. nodeadm's `discard_unpacked_layers = true` forces the local pull today; a node
# whose NodeConfig turns it off, or a later nodeadm, would silently ignore every hosts.toml and pull
# from Docker Hub. A link at the literal two-entry path makes both paths find the same files.
NODEADM_CONFIG_PATH = f"{HOSTS_DIR}:/etc/docker/certs.d"
CREDENTIAL_PROVIDER_CONFIG = "/etc/eks/image-credential-provider/pull-through-cache.yaml"
# nodeadm's own matchImages, kept so the replacement config authenticates every ECR host form the
# AMI's config did (nodeadm/internal/kubelet/image-credential-provider.go, L58-L71).
NODEADM_MATCH_IMAGES = (
    "*.dkr.ecr.*.amazonaws.com",
    "*.dkr-ecr.*.on.aws",
    "*.dkr.ecr.*.amazonaws.com.cn",
    "*.dkr-ecr.*.on.amazonwebservices.com.cn",
    "*.dkr.ecr-fips.*.amazonaws.com",
    "*.dkr-ecr-fips.*.on.aws",
    "*.dkr.ecr.*.c2s.ic.gov",
    "*.dkr.ecr.*.sc2s.sgov.gov",
    "*.dkr.ecr.*.cloud.adc-e.uk",
    "*.dkr.ecr.*.csp.hci.ic.gov",
    "*.dkr.ecr.*.amazonaws.eu",
    "public.ecr.aws",
)
NODECONFIG_MEDIA_TYPE = "application/node.eks.aws"  # nodeadm/internal/configprovider/userdata.go
ROOT_VARIABLE = "PTC_NODE_ROOT"  # unset on nodes; tests set it to run the script in a temporary root
_BOUNDARY = "//ecr-pull-through-cache//"


def _heredoc(path: str, text: str) -> list[str]:
    """Shell lines writing `text` verbatim to `$root<path>` (quoted delimiter: nothing expands)."""
    marker = "PTC_EOF"
    if marker in text:
        raise ValueError(f"{path}: the text contains the heredoc marker {marker}")
    target = f'"$root"{shlex.quote(path)}'
    directory = posixpath.dirname(path)
    return [
        f'mkdir -p "$root"{shlex.quote(directory)}',
        f"cat > {target} <<'{marker}'",
        text.rstrip("\n"),
        marker,
        f"chmod 0644 {target}",
    ]


def al2023_files(
    *,
    cache_prefixes: Mapping[str, str],
    registry_host: str,
    region: str,
    copy_prefixes: Mapping[str, str] = NO_COPIES,
) -> dict[str, str]:
    """Absolute path on the node -> content: every `hosts.toml` (cache and copy upstreams), and kubelet's
    credential provider config, which matches both."""
    files = {
        f"{HOSTS_DIR}/{upstream}/hosts.toml": text
        for upstream, text in containerd_hosts(
            cache_prefixes=cache_prefixes, copy_prefixes=copy_prefixes
        ).items()
    }
    files[CREDENTIAL_PROVIDER_CONFIG] = kubelet_credential_provider_config(
        registry_host=registry_host,
        region=region,
        upstreams=[*cache_prefixes, *copy_prefixes],
        also_match=NODEADM_MATCH_IMAGES,
    )
    return files


def al2023_shell_script(files: Mapping[str, str]) -> str:
    """The cloud-init shell part: writes each file, and the `config_path` link (see `NODEADM_CONFIG_PATH`);
    nothing else (no restart: nodeadm starts the daemons)."""
    lines = [
        "#!/bin/bash",
        "# Written by ecr-pull-through-cache: containerd mirrors and kubelet's ECR credential provider.",
        "set -euo pipefail",
        f'root="${{{ROOT_VARIABLE}:-}}"',
    ]
    for path, text in sorted(files.items()):
        lines += _heredoc(path, text)
    return "\n".join(lines + _config_path_link()) + "\n"


def _config_path_link() -> list[str]:
    """Shell lines making `NODEADM_CONFIG_PATH`, read as one directory, lead to `HOSTS_DIR` (see above).

    The link is relative, so it leads to `$root`'s folder under a test root too; an existing entry of
    that name is left alone.
    """
    link = f'"$root"{shlex.quote(NODEADM_CONFIG_PATH)}'
    target = posixpath.relpath(HOSTS_DIR, posixpath.dirname(NODEADM_CONFIG_PATH))
    return [
        f'mkdir -p "$root"{shlex.quote(posixpath.dirname(NODEADM_CONFIG_PATH))}',
        f"[ -e {link} ] || [ -L {link} ] || ln -s {shlex.quote(target)} {link}",
    ]


def al2023_node_config() -> str:
    """The NodeConfig part: only the kubelet flag naming our credential provider config.

    The cluster's own fields come from the part EKS (managed node groups) or Karpenter adds, or
    from the launch template's author; nodeadm merges the parts.
    """
    document = {
        "apiVersion": "node.eks.aws/v1alpha1",
        "kind": "NodeConfig",
        "spec": {"kubelet": {"flags": [f"--image-credential-provider-config={CREDENTIAL_PROVIDER_CONFIG}"]}},
    }
    return yaml.safe_dump(document, sort_keys=False)


def al2023_user_data(
    *,
    cache_prefixes: Mapping[str, str],
    registry_host: str,
    region: str,
    copy_prefixes: Mapping[str, str] = NO_COPIES,
) -> str:
    """MIME multi-part user data for AL2023 managed node groups, launch templates and Karpenter.

    The NodeConfig part comes first, then the shell part, as in
    https://docs.aws.amazon.com/eks/latest/userguide/launch-templates.html (nodeadm reads every
    `application/node.eks.aws` part whatever its place; cloud-init runs the shell part).
    """
    message = MIMEMultipart(boundary=_BOUNDARY)
    # us-ascii keeps both parts 7bit, readable in the console; nodeadm would also decode base64
    # (nodeadm/internal/configprovider/mime.go, L49-L62).
    node_config = MIMEText(al2023_node_config(), "plain", "us-ascii")
    node_config.replace_header("Content-Type", f'{NODECONFIG_MEDIA_TYPE}; charset="us-ascii"')
    files = al2023_files(
        cache_prefixes=cache_prefixes, copy_prefixes=copy_prefixes, registry_host=registry_host, region=region
    )
    script = MIMEText(al2023_shell_script(files), "x-shellscript", "us-ascii")
    message.attach(node_config)
    message.attach(script)
    return message.as_string(policy=SMTP.clone(linesep="\n"))


def _toml_strings(values: Iterable[str]) -> str:
    return "[" + ", ".join(json.dumps(value) for value in values) + "]"


def bottlerocket_settings(*, cache_prefixes: Mapping[str, str], registry_host: str, region: str) -> str:
    """Bottlerocket user data (TOML): a mirror per mirrorable cache upstream and the ECR credential provider.

    Bottlerocket's runtime tries the default registry when every mirror fails, unlike the
    `containerd_hosts` files, and a mirrored image is only authenticated when the credential
    provider's `image-patterns` match its original name (bottlerocket-os/bottlerocket#3631).
    So copy upstreams are neither mirrored nor matched here: an image its copy lacks would go on to
    the upstream with the ECR login (docs/node-config.md); Bottlerocket pods name a copy by its
    ECR reference.
    """
    lines: list[str] = []
    upstreams = [upstream for upstream in sorted(cache_prefixes) if mirrorable(upstream)]
    for upstream in upstreams:
        lines += [
            "[[settings.container-registry.mirrors]]",
            f"registry = {json.dumps(upstream)}",
            f"endpoint = {_toml_strings([mirror_endpoint(cache_prefixes[upstream])])}",
            "",
        ]
    lines += [
        "[settings.kubernetes.credential-providers.ecr-credential-provider]",
        "enabled = true",
        f"cache-duration = {json.dumps(CREDENTIAL_CACHE_DURATION)}",
        f"image-patterns = {_toml_strings(credential_provider_match_images(registry_host, upstreams))}",
        "",
        "[settings.kubernetes.credential-providers.ecr-credential-provider.environment]",
        f"AWS_REGION = {json.dumps(region)}",
    ]
    return "\n".join(lines) + "\n"
