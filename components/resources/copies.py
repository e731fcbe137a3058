"""Copies of upstreams ECR's pull-through cache does not support: their logins, and one resource per copied tag.

A copied upstream's images are pushed into ECR byte for byte, under a prefix of its own, by the
same engine as the warm (`warm/operations.py` under `pulumi up`). What is here:
- `CopiedUpstreams`: each copied upstream's login, a Secrets Manager secret as the cache rules'
  (created from the `<prefix>-token` secret config, or an existing one adopted), read at copy time
  by whoever copies; an upstream read anonymously has none;
- `CopiedImage`: one catalogue tag copied, registered exactly as `WarmedImage` is (the dynamic
  provider pickled once, under Pulumi's own key), with plain values only: the secret's name, never
  its value. `CacheWarming` registers them, whatever `warm.backend` is: the docker and command
  backends pull, and cannot push byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

# `dynamic.Resource` stores its pickled provider under this key (see resources/warming.py).
from pulumi.dynamic.dynamic import PROVIDER_KEY

from components.model.names import prefix_name
from components.resources._children import child_opts
from components.resources._maps import output_map
from components.resources._secrets import ExistingSecretArgs, NewSecretArgs, upstream_secret

COMPONENT_TYPE = "ecr-pull-through-cache:index:CopiedUpstreams"
COPIED_IMAGE_TYPE = "pulumi-python:dynamic/ecr:CopiedImage"


@dataclass(frozen=True)
class CopySource:
    """Where a copied image is read: its upstream's API (`https://<host>`), the login's secret, and
    the upstream's token service when it is on another origin (the login may go there too)."""

    upstream_url: str
    credential_secret: str | None = None  # a Secrets Manager secret's name or ARN; None: anonymous
    token_realm: str | None = None


class CopiedImage(pulumi.CustomResource):
    """A catalogue tag copied from its upstream into ECR; `digest` is the upstream's, which ECR now serves."""

    digest: pulumi.Output[str]
    platforms_warmed: pulumi.Output[list[str]]

    def __init__(self, name: str, props: dict[str, Any], provider: str, opts: pulumi.ResourceOptions) -> None:
        outputs = {"digest": None, "platforms_warmed": None, "media_type": None}
        inputs = {**props, **outputs, PROVIDER_KEY: provider}
        super().__init__(COPIED_IMAGE_TYPE, name, inputs, opts)


@dataclass(frozen=True)
class CopyLoginArgs:
    registry: str  # the copied upstream, as image references name it
    prefix: str
    credential: NewSecretArgs | ExistingSecretArgs


@dataclass(frozen=True)
class CopiedUpstreamsArgs:
    """The copied upstreams that log in; one read anonymously needs nothing here."""

    logins: Sequence[CopyLoginArgs]


class CopiedUpstreams(pulumi.ComponentResource):
    """Each copied upstream's login secret. Output: `credential_secret_arns` (prefix -> ARN; never a value)."""

    credential_secret_arns: pulumi.Output[dict[str, str]]
    ready: list[pulumi.Resource]  # what a copy waits for: the secrets hold their logins

    def __init__(
        self, name: str, args: CopiedUpstreamsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        arns: dict[str, pulumi.Output[str]] = {}
        self.ready = []
        for login in args.logins:
            secret_name = f"{name}-credential-{prefix_name(login.prefix)}"
            arns[login.prefix], version = upstream_secret(
                self,
                login.credential,
                name=secret_name,
                description=f"Login the copies of {login.registry} are read with (under {login.prefix}/).",
                opts=child_opts(self, secret_name),
            )
            self.ready += [version] if version is not None else []
        self.credential_secret_arns = output_map(arns)
        self.register_outputs({"credential_secret_arns": self.credential_secret_arns})
