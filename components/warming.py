"""Cache warming inside `pulumi up`: one generated resource per catalogue tag.

Backends (`warm.backend`):
- `provider` (default): a Python dynamic resource that pulls through the cache itself,
  without a Docker daemon (`warm.provider`, `warm.operations`).
- `docker`: `pulumi_docker.RemoteImage`, for teams whose deploy host runs a Docker daemon.
- `command`: `pulumi_command.local.Command` running the team's own pull command
  (crane, skopeo, nerdctl), with the image in `$IMAGE` and an ECR login in
  `$REGISTRY_USERNAME` / `$REGISTRY_PASSWORD` (secret).
Every warmed image depends on the rules and templates, so templates apply on first pull.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_command as command
import pulumi_docker as docker
from pulumi.dynamic.dynamic import PROVIDER_KEY, serialize_provider

from components.config.schema import WarmConfig
from components.config.source import PROJECT_ROOT
from components.errors import DigestMismatchError
from components.model.catalogue import CatalogueEntry
from components.model.ecr import cache_prefix_url, cache_reference, cache_repository, path_below_prefix
from components.model.images import DEFAULT_TAG
from components.model.names import image_name, legacy_image_name, names_with_aliases
from components.warm.provider import CacheWarmProvider

COMPONENT_TYPE = "ecr-pull-through-cache:index:CacheWarming"
WARMED_IMAGE_TYPE = "pulumi-python:dynamic/ecr:WarmedImage"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class WarmSpec:
    """One tag to warm, resolved against the cache: every name comes from the parsed reference."""

    entry: CatalogueEntry
    registry: str
    prefix: str
    upstream_prefix: str | None = None

    @property
    def registry_url(self) -> str:
        return f"https://{cache_prefix_url(self.registry, self.prefix)}"

    @property
    def repository(self) -> str:
        """The ECR repository, `<prefix>/<path>`, as ECR names it."""
        return cache_repository(self.entry.ref, self.prefix, self.upstream_prefix)

    @property
    def path(self) -> str:
        """The repository below `registry_url`."""
        return path_below_prefix(self.entry.ref, self.upstream_prefix)

    @property
    def cache_reference(self) -> str:
        """What is warmed: always the tag, since ECR cannot pull an uncached image by digest."""
        ref = self.entry.ref
        return cache_reference(
            ref.with_tag(ref.tag or DEFAULT_TAG),
            registry_host=self.registry,
            prefix=self.prefix,
            upstream_prefix=self.upstream_prefix,
        )

    def pinned_reference(self, served: str | None) -> str:
        """The `images` output: the cache reference at the digest the cache served (else the catalogue's pin)."""
        return cache_reference(
            self.entry.ref,
            registry_host=self.registry,
            prefix=self.prefix,
            upstream_prefix=self.upstream_prefix,
            digest=served,
        )

    def props(self, prune: bool) -> dict[str, Any]:
        pin = {"pinned_digest": self.entry.ref.digest} if self.entry.ref.digest else {}
        return {
            "source": str(self.entry.ref),
            "cache_reference": self.cache_reference,
            "registry_url": self.registry_url,
            "repository": self.path,
            "tag": self.entry.ref.tag,
            "platforms": list(self.entry.platforms) if self.entry.platforms else None,
            "prune": prune,
            **pin,
        }


def warm_specs(
    entries: Sequence[CatalogueEntry],
    prefixes: Mapping[str, str],
    registry: str,
    upstream_prefixes: Mapping[str, str | None] | None = None,
) -> list[WarmSpec]:
    upstream_prefixes = upstream_prefixes or {}
    return [
        WarmSpec(entry, registry, prefixes[entry.ref.registry], upstream_prefixes.get(entry.ref.registry))
        for entry in entries
    ]


def existing_repositories(specs: Sequence[WarmSpec]) -> list[str]:
    """The cache repositories the catalogue implies, named as ECR names them (`<prefix>/<repository>`)."""
    return sorted({spec.repository for spec in specs})


def check_pin(spec: WarmSpec, served: str | None) -> str | None:
    """The served digest, after checking it against the catalogue's pin (backends other than the provider)."""
    pin = spec.entry.ref.digest
    if pin is not None and served is not None and served != pin:
        raise DigestMismatchError(
            f"{spec.entry.source}:{spec.entry.line}: {spec.entry.ref}: the cache served {served} for tag "
            f"{spec.entry.ref.tag!r}, not the pinned digest; the upstream tag moved. Update the pin or the tag"
        )
    return served


@functools.cache
def serialized_warm_provider() -> str:
    """The provider, pickled once with Pulumi's own `serialize_provider` and shared by every image.

    `pulumi.dynamic.Resource` pickles its provider again for each resource: about 9 ms each here,
    and every call nests one more sorting shim around pickle's `_batch_setitems` that Pulumi never
    removes (pulumi/dynamic/dynamic.py), so a thousand images overflow the stack. One pickle avoids both.
    """
    serialized: str = serialize_provider(CacheWarmProvider(str(PROJECT_ROOT)))
    return serialized


class WarmedImage(pulumi.CustomResource):
    """A catalogue tag pulled through the cache; `digest` is what the cache served.

    Registered exactly as `pulumi.dynamic.Resource` registers one (type `pulumi-python:dynamic/...`,
    the pickled provider under `__provider`), but with the provider pickled once.
    """

    digest: pulumi.Output[str]
    platforms_warmed: pulumi.Output[list[str]]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        outputs = {"digest": None, "platforms_warmed": None, "media_type": None}
        inputs = {**props, **outputs, PROVIDER_KEY: serialized_warm_provider()}
        super().__init__(WARMED_IMAGE_TYPE, name, inputs, opts)


def _digest_of(text: str | None) -> str | None:
    found = _DIGEST.findall(text or "")
    return found[-1] if found else None


class CacheWarming(pulumi.ComponentResource):
    """Warms every catalogue tag; `images` maps each source reference to `cache reference@digest`."""

    images: pulumi.Output[dict[str, str]]
    warmed: list[pulumi.Resource]

    def __init__(
        self,
        name: str,
        *,
        specs: Sequence[WarmSpec],
        settings: WarmConfig,
        registry: str,
        depends_on: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))
        digests: list[pulumi.Output[str | None]] = []
        self.warmed = []
        login = None
        docker_provider = None
        if settings.backend != "provider":
            login = aws.ecr.get_authorization_token_output(opts=pulumi.InvokeOutputOptions(parent=self))
        if settings.backend == "docker" and login is not None:
            docker_provider = docker.Provider(
                "warm-docker",
                registry_auth=[
                    docker.ProviderRegistryAuthArgs(
                        address=registry,
                        username=login.user_name,
                        password=pulumi.Output.secret(login.password),
                    )
                ],
                opts=pulumi.ResourceOptions(parent=self),
            )
        names = names_with_aliases([spec.entry.ref for spec in specs], image_name, legacy_image_name)
        for spec in specs:
            resource: pulumi.Resource
            digest: pulumi.Output[str | None]
            name, legacy = names[spec.entry.ref]
            opts = pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(aliases=[pulumi.Alias(name=f"warm-{old}") for old in legacy])
            )
            logical_name = f"warm-{name}"
            if docker_provider is not None:
                resource, digest = self._docker(spec, logical_name, docker_provider, opts)
            elif login is not None:
                resource, digest = self._command(spec, logical_name, settings, registry, login, opts)
            else:
                image = WarmedImage(logical_name, spec.props(settings.prune), opts)
                resource, digest = image, image.digest
            self.warmed.append(resource)
            digests.append(digest)
        self.images = pulumi.Output.all(*digests).apply(
            lambda served: {
                # The provider backend checks the pin itself, failing only that image's create.
                str(spec.entry.ref): spec.pinned_reference(
                    digest if settings.backend == "provider" else check_pin(spec, digest)
                )
                for spec, digest in zip(specs, served, strict=True)
            }
        )
        self.register_outputs({"images": self.images})

    def _docker(
        self, spec: WarmSpec, logical_name: str, provider: docker.Provider, opts: pulumi.ResourceOptions
    ) -> tuple[pulumi.Resource, pulumi.Output[str | None]]:
        platforms = spec.entry.platforms or ()
        image = docker.RemoteImage(
            logical_name,
            name=spec.cache_reference,
            platform=platforms[0] if len(platforms) == 1 else None,
            keep_locally=False,
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=provider)),
        )
        return image, image.repo_digest.apply(_digest_of)

    def _command(
        self,
        spec: WarmSpec,
        logical_name: str,
        settings: WarmConfig,
        registry: str,
        login: pulumi.Output[Any],
        opts: pulumi.ResourceOptions,
    ) -> tuple[pulumi.Resource, pulumi.Output[str | None]]:
        pull = command.local.Command(
            logical_name,
            create=settings.pull_command,
            environment={
                "IMAGE": spec.cache_reference,
                "REGISTRY": registry,
                "PLATFORMS": ",".join(spec.entry.platforms or ()),
                "REGISTRY_USERNAME": login.user_name,
                "REGISTRY_PASSWORD": pulumi.Output.secret(login.password),
            },
            triggers=[spec.cache_reference, list(spec.entry.platforms or ())],
            logging=command.local.Logging.STDOUT,
            opts=opts,
        )
        return pull, pull.stdout.apply(_digest_of)
