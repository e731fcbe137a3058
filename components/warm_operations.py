"""What the cache-warming dynamic provider does, kept out of the provider class itself.

The provider class is pickled by value into Pulumi's state; this module is imported
when an operation runs, so its code is the checkout's, not a frozen copy. Nothing
here holds a secret: ECR tokens are fetched with the caller's AWS credentials when
needed (`warm.client.ecr_credentials`) and never written to state.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from pulumi.dynamic import CreateResult, DiffResult, ReadResult

from components.errors import DigestMismatchError
from components.model.images import parse_image
from components.warm.auth import is_loopback
from components.warm.client import ECR_HOST, RegistryClient
from components.warm.warmer import Warmer, WarmResult, WarmTarget

REPLACE_ON = ("source", "cache_reference", "registry_url", "platforms")
OUTPUTS = ("digest", "platforms_warmed", "media_type")


def _client(props: dict[str, Any]) -> RegistryClient:
    host = urlsplit(props["registry_url"]).hostname or ""
    return RegistryClient(props["registry_url"], plain_http=is_loopback(host))


def warm_image(props: dict[str, Any]) -> WarmResult:
    target = WarmTarget(
        source=parse_image(props["source"]),
        repository=props["repository"],
        tag=props["tag"],
        platforms=tuple(props["platforms"]) if props.get("platforms") else None,
    )

    async def go() -> WarmResult:
        async with _client(props) as client:
            return await Warmer(client).warm(target)

    result = asyncio.run(go())
    if not result.ok:
        raise RuntimeError(
            f"warming {props['source']} through {props['cache_reference']} failed: {result.error}"
        )
    pin = props.get("pinned_digest")
    if pin and result.digest != pin:
        # Warmed by tag (ECR cannot pull an uncached digest); the pin is checked afterwards.
        raise DigestMismatchError(
            f"{props['source']}: the cache served {result.digest} for tag {props['tag']!r}, not the pinned "
            "digest; the upstream tag moved. Update the pin in images.yaml, or the tag"
        )
    return result


def create(props: dict[str, Any]) -> CreateResult:
    result = warm_image(props)
    outs = {
        **props,
        "digest": result.digest,
        "platforms_warmed": result.platforms,
        "media_type": result.media_type,
    }
    return CreateResult(id_=f"{props['cache_reference']}@{result.digest}", outs=outs)


def diff(olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
    """Replace when what is warmed, or where, changes; `prune` alone changes in place."""
    replaces = [key for key in REPLACE_ON if olds.get(key) != news.get(key)]
    changes = bool(replaces) or olds.get("prune") != news.get("prune")
    return DiffResult(changes=changes, replaces=replaces, delete_before_replace=False)


def update(olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
    return {**news, **{key: olds.get(key) for key in OUTPUTS}}


def read(id_: str, props: dict[str, Any]) -> ReadResult:
    """`pulumi refresh`: an image the lifecycle policy expired drops out of state, so `up` warms it again."""
    digest = props.get("digest")
    if not digest:
        return ReadResult(id_=None, outs={})

    async def served() -> str | None:
        async with _client(props) as client:
            return await client.head_manifest(props["repository"], digest)

    return (
        ReadResult(id_=id_, outs=props) if asyncio.run(served()) == digest else ReadResult(id_=None, outs={})
    )


def delete(props: dict[str, Any]) -> None:
    """Keep cached images by default: deleting a stack must not empty the cache clusters rely on."""
    if not props.get("prune") or not props.get("digest"):
        return
    parts = urlsplit(props["registry_url"])
    match = ECR_HOST.fullmatch(parts.hostname or "")
    if match is not None:
        import boto3

        repository = f"{parts.path.strip('/')}/{props['repository']}".strip("/")
        boto3.client("ecr", region_name=match["region"]).batch_delete_image(
            repositoryName=repository, imageIds=[{"imageDigest": props["digest"]}]
        )
        return

    async def remove() -> None:
        async with _client(props) as client:
            await client.delete_manifest(props["repository"], props["digest"])

    asyncio.run(remove())
