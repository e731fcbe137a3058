"""Cache warming inside `pulumi up`: one generated resource per catalogue tag.

Backends (`warm.backend`):
- `provider` (default): a Python dynamic resource that pulls through the cache itself, without a
  Docker daemon, through the same warm engine as the CLI (`warm.provider`, `warm.operations`);
  the program hands it the provider already pickled (`program/warming.py`).
- `docker`: `pulumi_docker.RemoteImage`, for teams whose deploy host runs a Docker daemon.
- `command`: `pulumi_command.local.Command` running the team's own pull command
  (crane, skopeo, nerdctl), with the image in `$IMAGE` and an ECR login in
  `$REGISTRY_USERNAME` / `$REGISTRY_PASSWORD` (secret).
Every warmed image depends on the rules and templates, so templates apply on first pull.
Copied tags (`WarmSpec.copy`) are `CopiedImage`s whatever the backend (resources/copies.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_command as command
import pulumi_docker as docker

# `dynamic.Resource` stores its pickled provider under this key; importing the constant keeps the
# key Pulumi's own (WarmedImage registers the resource itself, see its docstring).
from pulumi.dynamic.dynamic import PROVIDER_KEY

from components.errors import DigestMismatchError
from components.model.catalogue import CatalogueEntry
from components.model.ecr import CacheLocation, CachePrefix
from components.model.images import DEFAULT_TAG, moved_pin
from components.model.names import image_name, legacy_image_name, names_with_aliases
from components.resources.copies import CopiedImage, CopySource

COMPONENT_TYPE = "ecr-pull-through-cache:index:CacheWarming"
WARMED_IMAGE_TYPE = "pulumi-python:dynamic/ecr:WarmedImage"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class WarmSpec:
    """One tag to warm, or to copy (`copy` set), resolved against the registry: every name comes from
    the parsed reference. A copied tag lives at `<prefix>/<its upstream repository path>`."""

    entry: CatalogueEntry
    registry: str
    prefix: str
    upstream_prefix: str | None = None
    copy: CopySource | None = None

    @property
    def cache_prefix(self) -> CachePrefix:
        return CachePrefix(self.registry, self.prefix, self.upstream_prefix)

    @property
    def location(self) -> CacheLocation:
        return self.cache_prefix.location(self.entry.ref)

    @property
    def registry_url(self) -> str:
        return self.cache_prefix.registry_url

    @property
    def repository(self) -> str:
        """The ECR repository, `<prefix>/<path>`, as ECR names it."""
        return self.location.repository

    @property
    def path(self) -> str:
        """The repository below `registry_url`."""
        return self.cache_prefix.path_below(self.entry.ref)

    @property
    def cache_reference(self) -> str:
        """What is warmed: always the tag, since ECR cannot pull an uncached image by digest."""
        ref = self.entry.ref
        return self.cache_prefix.location(ref.with_tag(ref.tag or DEFAULT_TAG)).reference()

    def pinned_reference(self, served: str | None) -> str:
        """The `images` output: the cache reference at the digest the cache served (else the catalogue's pin)."""
        return self.location.reference(served)

    def props(self, prune: bool) -> dict[str, Any]:
        if self.copy is not None:
            return self._copy_props(self.copy, prune)
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

    def _copy_props(self, copy: CopySource, prune: bool) -> dict[str, Any]:
        """A `CopiedImage`'s inputs: plain values only; the source's pin, if any, stays in `source`.
        `token_realm` only when set, so copies without one keep the inputs they were created with."""
        realm = {"token_realm": copy.token_realm} if copy.token_realm else {}
        return {
            "source": str(self.entry.ref),
            "upstream_url": copy.upstream_url,
            "credential_secret": copy.credential_secret,
            "registry_url": self.registry_url,
            "repository": self.path,
            "tag": self.entry.ref.tag,
            "cache_reference": self.cache_reference,
            "platforms": None,  # a copy is every platform: settings refuse `platforms` on one
            "prune": prune,
            **realm,
        }


def check_pin(spec: WarmSpec, served: str | None) -> str | None:
    """The served digest, after checking it against the catalogue's pin (backends other than the provider)."""
    pin = spec.entry.ref.digest
    if pin is not None and served is not None and served != pin:
        raise DigestMismatchError(
            f"{spec.entry.source}:{spec.entry.line}: {spec.entry.ref}: {moved_pin(spec.entry.ref, served)}"
        )
    return served


class WarmedImage(pulumi.CustomResource):
    """A catalogue tag pulled through the cache; `digest` is what the cache served.

    Registered exactly as `pulumi.dynamic.Resource` registers one (type `pulumi-python:dynamic/...`,
    the pickled provider under `__provider`), but with the provider pickled once for every image.
    """

    digest: pulumi.Output[str]
    platforms_warmed: pulumi.Output[list[str]]

    def __init__(self, name: str, props: dict[str, Any], provider: str, opts: pulumi.ResourceOptions) -> None:
        outputs = {"digest": None, "platforms_warmed": None, "media_type": None}
        inputs = {**props, **outputs, PROVIDER_KEY: provider}
        super().__init__(WARMED_IMAGE_TYPE, name, inputs, opts)


def _digest_of(text: str | None) -> str | None:
    found = _DIGEST.findall(text or "")
    return found[-1] if found else None


WarmBackend = Literal["provider", "docker", "command"]


@dataclass(frozen=True)
class CacheWarmingArgs:
    """Plain values: the images, where they are cached, and how `pulumi up` pulls them."""

    specs: Sequence[WarmSpec]
    registry: str
    backend: WarmBackend = "provider"
    prune: bool = False
    pull_command: str | None = None  # the `command` backend's pull
    # The pickled provider (program/warming.py): the `provider` backend's, and every copy's.
    provider: str | None = None


class CacheWarming(pulumi.ComponentResource):
    """Warms every catalogue tag, and copies each copied upstream's (`CopiedImage`, whatever the
    backend); `images` maps each source reference to `cache reference@digest`."""

    images: pulumi.Output[dict[str, str]]
    warmed: list[pulumi.Resource]

    def __init__(
        self,
        name: str,
        args: CacheWarmingArgs,
        *,
        depends_on: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))
        digests: list[pulumi.Output[str | None]] = []
        self.warmed = []
        login, docker_provider = self._backend(args)
        warmed = [spec.entry.ref for spec in args.specs if spec.copy is None]
        names = names_with_aliases(warmed, image_name, legacy_image_name)
        for spec in args.specs:
            resource: pulumi.Resource
            digest: pulumi.Output[str | None]
            if spec.copy is not None:
                resource, digest = self._copied_image(spec, args, child)
            else:
                resource, digest = self._warm(
                    spec, names[spec.entry.ref], args, child, login, docker_provider
                )
            self.warmed.append(resource)
            digests.append(digest)
        self.images = pulumi.Output.all(*digests).apply(
            lambda served: {
                # The provider checks the pin itself (warm and copy alike), failing only that image's create.
                str(spec.entry.ref): spec.pinned_reference(
                    digest if args.backend == "provider" or spec.copy is not None else check_pin(spec, digest)
                )
                for spec, digest in zip(args.specs, served, strict=True)
            }
        )
        self.register_outputs({"images": self.images})

    def _backend(self, args: CacheWarmingArgs) -> tuple[pulumi.Output[Any] | None, docker.Provider | None]:
        """The ECR login the docker and command backends pull with, and the docker backend's provider."""
        if args.backend == "provider":
            return None, None
        login = aws.ecr.get_authorization_token_output(opts=pulumi.InvokeOutputOptions(parent=self))
        if args.backend != "docker":
            return login, None
        provider = docker.Provider(
            "warm-docker",
            registry_auth=[
                docker.ProviderRegistryAuthArgs(
                    address=args.registry,
                    username=login.user_name,
                    password=pulumi.Output.secret(login.password),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        return login, provider

    def _warm(
        self,
        spec: WarmSpec,
        names: tuple[str, list[str]],
        args: CacheWarmingArgs,
        child: pulumi.ResourceOptions,
        login: pulumi.Output[Any] | None,
        docker_provider: docker.Provider | None,
    ) -> tuple[pulumi.Resource, pulumi.Output[str | None]]:
        """One tag pulled through the cache by the backend, named `warm-...`, answering to its older name."""
        name, legacy = names
        opts = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(aliases=[pulumi.Alias(name=f"warm-{old}") for old in legacy])
        )
        logical_name = f"warm-{name}"
        if docker_provider is not None:
            return self._docker(spec, logical_name, docker_provider, opts)
        if login is not None:
            return self._command(spec, logical_name, args, login, opts)
        return self._warmed_image(spec, logical_name, args, opts)

    def _copied_image(
        self, spec: WarmSpec, args: CacheWarmingArgs, opts: pulumi.ResourceOptions
    ) -> tuple[pulumi.Resource, pulumi.Output[str | None]]:
        if args.provider is None:
            raise ValueError(
                "copies need CacheWarmingArgs.provider, the pickled provider, whatever the backend"
            )
        image = CopiedImage(f"copy-{image_name(spec.entry.ref)}", spec.props(args.prune), args.provider, opts)
        return image, image.digest

    def _warmed_image(
        self, spec: WarmSpec, logical_name: str, args: CacheWarmingArgs, opts: pulumi.ResourceOptions
    ) -> tuple[pulumi.Resource, pulumi.Output[str | None]]:
        if args.provider is None:
            raise ValueError("the provider backend needs CacheWarmingArgs.provider, the pickled provider")
        image = WarmedImage(logical_name, spec.props(args.prune), args.provider, opts)
        return image, image.digest

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
        args: CacheWarmingArgs,
        login: pulumi.Output[Any],
        opts: pulumi.ResourceOptions,
    ) -> tuple[pulumi.Resource, pulumi.Output[str | None]]:
        pull = command.local.Command(
            logical_name,
            create=args.pull_command,
            environment={
                "IMAGE": spec.cache_reference,
                "REGISTRY": args.registry,
                "PLATFORMS": ",".join(spec.entry.platforms or ()),
                "REGISTRY_USERNAME": login.user_name,
                "REGISTRY_PASSWORD": pulumi.Output.secret(login.password),
            },
            triggers=[spec.cache_reference, list(spec.entry.platforms or ())],
            logging=command.local.Logging.STDOUT,
            opts=opts,
        )
        return pull, pull.stdout.apply(_digest_of)
